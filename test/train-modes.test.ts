import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listVersions, readVersionItems } from '../src/data/versions/version-store.js';
import { loadBackbone } from '../src/engine/backbones/registry.js';
import { readSafetensors } from '../src/engine/safetensors.js';
import type { TensorMap } from '../src/engine/tensor.js';
import { resolveTrainSettings } from '../src/train/config/mode-defaults.js';
import { trainConfigSchema, type TrainConfigInput } from '../src/train/config/train-config.js';
import { trainingItems } from '../src/train/data/training-items.js';
import { buildPlan } from '../src/train/modes/build-plan.js';
import { seededRandom } from '../src/train/random.js';
import { trainModel, type TrainOutcome } from '../src/train/train-run.js';
import { initWorkspace, openWorkspace, type Workspace } from '../src/workspace/workspace.js';
import { BURST_AUGMENT, burstsTrainConfig, ingestBursts } from './helpers/audio-model-fixture.js';
import { trainingWorkspace } from './helpers/training-workspace.js';

const checkpointWeights = async (ws: Workspace, runId: string, epoch: number): Promise<TensorMap> =>
  (
    await readSafetensors(
      path.join(
        ws.stateDir,
        'runs',
        runId,
        'checkpoints',
        `epoch-${String(epoch).padStart(4, '0')}`,
        'weights.safetensors',
      ),
    )
  ).tensors;

const metadataOf = async (ws: Workspace, runId: string) =>
  JSON.parse(await readFile(path.join(ws.stateDir, 'runs', runId, 'metadata.json'), 'utf8')) as {
    mode: string;
    backbone?: string;
    inputs: Record<string, unknown> & { kind: string };
  };

const bytes = (t: TensorMap, name: string) => {
  const { data } = t.get(name)!;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
};
const same = (a: TensorMap, b: TensorMap, name: string) => bytes(a, name).equals(bytes(b, name));

/** The top-level layer a tensor belongs to. */
const layerOf = (name: string) => name.split('.')[0]!;

describe('fine-tuning a built-in backbone', () => {
  let ws: Workspace;
  let dir: string;
  before(async () => {
    ({ ws, dir } = await trainingWorkspace({ classes: 3, perClass: 20 }));
  });
  after(async () => {
    await ws.close();
    await rm(dir, { recursive: true, force: true });
  });

  const finetune = (over: TrainConfigInput = {}) =>
    trainConfigSchema.parse({
      mode: 'finetune',
      epochs: 2,
      batchSize: 8,
      optimizer: { lr: 0.01 },
      schedule: { type: 'constant' },
      keepCheckpoints: 2,
      finetune: { headEpochs: 1, freezeUpTo: 'block10' },
      ...over,
    });

  it('trains the head on the frozen backbone, then the layers from freezeUpTo on', async () => {
    const outcome: TrainOutcome = await trainModel(ws, { config: finetune() });
    assert.equal(outcome.status, 'finished');
    assert.deepEqual(
      outcome.history.map((h) => [h.phase, h.globalEpoch]),
      [
        ['head', 1],
        ['finetune', 2],
      ],
    );
    assert.ok(Math.abs(outcome.history[1]!.lr - 0.001) < 1e-9, 'phase 2 runs at lr × lrFactor');

    const pretrained = (await loadBackbone('mobilenet_v2')).weights;
    const [afterHead, afterFinetune] = [
      await checkpointWeights(ws, outcome.runId, 1),
      await checkpointWeights(ws, outcome.runId, 2),
    ];
    const backbone = [...pretrained.keys()];
    const changedInHead = backbone.filter((n) => !same(pretrained, afterHead, n));
    assert.deepEqual(
      changedInHead,
      [],
      'phase 1 leaves every backbone tensor, batchnorm statistics included',
    );
    assert.ok(!same(afterHead, afterFinetune, 'classifier.weight'), 'the head trains on in phase 2');

    const order = [...new Set(backbone.map(layerOf))];
    const frozen = new Set(order.slice(0, order.indexOf('block_10')));
    const changed = new Set(backbone.filter((n) => !same(afterHead, afterFinetune, n)).map(layerOf));
    assert.deepEqual(
      [...changed].filter((l) => frozen.has(l)),
      [],
      'layers before block_10 stay frozen in phase 2',
    );
    for (const layer of ['block_10', 'block_13', 'block_16', 'conv_last', 'conv_last_bn'])
      assert.ok(changed.has(layer), `${layer} is fine-tuned in phase 2`);

    const train = outcome.history.at(-1)!.train!;
    assert.ok(train.accuracy > 0.6, `train accuracy ${train.accuracy} beats chance (1/3)`);
    const metadata = await metadataOf(ws, outcome.runId);
    assert.equal(metadata.mode, 'finetune');
    assert.equal(metadata.backbone, 'mobilenet_v2');
    assert.equal(metadata.inputs.kind, 'image');
    assert.equal((metadata.inputs.preprocessing as { width: number }).width, 224);
  });

  it('refuses encoders libtorch cannot train and layers the backbone does not have', async () => {
    await assert.rejects(
      trainModel(ws, { config: finetune({ finetune: { backbone: 'encoders/clip.onnx' } }) }),
      (e: Error & { code?: string }) =>
        e.code === 'INVALID_ARGUMENT' && /built-in backbone/.test(e.message) && /probe/.test(e.message),
    );
    await assert.rejects(
      trainModel(ws, { config: finetune({ finetune: { backbone: 'hf:Xenova/dinov2-small' } }) }),
      /built-in backbone/,
    );
    await assert.rejects(
      trainModel(ws, { config: finetune({ finetune: { freezeUpTo: 'block99' } }) }),
      /freezeUpTo "block99" is not one of the backbone's/,
    );
  });
});

