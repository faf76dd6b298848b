import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import type { z } from 'zod';
import type { StoredPredictions } from '../../src/eval/evaluate-classifier.js';
import { gateConfigSchema, type GateConfig } from '../../src/registry/gate/gate-policy.js';
import { readModelFile } from '../../src/registry/model-files.js';
import { PREDICTIONS_FILE, registerRun } from '../../src/registry/register-model.js';
import type { AuditEntry, ModelVersion } from '../../src/registry/registry-store.js';
import { trainConfigSchema, type TrainConfigInput } from '../../src/train/config/train-config.js';
import { trainModel } from '../../src/train/train-run.js';
import type { Workspace } from '../../src/workspace/workspace.js';

/** The `ci` profile's tiny CNN (filters [8, 16], one conv per block, a 32-wide classifier): seconds per run. */
export const tinyScratch = (over: TrainConfigInput = {}) =>
  trainConfigSchema.parse({
    mode: 'scratch',
    epochs: 2,
    batchSize: 16,
    trainMetricsSample: 64,
    earlyStopping: { patience: 0 },
    scratch: { filters: [8, 16], convsPerBlock: 1, classifier: [32] },
    ...over,
  });

/** Trains one tiny model per config and registers each, in order, as the next version of `name`. */
export async function trainAndRegister(
  ws: Workspace,
  configs: TrainConfigInput[],
  name = 'fm',
): Promise<{ runIds: string[]; versions: ModelVersion[] }> {
  const runIds: string[] = [];
  const versions: ModelVersion[] = [];
  for (const config of configs) {
    const outcome = await trainModel(ws, { config: tinyScratch(config) });
    runIds.push(outcome.runId);
    versions.push((await registerRun(ws, outcome.runId, { name, reason: `tiny ${runIds.length}` })).version);
  }
  return { runIds, versions };
}

export const gatePolicy = (input: z.input<typeof gateConfigSchema>): GateConfig =>
  gateConfigSchema.parse(input);

/** Replaces the gate section of a workspace's loupe.yaml (what `loupe gate` and `loupe promote` read). */
export async function setGatePolicy(dir: string, gate: z.input<typeof gateConfigSchema>): Promise<void> {
  const file = path.join(dir, 'loupe.yaml');
  const config = parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  await writeFile(file, stringify({ ...config, gate }));
}

/** The per-item predictions a version was registered with. */
export async function storedPredictions(ws: Workspace, v: ModelVersion): Promise<StoredPredictions> {
  const bytes = await readModelFile(ws.blobs, v, PREDICTIONS_FILE);
  return JSON.parse(new TextDecoder().decode(bytes)) as StoredPredictions;
}

/** 1 where the prediction is right, in the predictions' item order. */
export const correctness = (p: StoredPredictions): Uint8Array =>
  Uint8Array.from(p.predicted, (c, i) => (c === p.labels[i] ? 1 : 0));

/**
 * Damages a version's file on disk (in the blob store, where every version naming the same bytes
 * sees it): `overwrite` puts other bytes of the same length, `truncate` cuts it in half, `delete`
 * removes it. Returns a function putting the original back.
 */
export async function tamper(
  ws: Workspace,
  v: ModelVersion,
  how: 'overwrite' | 'truncate' | 'delete',
  name = 'model.onnx',
): Promise<{ file: string; restore: () => Promise<void> }> {
  const file = ws.blobs.pathOf(v.files[name]!.sha256);
  const original = await readFile(file);
  if (how === 'overwrite') {
    const other = Buffer.from(original);
    // Flip bytes in the middle: the file keeps its size and still looks like a protobuf at a glance.
    for (let i = other.length >> 1; i < (other.length >> 1) + 16; i++) other[i] = other[i]! ^ 0xff;
    await writeFile(file, other);
  } else if (how === 'truncate') await truncate(file, original.length >> 1);
  else await rm(file);
  return { file, restore: () => writeFile(file, original) };
}

/**
 * Where an alias points according to the audit log alone: the last promotion or rollback's target,
 * after checking that every move starts from where the one before it left the alias.
 */
export function replayAlias(
  entries: readonly AuditEntry[],
  model: string,
  alias: string,
): number | undefined {
  let at: number | undefined;
  for (const e of entries) {
    if (e.model !== model || e.alias !== alias || e.action === 'register') continue;
    if ((e.fromVersion ?? undefined) !== at)
      throw new Error(`audit entry ${e.id} moves ${alias} from ${e.fromVersion} but it was at ${at}`);
    at = e.toVersion ?? undefined;
  }
  return at;
}
