/**
 * The image configuration (OCI image-spec config.json, which Docker's
 * container.image.v1 matches): how to run the image, and the uncompressed
 * digests (diff_ids) of its layers in order, bottom first.
 */
import { NookError } from '../errors';

export interface ContainerConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  StopSignal?: string;
  Labels?: Record<string, string> | null;
  ExposedPorts?: Record<string, object> | null;
  Volumes?: Record<string, object> | null;
}

export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  author?: string;
  config?: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: { created?: string; created_by?: string; empty_layer?: boolean; comment?: string }[];
}

export function parseImageConfig(body: Buffer | string, what: string): ImageConfig {
  let doc: ImageConfig;
  try {
    doc = JSON.parse(body.toString()) as ImageConfig;
  } catch (e) {
    throw new NookError(`the image configuration of ${what} is not JSON: ${(e as Error).message}`);
  }
  const ids = doc?.rootfs?.diff_ids;
  if (!Array.isArray(ids) || ids.some((d) => typeof d !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(d)))
    throw new NookError(`the image configuration of ${what} has no valid rootfs.diff_ids`, {
      hint: 'the image is malformed; rebuild or push it again',
    });
  return doc;
}
