/**
 * A user's defaults for `nook run` flags: $XDG_CONFIG_HOME/nook/nook.json,
 * e.g. {"network": "pasta"} makes the private network their default (the
 * built-in default stays none: a sandbox is closed unless asked). A flag on
 * the command line wins.
 */
import fs = require('node:fs');
import path = require('node:path');
import { NookError } from '../errors';
import { nookConfigDir } from '../image/registry/config';

export interface RunDefaults {
  network?: string;
}

export function runDefaultsPath(): string {
  return path.join(nookConfigDir(), 'nook.json');
}

/** The file's settings; none when it does not exist. */
export function runDefaults(file = runDefaultsPath()): RunDefaults {
  // No exception for the usual case, a missing file (a thrown ENOENT costs start-up time).
  if (!fs.statSync(file, { throwIfNoEntry: false })) return {};
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new NookError(`cannot read ${file}: ${(e as Error).message}`, { hint: 'fix or remove it; e.g. {"network": "pasta"}', cause: e });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new NookError(`${file} is not a JSON object`, { hint: 'e.g. {"network": "pasta"}' });
  const network = (v as Record<string, unknown>).network;
  if (network !== undefined && typeof network !== 'string') throw new NookError(`${file}: "network" is not a string`, { hint: 'e.g. {"network": "pasta"}' });
  return { network };
}
