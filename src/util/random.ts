import fs = require('node:fs');

/**
 * Random hex from /dev/urandom. node:crypto would do, but loading it costs
 * about 4 ms of start-up, a quarter of nook's budget for `nook run`.
 */
export function randomHex(bytes: number): string {
  const buf = Buffer.alloc(bytes);
  const fd = fs.openSync('/dev/urandom', 'r');
  try {
    fs.readSync(fd, buf);
  } finally {
    fs.closeSync(fd);
  }
  return buf.toString('hex');
}
