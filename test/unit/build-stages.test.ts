import { describe, expect, it } from 'vitest';
import { parseDockerfile } from '../../src/build/dockerfile/parse';
import { ArgScope, planBuild, type PlanOptions } from '../../src/build/stages';
import { substituteWord } from '../../src/build/substitute';

const AMD64 = { os: 'linux', architecture: 'amd64' };
const ARM = { os: 'linux', architecture: 'arm', variant: 'v7' };
const plan = (text: string, opts: Partial<PlanOptions> = {}) =>
  planBuild(parseDockerfile(text), { targetPlatform: AMD64, buildPlatform: AMD64, ...opts });

describe('build stages', () => {
  it('splits stages, resolves FROM to scratch, an image or an earlier stage', () => {
    const p = plan('FROM busybox AS base\nRUN a\nFROM scratch\nCOPY x /\nFROM base\nRUN b');
    expect(p.stages.map((s) => s.base)).toEqual([{ kind: 'image', ref: 'busybox' }, { kind: 'scratch' }, { kind: 'stage', index: 0 }]);
    expect(p.stages.map((s) => s.instructions.map((i) => i.kind))).toEqual([['RUN'], ['COPY'], ['RUN']]);
    expect(p.target).toBe(2);
    expect(p.needed).toEqual([0, 2]);
  });

  it('global ARGs are usable in FROM, overridden by --build-arg', () => {
    const text = 'ARG TAG=1.36\nARG IMG=busybox:${TAG}\nFROM $IMG\nFROM --platform=$BUILDPLATFORM ${IMG}-x';
    expect(plan(text).stages.map((s) => s.base)).toEqual([
      { kind: 'image', ref: 'busybox:1.36' },
      { kind: 'image', ref: 'busybox:1.36-x' },
    ]);
    expect(plan(text).stages[1].platform).toBe('linux/amd64');
    expect(plan(text, { buildArgs: new Map([['TAG', 'musl']]) }).stages[0].base).toEqual({ kind: 'image', ref: 'busybox:musl' });
  });

  it('an empty FROM after substitution is an error naming the line', () => {
    expect(() => plan('ARG IMG\nFROM $IMG')).toThrow('Dockerfile:2: FROM $IMG is empty after substitution');
  });

  it('platform ARGs are set automatically', () => {
    const p = plan('FROM a', { targetPlatform: ARM, buildPlatform: AMD64 });
    expect(Object.fromEntries(p.globalArgs)).toMatchObject({
      TARGETPLATFORM: 'linux/arm/v7',
      TARGETOS: 'linux',
      TARGETARCH: 'arm',
      TARGETVARIANT: 'v7',
      BUILDPLATFORM: 'linux/amd64',
      BUILDARCH: 'amd64',
      TARGETSTAGE: 'default',
    });
    expect(plan('FROM a AS x', { target: 'x' }).globalArgs.get('TARGETSTAGE')).toBe('x');
    expect(plan('FROM a', { buildArgs: new Map([['TARGETARCH', 'riscv64']]) }).globalArgs.get('TARGETARCH')).toBe('riscv64');
  });

  it('COPY --from by name, index or image, and RUN --mount from= make dependencies; unneeded stages are skipped', () => {
    const p = plan(
      [
        'FROM busybox AS one',
        'FROM busybox AS two',
        'FROM busybox AS unused',
        'FROM busybox AS cachesrc',
        'FROM scratch AS final',
        'COPY --from=one /a /a',
        'COPY --from=1 /b /b',
        'COPY --from=nginx:1 /c /c',
        'RUN --mount=type=bind,from=cachesrc,target=/m true',
      ].join('\n'),
    );
    const final = p.stages[4];
    expect([...final.inputs.values()]).toEqual([
      [{ kind: 'stage', index: 0 }],
      [{ kind: 'stage', index: 1 }],
      [{ kind: 'image', ref: 'nginx:1' }],
      [{ kind: 'stage', index: 3 }],
    ]);
    expect(final.dependsOn).toEqual([0, 1, 3]);
    expect(p.needed).toEqual([0, 1, 3, 4]);
  });

  it('--from takes no variables, as BuildKit refuses them', () => {
    expect(() => plan('FROM a AS src\nFROM b\nARG SRC=src\nCOPY --from=$SRC /x /x')).toThrow('Dockerfile:4: variable expansion is not supported for --from=$SRC');
    expect(() => plan('FROM a AS src\nFROM b\nRUN --mount=from=$SRC,target=/x true')).toThrow(/Dockerfile:3: --mount from= does not support variable expansion/);
  });

  it('--target picks a stage and only what it needs', () => {
    const text = 'FROM a AS build\nFROM b AS test\nCOPY --from=build / /\nFROM c AS release\nCOPY --from=build / /';
    expect(plan(text, { target: 'TEST' })).toMatchObject({ target: 1, needed: [0, 1] });
    expect(plan(text, { target: 'build' })).toMatchObject({ target: 0, needed: [0] });
    expect(() => plan(text, { target: 'nope' })).toThrow('target stage "nope" could not be found in Dockerfile');
  });

  it('refuses --from of itself or of a later stage, and duplicate stage names', () => {
    expect(() => plan('FROM a AS x\nCOPY --from=x / /')).toThrow('Dockerfile:2: --from=x refers to the stage it is in');
    expect(() => plan('FROM a\nCOPY --from=1 / /\nFROM b')).toThrow(/Dockerfile:2: --from=1 refers to stage 1, which is not before this one/);
    expect(() => plan('FROM a AS x\nCOPY --from=y / /\nFROM b AS y')).toThrow(/refers to a stage defined below this one/);
    expect(() => plan('FROM a AS x\nFROM b AS X')).toThrow('Dockerfile:2: duplicate stage name x');
  });

  it('build args never declared are reported once, as docker says; proxy args are predefined', () => {
    const p = plan('ARG USED\nFROM a\nARG ALSO', {
      buildArgs: new Map([
        ['USED', '1'],
        ['ALSO', '2'],
        ['ZED', '3'],
        ['NOPE', '4'],
        ['HTTP_PROXY', 'http://proxy:3128'],
      ]),
    });
    expect(p.warnings).toEqual(['[Warning] One or more build-args [NOPE ZED] were not consumed']);
    expect(Object.fromEntries(p.predefinedArgs)).toEqual({ HTTP_PROXY: 'http://proxy:3128' });
    expect(plan('FROM a', { buildArgs: new Map([['TARGETARCH', 'x']]) }).warnings).toEqual([]);
  });
});

