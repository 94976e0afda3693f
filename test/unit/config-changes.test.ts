/**
 * `nook commit -c`: the instructions applied to an image's container config.
 */
import { describe, expect, it } from 'vitest';
import { applyConfigChange } from '../../src/image/config-changes';
import type { ContainerConfig } from '../../src/image/config';

const apply = (config: ContainerConfig, ...changes: string[]) => changes.reduce(applyConfigChange, config);

describe('applyConfigChange', () => {
  it('sets CMD and ENTRYPOINT in JSON form, and shell form through /bin/sh -c', () => {
    expect(apply({}, 'CMD ["echo", "a b"]').Cmd).toEqual(['echo', 'a b']);
    expect(apply({}, 'CMD echo "$HOME"').Cmd).toEqual(['/bin/sh', '-c', 'echo "$HOME"']);
    expect(apply({}, 'entrypoint ["/entry.sh"]').Entrypoint).toEqual(['/entry.sh']);
    // Not a JSON list of strings: shell form, as docker falls back.
    expect(apply({}, 'CMD [1, 2]').Cmd).toEqual(['/bin/sh', '-c', '[1, 2]']);
  });

  it('adds and replaces ENV, in KEY=VALUE form with quotes and the legacy KEY VALUE form', () => {
    const c = apply({ Env: ['PATH=/bin', 'A=old'] }, 'ENV A=new B="two words" C=a\\ b', 'ENV D the rest of the line');
    expect(c.Env).toEqual(['PATH=/bin', 'A=new', 'B=two words', 'C=a b', 'D=the rest of the line']);
  });

  it('merges LABEL, EXPOSE (ranges, protocols) and VOLUME (JSON or words)', () => {
    const c = apply({ Labels: { a: '1' } }, 'LABEL b=2 "c d"="e f"', 'EXPOSE 80 53/udp 8000-8001', 'VOLUME ["/data"]', 'VOLUME /x /y');
    expect(c.Labels).toEqual({ a: '1', b: '2', 'c d': 'e f' });
    expect(Object.keys(c.ExposedPorts!)).toEqual(['80/tcp', '53/udp', '8000/tcp', '8001/tcp']);
    expect(Object.keys(c.Volumes!)).toEqual(['/data', '/x', '/y']);
  });

  it('sets WORKDIR (relative to the previous one), USER and STOPSIGNAL', () => {
    expect(apply({ WorkingDir: '/app' }, 'WORKDIR sub').WorkingDir).toBe('/app/sub');
    expect(apply({}, 'WORKDIR /srv', 'WORKDIR x').WorkingDir).toBe('/srv/x');
    expect(apply({}, 'USER 1000:1000').User).toBe('1000:1000');
    expect(apply({}, 'STOPSIGNAL SIGINT').StopSignal).toBe('SIGINT');
  });

  it('leaves the input alone', () => {
    const before: ContainerConfig = { Env: ['A=1'], Labels: { a: '1' } };
    apply(before, 'ENV A=2', 'LABEL a=2');
    expect(before).toEqual({ Env: ['A=1'], Labels: { a: '1' } });
  });

  it('refuses other instructions and malformed arguments, naming them', () => {
    expect(() => apply({}, 'RUN make')).toThrow(/RUN is not an instruction commit can apply/);
    expect(() => apply({}, 'CMD')).toThrow(/CMD needs an argument/);
    expect(() => apply({}, 'EXPOSE http')).toThrow(/"http" is not a port/);
    expect(() => apply({}, 'LABEL novalue')).toThrow(/novalue has no value/);
    expect(() => apply({}, 'ENV A="open')).toThrow(/unterminated " quote/);
    expect(() => apply({}, 'EXPOSE 70000')).toThrow(/within 1-65535/);
  });
});
