/**
 * nook's log, for the global --log-level (docker's and podman's flag) and
 * -D/--debug: lines on stderr in logrus's text format, as docker and podman
 * write theirs (time="..." level=debug msg="..."). Nothing is logged at the
 * default level (warn): nook's warnings and errors have their own output.
 * Loaded only when one of those flags is given.
 */
import fs = require('node:fs');

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'warning', 'error', 'fatal', 'panic'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Severity: a lower number is more verbose ("warning" is "warn"). */
const RANK: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, warning: 3, error: 4, fatal: 5, panic: 6 };

let threshold = RANK.warn;

export function isLogLevel(name: string): name is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(name);
}

export function setLogLevel(name: LogLevel): void {
  threshold = RANK[name];
}

export function logEnabled(level: LogLevel): boolean {
  return RANK[level] >= threshold;
}

/** One logrus text line: the message quoted as Go's %q would. */
export function formatLogLine(level: LogLevel, msg: string, now = new Date()): string {
  return `time="${now.toISOString()}" level=${level === 'warning' ? 'warn' : level} msg=${JSON.stringify(msg)}\n`;
}

export function log(level: LogLevel, msg: string): void {
  if (!logEnabled(level)) return;
  try {
    fs.writeSync(2, formatLogLine(level, msg));
  } catch {
    /* stderr closed */
  }
}
