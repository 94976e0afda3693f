/** COPY/ADD and WORKDIR's directory: through the build helper (placeholder until it lands). */
import { NookError } from '../errors';
import type { ImageConfig } from '../image/config';
import type { StoreHelper } from '../image/store/helper-client';
import type { ImageStore, LayerRecord } from '../image/store/store';
import type { HostIdentity } from '../sandbox/idmap';
import type { StepContext } from './config-step';
import type { CopyInstruction, Instruction } from './dockerfile/instructions';
import type { LayerMaker } from './engine';

export interface FileStepEnv {
  store: ImageStore;
  host: HostIdentity;
  storeHelper(): StoreHelper;
  tmpDir(): string;
  sourceDateEpoch?: number;
  signal: AbortSignal;
  warn(message: string): void;
}

export interface CopyInput {
  layers: LayerRecord[];
  chain: string;
}

export async function copyStep(env: FileStepEnv, input: CopyInput | undefined, ins: CopyInstruction & { source: Instruction['source'] }, config: ImageConfig, ctx: StepContext, context: string | undefined): Promise<LayerMaker> {
  void env; void input; void config; void ctx; void context;
  throw new NookError(`${ins.kind} is not supported yet`);
}

export async function mkdirStep(env: FileStepEnv, layers: LayerRecord[], config: ImageConfig, dir: string): Promise<LayerMaker> {
  void env; void layers; void config;
  return { key: ['WORKDIR', dir], createdBy: `WORKDIR ${dir}`, make: async () => null };
}
