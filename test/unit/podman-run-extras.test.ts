import { describe, expect, it } from 'vitest';
import { attachedStreams, containerOptions } from '../../src/cli/container-flags';
import { humanSize } from '../../src/cli/format';
import { hostPasswdLine } from '../../src/cli/run-request';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { goDuration, parseDescriptors } from '../../src/container/ps-descriptors';

describe('run -a', () => {
  it('undefined without -a or with both output streams; the streams otherwise', () => {
    expect(attachedStreams({})).toBeUndefined();
    expect(attachedStreams({ attach: ['stdout', 'STDERR'] })).toBeUndefined();
    expect(attachedStreams({ attach: ['stdin'] })).toEqual({ stdout: false, stderr: false });
    expect(attachedStreams({ attach: ['stderr'] })).toEqual({ stdout: false, stderr: true });
    expect(() => attachedStreams({ attach: ['foo'] })).toThrow(/valid streams/);
    expect(() => attachedStreams({ attach: ['stdout'], detach: true })).toThrow(/-a and -d/);
    expect(attachedStreams({ attach: ['stdout'], interactive: true })).toEqual({ stdout: true, stderr: false }); // stdin goes through the supervisor
  });
});

describe('--log-opt max-size', () => {
  it('takes decimal units, as go-units FromHumanSize', () => {
    expect(containerOptions({ detach: true, 'log-opt': ['max-size=9.081m'] }).log.maxSize).toBe(9_081_000);
    expect(containerOptions({ detach: true, 'log-opt': ['max-size=10k'] }).log.maxSize).toBe(10_000);
    expect(() => containerOptions({ detach: true, 'log-opt': ['max-size=3k'] })).toThrow(/at least 4k/);
    expect(() => containerOptions({ detach: true, 'log-opt': ['max-size=lots'] })).toThrow(/invalid --log-opt max-size/);
  });
});

describe('humanSize with 4 digits (podman)', () => {
  it("is go-units' HumanSize", () => {
    expect(humanSize(0, 4)).toBe('0B');
    expect(humanSize(512, 4)).toBe('512B');
    expect(humanSize(9_081_000, 4)).toBe('9.081MB');
    expect(humanSize(1_010_000, 4)).toBe('1.01MB');
    expect(humanSize(123_456, 4)).toBe('123.5kB');
  });
});

describe('top descriptors', () => {
  it('are recognised only when every argument is one', () => {
    expect(parseDescriptors(['huser,user'])).toEqual(['huser', 'user']);
    expect(parseDescriptors(['pid', 'args'])).toEqual(['pid', 'args']);
    expect(parseDescriptors(['-ef'])).toBeUndefined();
    expect(parseDescriptors(['aux'])).toBeUndefined();
    expect(parseDescriptors(['pid,bogus'])).toBeUndefined();
    expect(parseDescriptors([])).toBeUndefined();
  });
  it("durations print as Go's time.Duration", () => {
    expect(goDuration(0)).toBe('0s');
    expect(goDuration(1.5)).toBe('1.5s');
    expect(goDuration(62)).toBe('1m2s');
    expect(goDuration(3600)).toBe('1h0m0s');
  });
});

describe('--hostuser', () => {
  it("takes the host's passwd line by name or uid, password as x", () => {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hostuser-')), 'passwd');
    fs.writeFileSync(f, 'root:x:0:0:root:/root:/bin/sh\nann:secret:1001:1002:Ann A:/home/ann:/bin/bash\n');
    expect(hostPasswdLine('ann', f)).toBe('ann:x:1001:1002:Ann A:/home/ann:/bin/bash');
    expect(hostPasswdLine('1001', f)).toBe('ann:x:1001:1002:Ann A:/home/ann:/bin/bash');
    expect(() => hostPasswdLine('bob', f)).toThrow(/no user "bob"/);
    fs.rmSync(path.dirname(f), { recursive: true });
  });
});
