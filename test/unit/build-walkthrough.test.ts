// The front end used the way the build engine walks a Dockerfile (files and
// RUNs left out): parse → plan → per needed stage, start from the base config,
// run its ONBUILD triggers, then apply each instruction. A reference for the
// engine and a check that the pieces fit.
import { describe, expect, it } from 'vitest';
import {
  applyConfigInstruction,
  expandCopy,
  historyEntry,
  runCommand,
  runCreatedBy,
  runEnvironment,
  startStage,
  type StepContext,
} from '../../src/build/config-step';
import type { Instruction } from '../../src/build/dockerfile/instructions';
import { parseDockerfile, parseOnbuildTriggers } from '../../src/build/dockerfile/parse';
import { ArgScope, planBuild } from '../../src/build/stages';
import type { ImageConfig } from '../../src/image/config';

const AMD64 = { os: 'linux', architecture: 'amd64' };
const BUSYBOX: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'], OnBuild: ['ENV FROM_TRIGGER=yes'] },
  rootfs: { type: 'layers', diff_ids: [] },
  history: [],
};

const DOCKERFILE = `# syntax=docker/dockerfile:1
ARG BASE=busybox
ARG VERSION=1.0

FROM \${BASE} AS build
ARG VERSION
WORKDIR /src
COPY --chmod=0755 <<EOF build.sh
#!/bin/sh
echo building \${VERSION}
EOF
RUN ./build.sh > /out

FROM \${BASE} AS unused
RUN false

FROM scratch
COPY --from=build /out /out
ENV APP=demo
LABEL version=\${VERSION}
EXPOSE 8080
ENTRYPOINT ["/out"]
`;

interface Step {
  created_by?: string;
  empty_layer: boolean;
  argv?: string[];
  env?: string[];
}

function walk(buildArgs: Map<string, string>) {
  const df = parseDockerfile(DOCKERFILE);
  const plan = planBuild(df, { buildArgs, targetPlatform: AMD64, buildPlatform: AMD64 });
  const results = new Map<number, { config: ImageConfig; steps: Step[] }>();
  for (const index of plan.needed) {
    const stage = plan.stages[index];
    const base = stage.base.kind === 'scratch' ? undefined : stage.base.kind === 'stage' ? results.get(stage.base.index)!.config : BUSYBOX;
    const { state, onbuild } = startStage(base, AMD64);
    const ctx: StepContext = { scope: new ArgScope(plan.globalArgs, plan.buildArgs), escape: df.escape, file: df.file };
    const steps: Step[] = [];
    const triggers = stage.base.kind === 'image' ? parseOnbuildTriggers(onbuild, stage.base.ref) : [];
    for (const ins of [...triggers, ...stage.instructions] as Instruction[]) {
      if (ins.kind === 'RUN') {
        const cmd = runCommand(ins, state.config);
        steps.push({ created_by: runCreatedBy(cmd.argv, state, ctx.scope), empty_layer: false, argv: cmd.argv, env: runEnvironment(state, plan.predefinedArgs) });
      } else if (ins.kind === 'COPY' || ins.kind === 'ADD') {
        steps.push({ created_by: expandCopy(ins, state, ctx).createdBy, empty_layer: false });
      } else if (ins.kind !== 'FROM') {
        const r = applyConfigInstruction(state, ins, ctx);
        steps.push({ created_by: r.createdBy, empty_layer: !r.mkdir });
      }
    }
    const recorded = steps.filter((s) => s.created_by !== undefined);
    state.config.history = [...(state.config.history ?? []), ...recorded.map((s) => historyEntry(s.created_by!, s.empty_layer))];
    results.set(index, { config: state.config, steps });
  }
  return { plan, df, results };
}

describe('a multi-stage build, walked as the engine will', () => {
  it('builds the needed stages only, in order, with docker`s ARG scoping and ONBUILD triggers', () => {
    const { plan, df, results } = walk(new Map([['VERSION', '2.0']]));
    expect(df.warnings).toEqual([
      'Dockerfile:1: the syntax directive (docker/dockerfile:1) is ignored: nook parses Dockerfiles itself, with the stable syntax (heredocs included)',
    ]);
    expect(plan.needed).toEqual([0, 2]);
    expect(plan.warnings).toEqual([]);

    const build = results.get(0)!;
    expect(build.steps.map((s) => s.created_by)).toEqual(['ENV FROM_TRIGGER=yes', 'ARG VERSION=2.0', 'WORKDIR /src', 'COPY --chmod=0755 <<EOF build.sh', 'RUN |1 VERSION=2.0 /bin/sh -c ./build.sh > /out']);
    const run = build.steps[4];
    expect(run.argv).toEqual(['/bin/sh', '-c', './build.sh > /out']);
    expect(run.env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'FROM_TRIGGER=yes', 'VERSION=2.0']);
    expect(build.config.config!.Env).not.toContain('VERSION=2.0');
    expect(build.config.config!.OnBuild).toBeUndefined();

    const final = results.get(2)!;
    // VERSION was not re-declared in this stage: LABEL sees nothing
    expect(final.config.config).toEqual({
      WorkingDir: '/',
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'APP=demo'],
      Labels: { version: '' },
      ExposedPorts: { '8080/tcp': {} },
      Entrypoint: ['/out'],
      Cmd: null,
    });
    expect(final.config.history!.map((h) => [h.created_by, h.empty_layer ?? false])).toEqual([
      ['COPY /out /out', false],
      ['ENV APP=demo', true],
      ['LABEL version=', true],
      ['EXPOSE [8080/tcp]', true],
      ['ENTRYPOINT ["/out"]', true],
    ]);
  });

  it('an unknown build arg is reported once', () => {
    expect(walk(new Map([['NOPE', '1']])).plan.warnings).toEqual(['[Warning] One or more build-args [NOPE] were not consumed']);
  });
});