describe('ARG scope in a stage', () => {
  const globals = new Map([
    ['VERSION', '1.0'],
    ['TARGETARCH', 'amd64'],
  ]);
  const expandWith = (scope: ArgScope) => (w: string) => substituteWord(w, scope.values());

  it('a global ARG is not in a stage until re-declared, then it inherits the value', () => {
    const scope = new ArgScope(globals, new Map());
    expect(scope.values().has('VERSION')).toBe(false);
    scope.declare({ name: 'VERSION' }, expandWith(scope));
    scope.declare({ name: 'TARGETARCH' }, expandWith(scope));
    expect(Object.fromEntries(scope.values())).toEqual({ VERSION: '1.0', TARGETARCH: 'amd64' });
  });

  it('a default is substituted with the ARGs before it; --build-arg wins over the default', () => {
    const scope = new ArgScope(globals, new Map([['B', 'given']]));
    scope.declare({ name: 'A', default: 'x' }, expandWith(scope));
    scope.declare({ name: 'C', default: '${A}-y' }, expandWith(scope));
    scope.declare({ name: 'B', default: 'default' }, expandWith(scope));
    scope.declare({ name: 'D' }, expandWith(scope));
    expect(Object.fromEntries(scope.values())).toEqual({ A: 'x', C: 'x-y', B: 'given' });
  });
});
