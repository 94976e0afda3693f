/**
 * The Dockerfile parser: text → typed instructions (instructions.ts), with
 * Docker's rules for parser directives, comments, line continuations,
 * heredocs, flags and exec (JSON) forms. The line handling follows BuildKit's
 * frontend/dockerfile/parser (Parse, processLine, trimContinuationCharacter),
 * the per-instruction rules its instructions/parse.go. Errors name the file
 * and line: `Dockerfile:7: unknown instruction COPPY`.
 */
import { NookError } from '../../errors';
import { parseChmod } from '../chmod';
import { FlagProblem, Flags, parseGoDuration, parseMount } from './flags';
import { heredocMarker, heredocMarkers, type HeredocMarker } from './heredoc';
import {
  INSTRUCTION_KINDS,
  type CommandForm,
  type Heredoc,
  type Instruction,
  type InstructionBody,
  type KeyValue,
  type ParsedDockerfile,
  type Source,
} from './instructions';
import { closestWord } from './suggest';
import { extractFlags, parseJsonForm, splitWhitespace, splitWordsKeepingQuotes } from './words';

const DIRECTIVE = /^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$/;
const KNOWN_DIRECTIVES = ['syntax', 'escape', 'check'];
const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

/** A problem in one instruction; parse() turns it into a NookError naming the file and line. */
class LineProblem extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

const isComment = (line: string) => /^[ \t\v\f\r]*#/.test(line);

export interface ParseOptions {
  /** Name used in messages (default `Dockerfile`). */
  file?: string;
}

export function parseDockerfile(text: string, opts: ParseOptions = {}): ParsedDockerfile {
  const file = opts.file ?? 'Dockerfile';
  const fail = (line: number, message: string, hint?: string): never => {
    throw new NookError(`${file}:${line}: ${message}`, { hint: hint ?? 'see the Dockerfile reference: https://docs.docker.com/reference/dockerfile/' });
  };
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) if (lines[i].endsWith('\r')) lines[i] = lines[i].slice(0, -1);

  const warnings: string[] = [];
  const warn = (line: number, message: string) => {
    const w = `${file}:${line}: ${message}`;
    if (!warnings.includes(w)) warnings.push(w);
  };

  // Parser directives: only at the very top; the first line that is not one ends them.
  const directives: Record<string, string> = {};
  let escape: '\\' | '`' = '\\';
  for (let i = 0; i < lines.length; i++) {
    const m = DIRECTIVE.exec(lines[i].replace(/^[ \t]+/, ''));
    if (!m || !KNOWN_DIRECTIVES.includes(m[1].toLowerCase())) break;
    const name = m[1].toLowerCase();
    if (name in directives) fail(i + 1, `only one ${name} parser directive can be used`);
    directives[name] = m[2];
    if (name === 'escape') {
      if (m[2] !== '\\' && m[2] !== '`') fail(i + 1, `invalid escape character ${JSON.stringify(m[2])}`, 'the escape directive takes \\ or `');
      escape = m[2] as '\\' | '`';
    } else if (name === 'syntax') {
      warn(i + 1, `the syntax directive (${m[2]}) is ignored: nook parses Dockerfiles itself, with the stable syntax (heredocs included)`);
    } else if (name === 'check') {
      warn(i + 1, `the check directive (${m[2]}) is ignored: nook does not run BuildKit's lint checks`);
    }
  }
  const instructions = parseLines(lines, escape, fail, warn);

  const firstReal = instructions[0];
  if (!firstReal) fail(1, 'the Dockerfile has no instructions', 'a Dockerfile starts with FROM IMAGE');
  const firstNonArg = instructions.find((ins) => ins.kind !== 'ARG');
  if (firstNonArg && firstNonArg.kind !== 'FROM')
    fail(firstNonArg.source.line, `the first instruction must be FROM or ARG, not ${firstNonArg.kind}`, 'start the Dockerfile with FROM IMAGE (ARGs used in FROM may come before it)');
  if (!firstNonArg) fail(firstReal.source.line, 'the Dockerfile has no FROM instruction', 'add FROM IMAGE after the ARGs');
  return { file, escape, directives, instructions, warnings };
}

/**
 * The instruction lines of a Dockerfile (after its directives) → instructions:
 * comments, continuations (comment and empty continuation lines skipped,
 * the empty ones warned about, as docker does) and heredoc bodies.
 */
