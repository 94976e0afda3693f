import { describe, expect, it } from 'vitest';
import { imageRunConfig } from '../../src/image/run-config';

const image = { Entrypoint: ['/entry.sh'], Cmd: ['serve', '--port', '80'], Env: ['A=1', 'PATH=/opt/bin:/bin'], WorkingDir: '/app', User: 'www' };

describe('imageRunConfig (docker override rules)', () => {
  it('runs Entrypoint + Cmd with the image settings when nothing is overridden', () => {
    expect(imageRunConfig(image, { args: [] }, 'img')).toEqual({
      argv: ['/entry.sh', 'serve', '--port', '80'],
      env: ['A=1', 'PATH=/opt/bin:/bin'],
      cwd: '/app',
      user: 'www',
    });
  });

  it('trailing arguments replace Cmd but keep the Entrypoint', () => {
    expect(imageRunConfig(image, { args: ['version'] }, 'img').argv).toEqual(['/entry.sh', 'version']);
  });

  it('--entrypoint replaces the Entrypoint and drops the image Cmd', () => {
    expect(imageRunConfig(image, { entrypoint: '/bin/sh', args: [] }, 'img').argv).toEqual(['/bin/sh']);
    expect(imageRunConfig(image, { entrypoint: '/bin/sh', args: ['-c', 'id'] }, 'img').argv).toEqual(['/bin/sh', '-c', 'id']);
  });

  it('an empty --entrypoint clears it, leaving the arguments', () => {
    expect(imageRunConfig(image, { entrypoint: '', args: ['ls'] }, 'img').argv).toEqual(['ls']);
  });

  it('-w and -u win over WorkingDir and User; defaults are / and root', () => {
    expect(imageRunConfig(image, { args: [], workdir: '/tmp', user: '0' }, 'img')).toMatchObject({ cwd: '/tmp', user: '0' });
    expect(imageRunConfig({ Cmd: ['sh'] }, { args: [] }, 'img')).toMatchObject({ cwd: '/', user: undefined, env: [] });
  });

  it('refuses an image with no command when none is given', () => {
    expect(() => imageRunConfig({}, { args: [] }, 'scratchy')).toThrow(/no command specified: scratchy has neither an Entrypoint nor a Cmd/);
  });
});
