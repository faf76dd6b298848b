import type { ManifestItem } from '../data/versions/manifest.js';
import type { BlobStore } from '../store/blob-store.js';
import type { Classifier } from './classifier.js';
import { itemInputs } from './item-inputs.js';

/** Items per ONNX Runtime call: enough to amortise a call, little enough to keep memory and event-loop stalls small. */
const CHUNK = 64;

export interface ItemPredictions {
  n: number;
  classes: number;
  logits: Float32Array;
  probs: Float32Array;
  embedding?: Float32Array;
  embeddingDim?: number;
}

/** Runs a classifier over dataset items in chunks, returning row-major results in the items' order. */
export async function predictItems(
  classifier: Classifier,
  items: readonly ManifestItem[],
  blobs: BlobStore,
  o: { onProgress?: (done: number, total: number) => void; signal?: AbortSignal; embedding?: boolean } = {},
): Promise<ItemPredictions> {
  const k = classifier.classes.length;
  const n = items.length;
  const logits = new Float32Array(n * k);
  const probs = new Float32Array(n * k);
  const embeddings: Float32Array[] = [];
  for (let start = 0; start < n; start += CHUNK) {
    o.signal?.throwIfAborted();
    const chunk = items.slice(start, start + CHUNK);
    const out = await classifier.run(await itemInputs(chunk, classifier.inputs, blobs), chunk.length, {
      embedding: o.embedding ?? false,
    });
    logits.set(out.logits, start * k);
    probs.set(out.probs, start * k);
    if (out.embedding) embeddings.push(out.embedding);
    o.onProgress?.(Math.min(n, start + CHUNK), n);
  }
  if (!embeddings.length) return { n, classes: k, logits, probs };
  const embedding = new Float32Array(embeddings.reduce((a, e) => a + e.length, 0));
  let offset = 0;
  for (const e of embeddings) embedding.set(e, (offset += e.length) - e.length);
  return { n, classes: k, logits, probs, embedding, embeddingDim: n ? embedding.length / n : 0 };
}