function parseLines(
  lines: string[],
  escape: string,
  fail: (line: number, message: string, hint?: string) => never,
  warn: (line: number, message: string) => void,
): Instruction[] {
  // The escape character last on a line (blanks after it allowed) continues the line, unless an escape precedes it (BuildKit's rule).
  const e = escape === '\\' ? '\\\\' : '`';
  const continuation = new RegExp(`(^|[^${e}])${e}[ \\t]*$`);
  /** Removes a trailing continuation (escape + blanks); says whether the line ends here. */
  const trimContinuation = (line: string): [string, boolean] => {
    const m = continuation.exec(line);
    return m ? [line.slice(0, m.index) + m[1], false] : [line, true];
  };

  const instructions: Instruction[] = [];
  let i = 0;
  while (i < lines.length) {
    const startLine = i + 1;
    let first = lines[i++].replace(/^[ \t\v\f\r]+/, '');
    if (isComment(first)) first = '';
    let [line, ended] = trimContinuation(first);
    if (ended && line.trim() === '') continue;
    let emptyContinuation = false;
    while (!ended && i < lines.length) {
      const raw = lines[i++];
      if (isComment(raw)) continue; // comment lines inside a continuation are dropped, as docker does
      if (raw.trim() === '') {
        emptyContinuation = true;
        continue;
      }
      let part: string;
      [part, ended] = trimContinuation(raw);
      line += part;
    }
    if (line.trim() === '') continue;
    if (emptyContinuation)
      warn(startLine, 'empty continuation line (an empty line inside a \\-continued instruction; docker warns, future versions may refuse it)');

    let body: InstructionBody;
    let source: Source;
    try {
      const heredocs: Heredoc[] = [];
      for (const marker of heredocsOpened(line, escape)) {
        let content = '';
        let terminated = false;
        while (i < lines.length) {
          const raw = lines[i++];
          const candidate = marker.chomp ? raw.replace(/^\t+/, '') : raw;
          if (candidate === marker.name) {
            terminated = true;
            break;
          }
          content += raw + '\n';
        }
        if (!terminated) throw new LineProblem(`unterminated heredoc <<${marker.name}`, `end the heredoc with a line holding only ${marker.name}`);
        heredocs.push({ name: marker.name, content, chomp: marker.chomp, expand: marker.expand, fd: marker.fd });
      }
      source = { line: startLine, endLine: i, text: line.trim() };
      body = parseInstruction(line, escape, heredocs, (m) => warn(startLine, m));
    } catch (e) {
      if (e instanceof LineProblem) fail(startLine, e.message, e.hint);
      if (e instanceof FlagProblem) fail(startLine, e.message);
      throw e;
    }
    instructions.push(attachSource(body, source));
  }
  return instructions;
}

/** The heredocs an instruction line opens: RUN, COPY and ADD in shell form, also as an ONBUILD trigger (as BuildKit). */
function heredocsOpened(line: string, escape: string): HeredocMarker[] {
  let rest = line.trim();
  let keyword = rest.split(/\s+/, 1)[0];
  if (/^ONBUILD$/i.test(keyword)) {
    rest = rest.slice(keyword.length).trim();
    keyword = rest.split(/\s+/, 1)[0];
  }
  if (!/^(RUN|COPY|ADD)$/i.test(keyword)) return [];
  const args = extractFlags(rest.slice(keyword.length), escape).rest;
  return parseJsonForm(args) === undefined ? heredocMarkers(args) : [];
}

function attachSource(body: InstructionBody, source: Source): Instruction {
  if (body.kind === 'ONBUILD') return { ...body, trigger: attachSource(body.trigger, source), source } as Instruction;
  return { ...body, source } as Instruction;
}

