import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { resolveVersion, readVersionItems } from '../data/versions/version-store.js';
import type { ManifestItem } from '../data/versions/manifest.js';
import { openFeatureExtractor } from '../engine/encoders/feature-extractor.js';
import { composeEncoderHead, finalizeClassifier } from '../engine/onnx/compose-classifier.js';
import { fitTemperature } from '../eval/metrics/temperature-scaling.js';
import { LoupeError } from '../errors/loupe-error.js';
import { fsError } from '../errors/fs-error.js';
import { Classifier, CLASSIFIER_METADATA } from '../inference/classifier.js';
import { modelInputsSchema, type ModelInputs } from '../inference/model-inputs.js';
import { predictItems } from '../inference/predict-items.js';
import { labelIndices } from '../inference/label-indices.js';
import { getRun, runArtifacts, type Run } from '../track/run-store.js';
import type { Workspace } from '../workspace/workspace.js';

export interface PackagedModel {
  /** The packaged classifier: one ONNX file, calibrated, with its metadata. */
  onnx: Uint8Array;
  classes: string[];
  inputs: ModelInputs;
  temperature: number;
  /** The split the temperature was fitted on, when there was one. */
  calibratedOn?: { split: string; n: number };
  lineage: Record<string, unknown>;
  /** The run's own files a version keeps beside the ONNX (weights, run metadata). */
  extras: Record<string, Uint8Array>;
  run: Run;
}

interface RunModelMetadata {
  classes: string[];
  inputs: Record<string, unknown> & { kind: string };
  mode: string;
  backbone?: string;
}

async function artifactBytes(ws: Workspace, run: Run, name: string): Promise<Uint8Array> {
  const artifact = (await runArtifacts(ws.db, run.id)).find((a) => a.name === name);
  if (!artifact)
    throw new LoupeError('NOT_FOUND', `run ${run.id} has no ${name}; only finished runs can be registered`);
  const file = path.join(ws.root, artifact.path);
  try {
    return await readFile(file);
  } catch (e) {
    throw fsError(e, file);
  }
}

/**
 * Fits the softmax temperature on a split's logits (ONNX Runtime running the uncalibrated
 * package), so the served probabilities mean what they say. 1 when there is nothing to fit on.
 */
export async function fitTemperatureOn(
  ws: Workspace,
  uncalibrated: Uint8Array,
  items: readonly ManifestItem[],
  o: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<number> {
  if (!items.length) return 1;
  const classifier = await Classifier.open(uncalibrated);
  try {
    const labels = labelIndices(items, classifier.classes);
    const { logits } = await predictItems(classifier, items, ws.blobs, o);
    return fitTemperature(logits, labels, classifier.classes.length);
  } finally {
    await classifier.dispose();
  }
}

/**
 * A finished run as one calibrated classifier file. A probe run's artifact is only its head: the
 * encoder it was trained on is fused in front (and must still produce the features the head
 * learned from). Scratch, fine-tuned and audio runs already export whole networks.
 */
export async function packageRun(
  ws: Workspace,
  runRef: string,
  o: { signal?: AbortSignal; onProgress?: (stage: string, done: number, total: number) => void } = {},
): Promise<PackagedModel> {
  const run = await getRun(ws.db, runRef);
  if (run.status !== 'finished')
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `run ${run.id} is ${run.status}; only a finished run can be registered`,
    );
  const meta = JSON.parse(
    new TextDecoder().decode(await artifactBytes(ws, run, 'metadata.json')),
  ) as RunModelMetadata;
  const network = await artifactBytes(ws, run, 'model.onnx');

  let graph: Uint8Array;
  let inputs: ModelInputs;
  if (meta.inputs.kind === 'embedding') {
    const probe = (run.config as { probe?: { backbone: string; tap?: string } }).probe;
    if (!probe)
      throw new LoupeError('CORRUPT_FILE', `run ${run.id} embeds its inputs but records no probe backbone`);
    const extractor = await openFeatureExtractor(probe.backbone, {
      ...(probe.tap ? { tap: probe.tap } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    try {
      if (extractor.id !== meta.inputs.extractor)
        throw new LoupeError(
          'INVALID_ARGUMENT',
          `the encoder ${probe.backbone} no longer computes the features run ${run.id} was trained on ` +
            `(extractor ${extractor.id} ≠ ${String(meta.inputs.extractor)}); retrain the head`,
        );
      const encoder = await extractor.graph();
      graph = composeEncoderHead(encoder.bytes, network, {
        output: encoder.output,
        pooling: encoder.pooling,
      });
      inputs = { kind: 'image', preprocessing: extractor.preprocessing };
    } finally {
      await extractor.dispose();
    }
  } else {
    graph = network;
    inputs = modelInputsSchema.parse(meta.inputs);
  }

  const lineage = {
    run: run.id,
    mode: run.mode,
    datasetVersion: run.dataset_version,
    ...(run.backbone ? { backbone: run.backbone } : {}),
    gitCommit: run.git_commit,
    gitDirty: run.git_dirty,
  };
  const metadata = (temperature: number) => ({
    [CLASSIFIER_METADATA.classes]: JSON.stringify(meta.classes),
    [CLASSIFIER_METADATA.inputs]: JSON.stringify(inputs),
    [CLASSIFIER_METADATA.temperature]: String(temperature),
    [CLASSIFIER_METADATA.lineage]: JSON.stringify(lineage),
  });

  const version = await resolveVersion(ws.db, run.dataset_version);
  const cv = (run.config as { cv?: unknown }).cv;
  // A cross-validation fold validated on its fold, not on the val split: there is no clean
  // held-out split to calibrate on, so its temperature stays 1.
  const val = cv ? [] : (await readVersionItems(ws, version)).filter((i) => i.split === 'val');
  const uncalibrated = finalizeClassifier(graph, { temperature: 1, metadata: metadata(1) });
  const temperature = await fitTemperatureOn(ws, uncalibrated, val, {
    ...(o.signal ? { signal: o.signal } : {}),
    onProgress: (done, total) => o.onProgress?.('calibrate', done, total),
  });
  return {
    onnx:
      temperature === 1
        ? uncalibrated
        : finalizeClassifier(graph, { temperature, metadata: metadata(temperature) }),
    classes: meta.classes,
    inputs,
    temperature,
    ...(val.length ? { calibratedOn: { split: 'val', n: val.length } } : {}),
    lineage,
    extras: {
      'weights.safetensors': await artifactBytes(ws, run, 'model.safetensors'),
      'run-metadata.json': await artifactBytes(ws, run, 'metadata.json'),
    },
    run,
  };
}
