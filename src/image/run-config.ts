/**
 * How an image's config and `nook run` flags combine, by docker's rules:
 * - `--entrypoint` replaces the image's Entrypoint and drops its Cmd;
 *   trailing arguments replace Cmd; the command is Entrypoint + Cmd.
 * - Environment: the image's Env, then --env-file, then -e (later wins).
 * - Working directory: -w, else the image's WorkingDir, else /.
 * - User: -u, else the image's User, else root.
 */
import { UsageError } from '../errors';
import type { ContainerConfig } from './config';

export interface RunOverrides {
  /** `--entrypoint`: undefined when not given; "" clears the entrypoint. */
  entrypoint?: string | string[];
  /** Arguments after the image name. */
  args: string[];
  workdir?: string;
  user?: string;
}

export interface ImageRunConfig {
  argv: string[];
  env: string[];
  cwd: string;
  user?: string;
}

export function imageRunConfig(image: ContainerConfig | undefined, o: RunOverrides, imageName: string): ImageRunConfig {
  const cfg = image ?? {};
  const given = o.entrypoint;
  const entrypoint = given !== undefined ? (Array.isArray(given) ? given : given === '' ? [] : [given]) : (cfg.Entrypoint ?? []);
  const cmd = o.args.length ? o.args : o.entrypoint !== undefined ? [] : (cfg.Cmd ?? []);
  const argv = [...entrypoint, ...cmd];
  if (!argv.length)
    throw new UsageError(`no command specified: ${imageName} has neither an Entrypoint nor a Cmd`, `give one: nook run ${imageName} sh -c "..."`);
  return {
    argv,
    env: cfg.Env ?? [],
    cwd: o.workdir ?? (cfg.WorkingDir || '/'),
    user: o.user ?? (cfg.User || undefined),
  };
}