/** One logical line (continuations joined) → its instruction. */
function parseInstruction(line: string, escape: string, heredocs: Heredoc[], warn: (m: string) => void): InstructionBody {
  const trimmed = line.trim();
  const keyword = trimmed.split(/\s+/, 1)[0];
  const kind = keyword.toUpperCase();
  if (!(INSTRUCTION_KINDS as readonly string[]).includes(kind)) {
    const near = closestWord(kind, INSTRUCTION_KINDS);
    throw new LineProblem(
      `unknown instruction ${keyword}`,
      near ? `did you mean ${near}?` : `instructions are ${INSTRUCTION_KINDS.join(', ')}`,
    );
  }
  const afterKeyword = trimmed.slice(keyword.length);
  // ONBUILD takes the rest of the line verbatim: the trigger's flags are its own.
  if (kind === 'ONBUILD') return parseOnbuild(afterKeyword, escape, heredocs, warn);
  const { flags: flagWords, rest: restRaw } = extractFlags(afterKeyword, escape);
  const rest = restRaw.trim();
  const flags = (accepted: Record<string, 'string' | 'bool' | 'list'> = {}) => new Flags(kind, flagWords, accepted);

  switch (kind) {
    case 'FROM': {
      const f = flags({ platform: 'string' });
      const args = splitWhitespace(rest);
      if (args.length === 0) throw new LineProblem('FROM needs an image', 'FROM IMAGE [AS NAME]');
      if (args.length === 2 || args.length > 3 || (args.length === 3 && args[1].toLowerCase() !== 'as'))
        throw new LineProblem('FROM takes an image and optionally AS NAME', 'FROM IMAGE [AS NAME]');
      let stageName: string | undefined;
      if (args.length === 3) {
        stageName = args[2].toLowerCase();
        if (!STAGE_NAME.test(stageName))
          throw new LineProblem(`invalid stage name ${JSON.stringify(args[2])}`, 'a stage name starts with a letter and holds letters, digits, -, _ and .');
      }
      return { kind, image: args[0], stageName, platform: f.string('platform') };
    }
    case 'RUN': {
      const f = flags({ mount: 'list', network: 'string', security: 'string' });
      const network = f.string('network');
      if (network !== undefined && !['default', 'none', 'host'].includes(network))
        throw new LineProblem(`RUN --network=${network} is not default, none or host`);
      const security = f.string('security');
      if (security !== undefined && !['sandbox', 'insecure'].includes(security))
        throw new LineProblem(`RUN --security=${security} is not sandbox or insecure`);
      const command = commandForm('RUN', rest);
      if (command.form === 'shell' && command.command === '') throw new LineProblem('RUN needs a command', 'RUN COMMAND or RUN ["executable", "arg"]');
      return {
        kind,
        command,
        heredocs,
        mounts: f.list('mount').map((spec) => parseMount(spec)),
        mountSpecs: f.list('mount'),
        network: network as 'default' | 'none' | 'host' | undefined,
        security: security as 'sandbox' | 'insecure' | undefined,
      };
    }
    case 'COPY':
    case 'ADD': {
      const f =
        kind === 'COPY'
          ? flags({ from: 'string', chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'list' })
          : flags({ chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'list', checksum: 'string', 'keep-git-dir': 'bool', unpack: 'bool' });
      const json = parseJsonForm(rest);
      if (json && !Array.isArray(json)) throw new LineProblem(`${kind}: ${json.error}`);
      const args = json ?? splitWhitespace(rest);
      if (args.length < 2)
        throw new LineProblem(`${kind} needs at least one source and a destination`, `${kind} SOURCE... DEST`);
      const dest = args[args.length - 1];
      if (!json && heredocMarker(dest)) throw new LineProblem(`${kind}: a heredoc cannot be the destination`);
      const sources: string[] = [];
      const heredocSources: Heredoc[] = [];
      for (const src of args.slice(0, -1)) {
        const marker = json ? undefined : heredocMarker(src);
        const doc = marker && heredocs.find((h) => h.name === marker.name);
        if (doc) heredocSources.push(doc);
        else sources.push(src);
      }
      const chmod = f.string('chmod');
      const chmodProblem = chmod === undefined || chmod.includes('$') ? undefined : parseChmod(chmod);
      if (chmodProblem && 'error' in chmodProblem) throw new LineProblem(`${kind} --chmod: ${chmodProblem.error}`, 'use --chmod=755, --chmod=0644 or a symbolic mode such as --chmod=u+x');
      const unpack = kind === 'ADD' && f.list('unpack').length > 0 ? f.bool('unpack') : undefined;
      return {
        kind,
        sources,
        heredocSources,
        dest,
        json: json !== undefined,
        from: kind === 'COPY' ? f.string('from') : undefined,
        chown: f.string('chown'),
        chmod,
        link: f.bool('link'),
        parents: f.bool('parents'),
        exclude: f.list('exclude'),
        ...(kind === 'ADD' ? { checksum: f.string('checksum'), keepGitDir: f.bool('keep-git-dir'), unpack } : {}),
      };
    }
    case 'ENV':
    case 'LABEL': {
      flags();
      return { kind, pairs: keyValues(kind, rest, escape) };
    }
    case 'ARG': {
      flags();
      const words = splitWordsKeepingQuotes(rest, escape);
      if (words.length === 0) throw new LineProblem('ARG needs a name', 'ARG NAME or ARG NAME=DEFAULT');
      return {
        kind,
        args: words.map((w) => {
          const eq = w.indexOf('=');
          const name = eq < 0 ? w : w.slice(0, eq);
          if (name === '') throw new LineProblem(`ARG needs a name before = in ${JSON.stringify(w)}`);
          return eq < 0 ? { name } : { name, default: w.slice(eq + 1) };
        }),
      };
    }
    case 'WORKDIR':
    case 'USER':
    case 'STOPSIGNAL':
    case 'MAINTAINER': {
      flags();
      const what = { WORKDIR: 'a path', USER: 'a user', STOPSIGNAL: 'a signal', MAINTAINER: 'a name' }[kind];
      if (rest === '') throw new LineProblem(`${kind} needs ${what}`);
      if (kind === 'WORKDIR') return { kind, path: rest };
      if (kind === 'USER') return { kind, user: rest };
      if (kind === 'STOPSIGNAL') return { kind, signal: rest };
      warn('MAINTAINER is deprecated; it sets the image author (use LABEL org.opencontainers.image.authors=... instead)');
      return { kind: 'MAINTAINER', author: rest };
    }
    case 'CMD':
    case 'ENTRYPOINT': {
      flags();
      const command = commandForm(kind, rest);
      if (command.form === 'shell' && command.command === '') throw new LineProblem(`${kind} needs a command`, `${kind} ["executable", "arg"] or ${kind} command`);
      return { kind, command };
    }
    case 'EXPOSE': {
      flags();
      const ports = splitWhitespace(rest);
      if (ports.length === 0) throw new LineProblem('EXPOSE needs a port', 'EXPOSE 80 or EXPOSE 80/tcp 53/udp');
      return { kind, ports };
    }
    case 'VOLUME': {
      flags();
      const json = parseJsonForm(rest);
      if (json && !Array.isArray(json)) throw new LineProblem(`VOLUME: ${json.error}`);
      const paths = json ?? splitWhitespace(rest);
      if (paths.length === 0) throw new LineProblem('VOLUME needs a path', 'VOLUME /data or VOLUME ["/data"]');
      if (paths.some((p) => p.trim() === '')) throw new LineProblem('VOLUME paths cannot be empty');
      return { kind, paths };
    }
    case 'SHELL': {
      flags();
      const json = parseJsonForm(rest);
      if (json && !Array.isArray(json)) throw new LineProblem(`SHELL: ${json.error}`);
      if (!json) throw new LineProblem('SHELL needs the JSON form', 'SHELL ["/bin/bash", "-c"]');
      if (json.length === 0) throw new LineProblem('SHELL needs at least the shell executable', 'SHELL ["/bin/bash", "-c"]');
      return { kind, shell: json };
    }
    case 'HEALTHCHECK':
      return parseHealthcheck(rest, flagWords);
  }
  throw new LineProblem(`unknown instruction ${keyword}`);
}