describe('audio mode', () => {
  let ws: Workspace;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'loupe-audio-'));
    await initWorkspace(dir, { name: 'audio-test' });
    ws = await openWorkspace({ workspace: dir, env: {} });
    await ingestBursts(ws);
  });
  after(async () => {
    await ws.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The fixture's CNN, with frequency masks on top of its waveform augmentation. */
  const audio = (over: TrainConfigInput = {}) =>
    burstsTrainConfig({ augment: { audio: { ...BURST_AUGMENT, freqMasks: 1, freqMaskWidth: 6 } }, ...over });

  it('augments each batch afresh from the waveforms, and not at all when nothing is enabled', async () => {
    const items = trainingItems(await readVersionItems(ws, (await listVersions(ws.db, 'bursts'))[0]!));
    const ctx = { db: ws.db, blobs: ws.blobs };
    const plan = await buildPlan(resolveTrainSettings(audio(), 'audio'), items, ctx);
    try {
      const { train, augment } = plan;
      assert.ok(augment);
      const size = train.shape[0] * train.shape[1] * train.shape[2];
      const indices = Uint32Array.from([0, 5]);
      const x = new Float32Array(2 * size);
      indices.forEach((item, row) => x.set(train.x.subarray(item * size, (item + 1) * size), row * size));
      const shape = [2, ...train.shape] as [number, number, number, number];
      const a = augment(x, shape, seededRandom(1), indices);
      const b = augment(x, shape, seededRandom(2), indices);
      assert.equal(a.length, x.length);
      assert.ok(a.every(Number.isFinite));
      assert.ok(a.some((v, i) => v !== x[i]) && a.some((v, i) => v !== b[i]), 'each draw differs');
      assert.deepEqual(augment(x, shape, seededRandom(1), indices), a, 'a seed repeats its draw');
    } finally {
      await plan.model.dispose();
    }
    const plain = await buildPlan(resolveTrainSettings(audio({ augment: {} }), 'audio'), items, ctx);
    assert.equal(plain.augment, undefined);
    await plain.model.dispose();
  });

  it('trains a spectrogram CNN that tells the bursts apart, recording its audio front end', async () => {
    const outcome = await trainModel(ws, { config: audio() });
    assert.equal(outcome.status, 'finished');
    assert.equal(outcome.history.length, 15);
    const best = (set: 'train' | 'val') => Math.max(...outcome.history.map((h) => h[set]!.accuracy));
    assert.ok(best('train') > 0.75, `train accuracy ${best('train')} beats chance (1/3)`);
    assert.ok(best('val') > 0.6, `val accuracy ${best('val')} beats chance (1/3)`);

    const metadata = await metadataOf(ws, outcome.runId);
    assert.equal(metadata.mode, 'audio');
    assert.equal(metadata.inputs.kind, 'audio');
    assert.equal(metadata.inputs.sampleRate, 16000);
    assert.equal(metadata.inputs.seconds, 0.5);
    assert.equal(metadata.inputs.frames, 51);
    const { mean, std } = metadata.inputs.standardization as { mean: number; std: number };
    assert.ok(Number.isFinite(mean) && std > 0);
  });
});
