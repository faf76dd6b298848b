import { resolveVersion, readVersionItems } from '../../data/versions/version-store.js';
import type { ManifestItem } from '../../data/versions/manifest.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { predictedClasses } from '../../eval/metrics/row-argmax.js';
import { Classifier } from '../../inference/classifier.js';
import { predictItems } from '../../inference/predict-items.js';
import { readModelFile } from '../../registry/model-files.js';
import type { ModelVersion } from '../../registry/registry-store.js';
import { seededRandom, shuffledIndices } from '../../train/random.js';
import type { Workspace } from '../../workspace/workspace.js';
import type { DriftSample } from './drift-tests.js';

/** What a model version said about held-out items of its own dataset: what "no drift" looks like. */
export interface DriftReference extends DriftSample {
  model: string;
  version: number;
  datasetVersion: string;
  /** Where the items came from: 'val', 'val+test', or 'train' when nothing was held out. */
  split: string;
  classes: string[];
}

export interface ReferenceOptions {
  /** Items at most (a seeded sample of the held-out ones). */
  size: number;
  seed: number;
  signal?: AbortSignal;
  onProgress?: (stage: string, done: number, total: number) => void;
}

const FORMAT = 'loupe-drift-reference/1';

interface Stored {
  format: typeof FORMAT;
  split: string;
  classes: string[];
  dim: number;
  predicted: number[];
  confidence: number[];
  /** float32 little-endian, base64; null when the model has no embedding output. */
  embedding: string | null;
}

/**
 * The reference a version's drift checks compare against: the version's packaged ONNX file run
 * over a seeded sample of its dataset version's held-out items (val, topped up from test), with
 * embeddings, predicted classes and confidences. Computed once and kept in the blob store under
 * (model, version, dataset version, sample); a stored copy that is missing or unreadable is
 * computed again.
 *
 * Held-out items rather than training items: the model fitted those, so its confidence on them
 * is higher than on anything it will serve, and the confidence test would alarm on every window.
 */
export async function driftReference(
  ws: Workspace,
  version: ModelVersion,
  o: ReferenceOptions,
): Promise<DriftReference> {
  if (!version.datasetVersion)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `${version.ref} has no dataset version, so no held-out items to compare served inputs with; ` +
        'register the ONNX file with --data DATASET to give it one',
    );
  const datasetVersion = version.datasetVersion;
  const sample = `held-out:${o.size}:${o.seed}`;
  const key = { model: version.model, version: version.version, datasetVersion };
  const cached = await ws.db
    .selectFrom('drift_references')
    .select('blob')
    .where('model', '=', key.model)
    .where('version', '=', key.version)
    .where('dataset_version', '=', datasetVersion)
    .where('sample', '=', sample)
    .executeTakeFirst();
  if (cached) {
    const stored = await ws.blobs.get(cached.blob).then(decode, () => undefined);
    if (stored) return { ...key, ...stored };
  }

  const data = await resolveVersion(ws.db, datasetVersion);
  const { split, items } = heldOut(await readVersionItems(ws, data), o.size, o.seed);
  const classifier = await Classifier.open(await readModelFile(ws.blobs, version));
  let stored: Stored;
  try {
    const out = await predictItems(classifier, items, ws.blobs, {
      embedding: true,
      onProgress: (done, total) => o.onProgress?.('reference', done, total),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const k = out.classes;
    const predicted = predictedClasses(out.probs, k, out.n);
    const e = out.embedding;
    stored = {
      format: FORMAT,
      split,
      classes: classifier.classes,
      dim: out.embeddingDim ?? 0,
      predicted: [...predicted],
      confidence: Array.from(predicted, (c, i) => out.probs[i * k + c]!),
      embedding: e ? Buffer.from(e.buffer, e.byteOffset, e.byteLength).toString('base64') : null,
    };
  } finally {
    await classifier.dispose();
  }
  const bytes = Buffer.from(JSON.stringify(stored));
  const blob = await ws.blobs.put(bytes);
  await ws.db
    .insertInto('drift_references')
    .values({
      model: key.model,
      version: key.version,
      dataset_version: datasetVersion,
      sample,
      blob,
      items: items.length,
      created_at: new Date().toISOString(),
    })
    .onConflict((c) => c.doUpdateSet({ blob, items: items.length }))
    .execute();
  return { ...key, ...decode(bytes)! };
}

/** Val items, topped up from test when there are fewer than `size`; train only when neither exists. */
function heldOut(
  all: readonly ManifestItem[],
  size: number,
  seed: number,
): { split: string; items: ManifestItem[] } {
  const pick = (items: ManifestItem[]) =>
    [...shuffledIndices(items.length, seededRandom(seed)).subarray(0, size)]
      .sort((a, b) => a - b)
      .map((i) => items[i]!);
  const val = all.filter((i) => i.split === 'val');
  const test = all.filter((i) => i.split === 'test');
  if (val.length >= size) return { split: 'val', items: pick(val) };
  if (val.length || test.length)
    return {
      split: val.length && test.length ? 'val+test' : val.length ? 'val' : 'test',
      items: [...val, ...pick(test).slice(0, size - val.length)],
    };
  const train = all.filter((i) => i.split === 'train');
  if (!train.length) throw new LoupeError('INVALID_ARGUMENT', 'the dataset version has no items');
  return { split: 'train', items: pick(train) };
}

function decode(bytes: Uint8Array): Omit<DriftReference, 'model' | 'version' | 'datasetVersion'> | undefined {
  let s: Stored;
  try {
    s = JSON.parse(new TextDecoder().decode(bytes)) as Stored;
  } catch {
    return undefined;
  }
  const n = s.predicted?.length;
  if (s.format !== FORMAT || !n || s.confidence?.length !== n) return undefined;
  const embedding = s.embedding
    ? new Float32Array(Uint8Array.from(Buffer.from(s.embedding, 'base64')).buffer)
    : null;
  if (embedding && embedding.length !== n * s.dim) return undefined;
  return {
    split: s.split,
    classes: s.classes,
    dim: embedding ? s.dim : 0,
    embedding,
    predicted: Int32Array.from(s.predicted),
    confidence: Float32Array.from(s.confidence),
  };
}