/** JSON array → exec form; anything else → shell form (docker's parseMaybeJSON). */
function commandForm(kind: string, rest: string): CommandForm {
  const json = parseJsonForm(rest);
  if (json === undefined) return { form: 'shell', command: rest };
  if (!Array.isArray(json)) throw new LineProblem(`${kind}: ${json.error}`);
  return { form: 'exec', argv: json };
}

/** ENV and LABEL: `K=V K2="a b"`, or the legacy `K the rest is the value`. */
function keyValues(kind: 'ENV' | 'LABEL', rest: string, escape: string): KeyValue[] {
  const words = splitWordsKeepingQuotes(rest, escape);
  const usage = `${kind} NAME=VALUE [NAME=VALUE...]`;
  if (words.length === 0) throw new LineProblem(`${kind} needs a name`, usage);
  if (!words[0].includes('=')) {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(rest);
    if (!m) throw new LineProblem(`${kind} ${words[0]} needs a value`, usage);
    return [{ key: m[1], value: m[2] }];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) throw new LineProblem(`${kind}: ${JSON.stringify(w)} has no =`, usage);
    if (eq === 0) throw new LineProblem(`${kind} needs a name before = in ${JSON.stringify(w)}`, usage);
    return { key: w.slice(0, eq), value: w.slice(eq + 1) };
  });
}

