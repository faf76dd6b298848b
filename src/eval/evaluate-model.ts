import { readVersionItems, type VersionRow } from '../data/versions/version-store.js';
import type { ManifestItem } from '../data/versions/manifest.js';
import { LoupeError } from '../errors/loupe-error.js';
import { Classifier } from '../inference/classifier.js';
import type { Workspace } from '../workspace/workspace.js';
import { evaluateClassifier, type Evaluation } from './evaluate-classifier.js';
import { outOfFoldFor } from './out-of-fold-source.js';

/** The split to evaluate on: the one named, else test, else val. */
export function evaluationItems(
  items: readonly ManifestItem[],
  split?: string,
): { split: string; items: ManifestItem[] } {
  const of = (s: string) => items.filter((i) => i.split === s);
  if (split) {
    const chosen = of(split);
    if (!chosen.length)
      throw new LoupeError('INVALID_ARGUMENT', `the dataset version has no items in split "${split}"`);
    return { split, items: chosen };
  }
  for (const s of ['test', 'val']) if (of(s).length) return { split: s, items: of(s) };
  throw new LoupeError('INVALID_ARGUMENT', 'the dataset version has no test or val items to evaluate on');
}

export interface EvaluateModelOptions {
  /** What is evaluated, for the report. */
  model: string;
  split?: string;
  calibratedOn?: { split: string; n: number };
  /** A cross-validation run whose out-of-fold probabilities find label issues; default the latest on the data. */
  outOfFoldRun?: string;
  onProgress?: (stage: string, done: number, total: number) => void;
  signal?: AbortSignal;
}

/** A packaged classifier (ONNX bytes) evaluated on a split of a dataset version, latency included. */
export async function evaluateModel(
  ws: Workspace,
  onnx: Uint8Array,
  data: VersionRow,
  o: EvaluateModelOptions,
): Promise<Evaluation> {
  const { split, items } = evaluationItems(await readVersionItems(ws, data), o.split);
  const outOfFold = await outOfFoldFor(ws, data, o.outOfFoldRun);
  const classifier = await Classifier.open(onnx);
  try {
    return await evaluateClassifier(classifier, items, ws.blobs, {
      model: o.model,
      datasetVersion: data.id,
      split,
      ...(o.calibratedOn ? { calibratedOn: o.calibratedOn } : {}),
      latency: true,
      ...(outOfFold ? { outOfFold } : {}),
      onProgress: (done, total) => o.onProgress?.('evaluate', done, total),
      ...(o.signal ? { signal: o.signal } : {}),
    });
  } finally {
    await classifier.dispose();
  }
}
