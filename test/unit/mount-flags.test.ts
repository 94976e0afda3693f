/**
 * -v and --mount parsing (src/cli/mount-flags.ts): which -v is a bind, a
 * named or an anonymous volume, docker's --mount keys, and docker's errors.
 */
import { describe, expect, it } from 'vitest';
import { mountsFromFlags } from '../../src/cli/mount-flags';
import { parseTmpfs } from '../../src/cli/run-request';
import { MS } from '../../ffi/linux';

const parse = (volume: string[], mount: string[] = []) => mountsFromFlags({ volume, mount }, [], parseTmpfs);

describe('mountsFromFlags', () => {
  it('tells binds, named and anonymous volumes apart', () => {
    const m = parse(['/tmp:/h:ro,z', 'data:/d:U', '/anon', './:/rel']);
    expect(m.binds.map((b) => [b.source, b.target, b.readOnly])).toEqual([['/tmp', '/h', true], [process.cwd(), '/rel', false]]);
    expect(m.volumes[0]).toMatchObject({ name: 'data', target: '/d', anonymous: false, chown: true, readOnly: false });
    expect(m.volumes[1]).toMatchObject({ target: '/anon', anonymous: true });
    expect(m.volumes[1].name).toMatch(/^[0-9a-f]{64}$/);
  });

  it("reads docker's --mount keys", () => {
    const m = parse([], ['type=volume,src=v1,dst=/v,ro=true,volume-nocopy,volume-label=a=b', 'type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=700', 'type=bind,source=/tmp,destination=/b,readonly=false', 'target=/anon']);
    expect(m.volumes[0]).toMatchObject({ name: 'v1', target: '/v', readOnly: true, noCopy: true, labels: ['a=b'] });
    expect(m.volumes[1]).toMatchObject({ target: '/anon', anonymous: true });
    expect(m.tmpfs[0].options).toBe(`size=${64 * 1024 * 1024},mode=700`);
    expect(m.binds[0]).toMatchObject({ source: '/tmp', target: '/b', readOnly: false });
  });

  it("refuses what docker refuses, with docker's words", () => {
    expect(() => parse([], ['type=bind,src=/tmp,dst=/x,foo=bar'])).toThrow(/unexpected key 'foo' in 'foo=bar'/);
    expect(() => parse([], ['type=volume'])).toThrow(/target is required/);
    expect(() => parse([], ['type=volume,dst=x'])).toThrow(/mount path must be absolute/);
    expect(() => parse([], ['type=tmpfs,dst=/x,volume-nocopy'])).toThrow(/cannot mix 'volume-\*' options with mount type 'tmpfs'/);
    expect(() => parse([], ['type=tmpfs,dst=/x,tmpfs-mode=999'])).toThrow(/invalid value for tmpfs-mode/);
    expect(() => parse([], ['type=volume,dst=/x,src'])).toThrow(/invalid field 'src' must be a key=value pair/);
    expect(() => parse(['a:/x:bogus'])).toThrow(/invalid mode: bogus/);
    expect(() => parse(['a:/x:ro,rw'])).toThrow(/invalid mode/);
    expect(() => parse(['relative'])).toThrow(/invalid volume specification: 'relative'/);
    expect(() => parse(['aa:/x', '/tmp:/x'])).toThrow(/Duplicate mount point: \/x/);
    expect(() => parse(['x:/y'])).toThrow(/includes invalid characters for a local volume name/);
  });

  it("takes podman's noexec, nosuid, nodev (and exec, suid, dev) on -v for binds and volumes", () => {
    const m = parse(['/tmp:/b:noexec,nosuid,z', 'data:/d:nodev,ro', 'other:/o:noexec,exec']);
    expect(m.binds).toEqual([{ source: '/tmp', target: '/b', readOnly: false, flags: MS.NOEXEC | MS.NOSUID }]);
    expect(m.volumes.map((v) => [v.name, v.readOnly, v.flags])).toEqual([['data', true, MS.NODEV], ['other', false, undefined]]);
  });
});
