/**
 * The runtime's log (runc's --log and --log-format): containerd's shim reads
 * the last "error" line of a JSON log to say why a command failed; conmon and
 * podman read stderr. Errors go to both; warnings to the log, or stderr
 * without one.
 */
import fs = require('node:fs');

export type LogFormat = 'text' | 'json';

export class OciLog {
  constructor(
    private readonly file: string | undefined,
    private readonly format: LogFormat,
  ) {}

  private line(level: string, msg: string): string {
    const time = new Date().toISOString();
    if (this.format === 'json') return `${JSON.stringify({ level, msg, time })}\n`;
    return `time="${time}" level=${level} msg=${JSON.stringify(msg)}\n`;
  }

  private append(text: string): boolean {
    if (!this.file) return false;
    try {
      fs.appendFileSync(this.file, text);
      return true;
    } catch {
      return false;
    }
  }

  warn(msg: string): void {
    if (!this.append(this.line('warning', msg))) writeStderr(`warning: ${msg}\n`);
  }

  error(msg: string, hint?: string): void {
    this.append(this.line('error', msg));
    writeStderr(`${msg}\n${hint ? `  hint: ${hint}\n` : ''}`);
  }
}

function writeStderr(text: string): void {
  try {
    fs.writeSync(2, text);
  } catch {
    /* stderr closed */
  }
}
