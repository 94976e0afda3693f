/**
 * The parsed form of a Dockerfile: one typed object per instruction, as
 * Docker's Dockerfile reference defines them. Values are as written (no
 * variable substitution yet: that depends on build args and the stage's
 * environment, see src/build/substitute.ts and src/build/stages.ts).
 */

/** Where an instruction came from, for error messages, the cache key and history's created_by. */
export interface Source {
  /** 1-based line of the keyword. */
  line: number;
  /** Last line of the instruction, heredoc bodies included. */
  endLine: number;
  /** The instruction as one line: continuations joined (escape + newline removed), heredoc bodies not included. */
  text: string;
}

/** A here-document attached to RUN, COPY or ADD (`<<EOF`, `<<-EOF`, `<<"EOF"`). */
export interface Heredoc {
  /** The delimiter word with quotes removed (also the file name for COPY <<NAME). */
  name: string;
  /** The body as written, every line ending in \n (tabs not yet stripped for `<<-`: see heredocBody). */
  content: string;
  /** `<<-`: leading tabs are stripped from the body lines. */
  chomp: boolean;
  /** False when the delimiter was quoted (`<<"EOF"`, `<<'EOF'`): no variable expansion in the body. */
  expand: boolean;
  /** `3<<EOF` (file descriptor prefix), 0 when absent. */
  fd: number;
}

/** A command in shell form (a string for the stage's SHELL) or exec form (a JSON array). */
export type CommandForm = { form: 'shell'; command: string } | { form: 'exec'; argv: string[] };

export interface KeyValue {
  key: string;
  value: string;
}

export type Mount =
  | { type: 'bind'; target: string; source?: string; from?: string; readwrite: boolean }
  | {
      type: 'cache';
      target: string;
      id?: string;
      sharing: 'shared' | 'private' | 'locked';
      from?: string;
      source?: string;
      readonly: boolean;
      mode?: number;
      uid?: number;
      gid?: number;
    }
  | { type: 'tmpfs'; target: string; size?: number }
  | { type: 'secret'; id?: string; target?: string; env?: string; required: boolean; mode?: number; uid?: number; gid?: number }
  | { type: 'ssh'; id?: string; target?: string; required: boolean; mode?: number; uid?: number; gid?: number };

export interface FromInstruction {
  kind: 'FROM';
  image: string;
  /** `AS name`, lower-cased as docker does (stage names are case-insensitive). */
  stageName?: string;
  platform?: string;
}

export interface RunInstruction {
  kind: 'RUN';
  command: CommandForm;
  heredocs: Heredoc[];
  /** `--mount` values as parsed at parse time (variables not yet substituted: see config-step expandMounts). */
  mounts: Mount[];
  /** The `--mount` values as written, for expandMounts. */
  mountSpecs: string[];
  network?: 'default' | 'none' | 'host';
  security?: 'sandbox' | 'insecure';
}

/** COPY and ADD share their shape; ADD adds URLs, tar extraction and checksums. */
export interface CopyInstruction {
  kind: 'COPY' | 'ADD';
  /** Sources that are paths (or URLs for ADD), as written. */
  sources: string[];
  /** Sources given as heredocs (`COPY <<EOF /dest`): file name and content. */
  heredocSources: Heredoc[];
  dest: string;
  /** JSON form was used (`COPY ["a b", "/dst/"]`). */
  json: boolean;
  from?: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
  /** ADD only. */
  checksum?: string;
  keepGitDir?: boolean;
  unpack?: boolean;
}

export interface EnvInstruction {
  kind: 'ENV';
  pairs: KeyValue[];
}

export interface LabelInstruction {
  kind: 'LABEL';
  pairs: KeyValue[];
}

export interface ArgInstruction {
  kind: 'ARG';
  args: { name: string; default?: string }[];
}

export interface WorkdirInstruction {
  kind: 'WORKDIR';
  path: string;
}

export interface UserInstruction {
  kind: 'USER';
  user: string;
}

export interface CmdInstruction {
  kind: 'CMD' | 'ENTRYPOINT';
  command: CommandForm;
}

export interface ExposeInstruction {
  kind: 'EXPOSE';
  /** Words as written (`80`, `80/tcp`, `$PORT`): substituted, then checked by config-step. */
  ports: string[];
}

export interface VolumeInstruction {
  kind: 'VOLUME';
  paths: string[];
}

export interface ShellInstruction {
  kind: 'SHELL';
  shell: string[];
}

export interface StopSignalInstruction {
  kind: 'STOPSIGNAL';
  signal: string;
}

/** Docker's HealthConfig (durations in nanoseconds, 0 = inherit the default). */
export interface HealthConfig {
  Test: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

export interface HealthcheckInstruction {
  kind: 'HEALTHCHECK';
  health: HealthConfig;
}

export interface OnbuildInstruction {
  kind: 'ONBUILD';
  /** The trigger as written after ONBUILD (what the image config's OnBuild list stores). */
  expression: string;
  /** The trigger, parsed (so errors show at build time of this Dockerfile). */
  trigger: Instruction;
}

export interface MaintainerInstruction {
  kind: 'MAINTAINER';
  author: string;
}

export type InstructionBody =
  | FromInstruction
  | RunInstruction
  | CopyInstruction
  | EnvInstruction
  | LabelInstruction
  | ArgInstruction
  | WorkdirInstruction
  | UserInstruction
  | CmdInstruction
  | ExposeInstruction
  | VolumeInstruction
  | ShellInstruction
  | StopSignalInstruction
  | HealthcheckInstruction
  | OnbuildInstruction
  | MaintainerInstruction;

export type Instruction = InstructionBody & { source: Source };

export type InstructionKind = Instruction['kind'];

export const INSTRUCTION_KINDS: readonly InstructionKind[] = [
  'FROM',
  'RUN',
  'COPY',
  'ADD',
  'ENV',
  'LABEL',
  'ARG',
  'WORKDIR',
  'USER',
  'CMD',
  'ENTRYPOINT',
  'EXPOSE',
  'VOLUME',
  'SHELL',
  'STOPSIGNAL',
  'HEALTHCHECK',
  'ONBUILD',
  'MAINTAINER',
];

export interface ParsedDockerfile {
  /** The file name used in messages (`Dockerfile`, `build/Dockerfile.dev`, `-` for stdin). */
  file: string;
  /** The escape character (`\` unless `# escape=`` ` ``). */
  escape: '\\' | '`';
  /** Parser directives found at the top (`syntax`, `escape`, `check`), lower-case names. */
  directives: Record<string, string>;
  instructions: Instruction[];
  /** Things accepted but ignored or deprecated, each said once, as `Dockerfile:3: ...`. */
  warnings: string[];
}
