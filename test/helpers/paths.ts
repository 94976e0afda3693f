import * as path from 'node:path';

export const REPO = path.resolve(__dirname, '../..');

/** The executable under test; NOOK_BIN overrides build/nook. */
export const NOOK = process.env.NOOK_BIN ? path.resolve(process.env.NOOK_BIN) : path.join(REPO, 'build/nook');
