import { NookError } from '../errors';
export async function execCommand(..._a: unknown[]): Promise<number> {
  throw new NookError('exec: not yet', { exitCode: 1 });
}
