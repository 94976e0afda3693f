/**
 * Whether this host lets this user have a private network: pasta installed,
 * and /dev/net/tun openable (0600 on hosts without udev's rule, where pasta
 * and slirp4netns cannot create the container's device). Asked only when -p
 * is given with no mode (nook's 'auto'), so plain runs never pay for it.
 */
import fs = require('node:fs');
import { NookError } from '../../errors';
import { findExecutable } from '../../util/which';

export function canOpenTun(): boolean {
  try {
    fs.closeSync(fs.openSync('/dev/net/tun', fs.constants.O_RDWR));
    return true;
  } catch {
    return false;
  }
}

export function privateNetworkAvailable(): boolean {
  return findExecutable('pasta') !== null && canOpenTun();
}

/** /dev/net/tun cannot be opened: say its mode and what fixes it. */
export function tunError(helper: string): NookError {
  let mode = '';
  try {
    mode = `is mode ${(fs.statSync('/dev/net/tun').mode & 0o777).toString(8).padStart(4, '0')}`;
  } catch {
    mode = 'is missing';
  }
  return new NookError(`${helper} cannot open /dev/net/tun: it ${mode}, so only root can create the container's network device`, {
    hint: 'ask the admin for the udev rule that makes it 0666 (KERNEL=="tun", MODE="0666", as desktops have), or use --network host (-p alone, without --network, falls back to nook\'s own port proxy)',
  });
}
