/**
 * The global --log-level's first lines (src/util/log.ts): the level, as
 * podman logs it, the command, and where nook keeps things.
 */
import { log, logEnabled, type LogLevel } from '../util/log';

/** What nook logs as it starts: the level (podman's line), the command, and where it keeps things. */
export function logStartup(levelName: LogLevel, argv: readonly string[]): void {
  log('info', `nook filtering at log level ${levelName}`);
  log('debug', `Called nook with arguments ${JSON.stringify(argv)}`);
  if (logEnabled('debug')) {
    try {
      const { storeRoot } = require('../image/store/store') as typeof import('../image/store/store');
      const { stateRoot } = require('../container/state') as typeof import('../container/state');
      log('debug', `image store ${storeRoot()}, container state ${stateRoot()}`);
    } catch (e) {
      log('debug', `cannot tell where the store is: ${(e as Error).message}`);
    }
  }
  log('trace', `node ${process.version} (${process.execPath}), pid ${process.pid}, uid ${process.getuid?.() ?? -1}`);
}