function parseHealthcheck(rest: string, flagWords: string[]): InstructionBody {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(rest);
  if (!m) throw new LineProblem('HEALTHCHECK needs NONE or CMD', 'HEALTHCHECK [--interval=30s ...] CMD command, or HEALTHCHECK NONE');
  const type = m[1].toUpperCase();
  if (type === 'NONE') {
    if (m[2].trim() !== '') throw new LineProblem('HEALTHCHECK NONE takes no arguments');
    new Flags('HEALTHCHECK NONE', flagWords, {});
    return { kind: 'HEALTHCHECK', health: { Test: ['NONE'] } };
  }
  const f = new Flags('HEALTHCHECK', flagWords, {
    interval: 'string',
    timeout: 'string',
    'start-period': 'string',
    'start-interval': 'string',
    retries: 'string',
  });
  if (type !== 'CMD') throw new LineProblem(`HEALTHCHECK ${m[1]}: unknown type (use CMD or NONE)`);
  const command = commandForm('HEALTHCHECK CMD', m[2]);
  const test =
    command.form === 'exec' ? ['CMD', ...command.argv] : command.command.trim() === '' ? [] : ['CMD-SHELL', command.command.trim()];
  if (test.length <= 1) throw new LineProblem('HEALTHCHECK CMD needs a command');
  const duration = (name: string): number | undefined => {
    const v = f.string(name);
    if (v === undefined) return undefined;
    let ns: number;
    try {
      ns = parseGoDuration(v);
    } catch (e) {
      throw new LineProblem(`HEALTHCHECK --${name}: ${(e as Error).message}`);
    }
    if (ns !== 0 && ns < 1e6) throw new LineProblem(`HEALTHCHECK --${name}=${v} cannot be less than 1ms`);
    return ns;
  };
  const retriesText = f.string('retries');
  if (retriesText !== undefined && !/^-?\d+$/.test(retriesText)) throw new LineProblem(`HEALTHCHECK --retries=${retriesText} is not a number`);
  const retries = retriesText === undefined ? undefined : Number(retriesText);
  if (retries !== undefined && retries < 0) throw new LineProblem(`HEALTHCHECK --retries cannot be negative (${retries})`);
  const health = {
    Test: test,
    Interval: duration('interval'),
    Timeout: duration('timeout'),
    StartPeriod: duration('start-period'),
    StartInterval: duration('start-interval'),
    Retries: retries,
  };
  for (const k of Object.keys(health) as (keyof typeof health)[]) if (health[k] === undefined) delete health[k];
  return { kind: 'HEALTHCHECK', health };
}

function parseOnbuild(rest: string, escape: string, heredocs: Heredoc[], warn: (m: string) => void): InstructionBody {
  const line = rest.trim();
  if (line === '') throw new LineProblem('ONBUILD needs an instruction', 'ONBUILD RUN command');
  const inner = line.split(/\s+/, 1)[0].toUpperCase();
  if (inner === 'ONBUILD') throw new LineProblem('ONBUILD ONBUILD is not allowed (triggers do not chain)');
  if (inner === 'FROM' || inner === 'MAINTAINER') throw new LineProblem(`${inner} is not allowed as an ONBUILD trigger`);
  const trigger = parseInstruction(line, escape, heredocs, warn);
  // What the image config stores: the trigger line, then its heredoc bodies as written, as BuildKit stores it.
  const expression = line + heredocs.map((h) => `\n${h.content}${h.name}`).join('');
  return { kind: 'ONBUILD', expression, trigger: trigger as Instruction };
}

/**
 * Parses the OnBuild triggers of a base image (image config `OnBuild`), as
 * docker runs them right after FROM. Each is one instruction line; the same
 * rules apply as for ONBUILD (no FROM, MAINTAINER or ONBUILD).
 */
export function parseOnbuildTriggers(triggers: string[], baseImage: string): Instruction[] {
  return triggers.map((expression, i) => {
    const what = `ONBUILD trigger ${i + 1} of ${baseImage} (${JSON.stringify(expression)})`;
    const fail = (_line: number, message: string): never => {
      throw new NookError(`${what}: ${message}`, {
        hint: 'the base image carries a trigger nook cannot run; build from a different base or rebuild the base without it',
      });
    };
    const inner = expression.trim().split(/\s+/, 1)[0].toUpperCase();
    if (inner === 'ONBUILD' || inner === 'FROM' || inner === 'MAINTAINER') fail(0, `${inner} is not allowed as an ONBUILD trigger`);
    const parsed = parseLines(expression.split('\n'), '\\', fail, () => {});
    if (parsed.length !== 1) fail(0, `it holds ${parsed.length} instructions, not one`);
    const ins = parsed[0];
    return { ...ins, source: { line: 0, endLine: 0, text: ins.source.text } } as Instruction;
  });
}
