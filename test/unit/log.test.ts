import { afterEach, describe, expect, it } from 'vitest';
import { formatLogLine, isLogLevel, logEnabled, setLogLevel } from '../../src/util/log';

describe('the --log-level log', () => {
  afterEach(() => setLogLevel('warn'));

  it('knows logrus\'s levels, "warning" as "warn"', () => {
    for (const l of ['trace', 'debug', 'info', 'warn', 'warning', 'error', 'fatal', 'panic']) expect(isLogLevel(l)).toBe(true);
    expect(isLogLevel('telepathic')).toBe(false);
    expect(isLogLevel('DEBUG')).toBe(false);
  });

  it('lets through the level set and the more severe ones', () => {
    expect(logEnabled('info')).toBe(false); // default: warn
    expect(logEnabled('warn')).toBe(true);
    setLogLevel('debug');
    expect([logEnabled('trace'), logEnabled('debug'), logEnabled('info'), logEnabled('error')]).toEqual([false, true, true, true]);
    setLogLevel('warning');
    expect([logEnabled('info'), logEnabled('warn')]).toEqual([false, true]);
  });

  it("writes logrus's text format, the message quoted", () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    expect(formatLogLine('debug', 'say "hi"\n', at)).toBe('time="2026-01-02T03:04:05.678Z" level=debug msg="say \\"hi\\"\\n"\n');
    expect(formatLogLine('warning', 'x', at)).toBe('time="2026-01-02T03:04:05.678Z" level=warn msg="x"\n');
  });
});
