import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { fsError } from '../../errors/fs-error.js';
import { canonicalJson } from '../../util/canonical-json.js';
import type { TensorMap } from '../tensor.js';

/** Bump when the same weights, tap and settings would give different features (a changed pooling, say). */
const EXTRACTOR_VERSION = 1;

export interface ExtractorIdentity {
  kind: 'builtin' | 'onnx' | 'hf';
  /** Readable name of the source: a backbone, a file name, a repo and path. */
  name: string;
  /** SHA-256 of what computes the features: the model file, or the spec and weights. */
  weightsSha256: string;
  /** The tap or output, with its pooling when that is ours. */
  tap: string;
  /** Everything else the features depend on (preprocessing, pooling), hashed into the id. */
  settings: unknown;
}

/**
 * `<kind>:<name>@<weights>#<tap>~<settings>`: readable up to the tap, then a digest of the rest,
 * so the id changes whenever the features would and never with where the files happen to live.
 */
export function extractorId(p: ExtractorIdentity): string {
  const settings = createHash('sha256')
    .update(canonicalJson({ version: EXTRACTOR_VERSION, settings: p.settings }))
    .digest('hex');
  return `${p.kind}:${p.name}@${p.weightsSha256.slice(0, 16)}#${p.tap}~${settings.slice(0, 12)}`;
}

/** Streams a file through SHA-256 (encoders run to hundreds of megabytes). */
export async function fileSha256(file: string): Promise<string> {
  try {
    return (await hashStream(createReadStream(file), createHash('sha256'))).digest('hex');
  } catch (e) {
    throw fsError(e, file, { what: 'model file' });
  }
}

export async function hashStream(stream: AsyncIterable<Buffer>, hash: Hash): Promise<Hash> {
  for await (const chunk of stream) hash.update(chunk);
  return hash;
}

/** SHA-256 of an architecture and its weights, tensors in name order. */
export function modelSha256(spec: unknown, weights: TensorMap): string {
  const h = createHash('sha256').update(canonicalJson(spec));
  for (const name of [...weights.keys()].sort()) {
    const t = weights.get(name)!;
    h.update(`\n${name} ${t.shape.join('x')}\n`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.digest('hex');
}
