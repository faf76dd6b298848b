import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Model } from '../src/engine/model.js';
import type { ModelSpecInput } from '../src/engine/spec/schema.js';
import { evaluate, fit } from '../src/train/fit.js';
import { quadrantSet, randomInput } from './helpers/tiny-data.js';

const tinyCnn = (extra: Partial<{ dropout: number; batchnorm: boolean }> = {}): ModelSpecInput => ({
  name: 'tiny',
  input: { channels: 1, height: 12, width: 12 },
  layers: [
    { type: 'conv2d', name: 'conv', out: 8, kernel: 3, padding: 1 },
    ...(extra.batchnorm ? [{ type: 'batchnorm' as const, name: 'bn' }] : []),
    { type: 'relu' },
    { type: 'maxpool', kernel: 2 },
    { type: 'flatten' },
    ...(extra.dropout ? [{ type: 'dropout' as const, p: extra.dropout }] : []),
    { type: 'linear', name: 'head', out: 4 },
  ],
});

async function losses(model: Model, steps: number, seed = 3): Promise<number[]> {
  const data = quadrantSet(32, seed);
  await model.configureOptimizer({ type: 'adam', lr: 1e-2 });
  const out: number[] = [];
  for (let i = 0; i < steps; i++)
    out.push(await model.trainBatch({ x: data.x, size: data.count, labels: data.labels }));
  return out;
}

describe('engine training', () => {
  it('lowers the loss on a fixed batch', async () => {
    const model = await Model.create(tinyCnn(), { seed: 1 });
    const l = await losses(model, 25);
    assert.ok(l[24]! < l[0]! * 0.5, `loss went ${l[0]} → ${l[24]}`);
  });

  it('overfits a tiny set to 100% accuracy', async () => {
    const model = await Model.create(tinyCnn({ batchnorm: true }), { seed: 2 });
    const data = quadrantSet(40, 5);
    await fit(model, data, { epochs: 30, batchSize: 8, optimizer: { type: 'adam', lr: 5e-3 }, seed: 1 });
    assert.equal((await evaluate(model, data)).accuracy, 1);
  });

  it('gives the same loss sequence for the same seed, with dropout, and another for another seed', async () => {
    const a = await losses(await Model.create(tinyCnn({ dropout: 0.3 }), { seed: 11 }), 8);
    const b = await losses(await Model.create(tinyCnn({ dropout: 0.3 }), { seed: 11 }), 8);
    const c = await losses(await Model.create(tinyCnn({ dropout: 0.3 }), { seed: 12 }), 8);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  for (const type of ['sgd', 'adam', 'adamw'] as const) {
    it(`trains with ${type}`, async () => {
      const model = await Model.create(tinyCnn(), { seed: 4 });
      const data = quadrantSet(32, 9);
      await model.configureOptimizer({
        type,
        lr: type === 'sgd' ? 0.1 : 1e-2,
        weightDecay: 1e-4,
        momentum: 0.9,
      });
      const first = await model.trainBatch({ x: data.x, size: data.count, labels: data.labels });
      let last = first;
      for (let i = 0; i < 20; i++)
        last = await model.trainBatch({ x: data.x, size: data.count, labels: data.labels });
      assert.ok(last < first * 0.7, `${type}: ${first} → ${last}`);
    });
  }

  it('freezes by name and by range: frozen weights and batchnorm statistics stay put', async () => {
    const model = await Model.create(tinyCnn({ batchnorm: true }), { seed: 5 });
    await model.freeze({ from: 'conv', to: 'bn' });
    assert.deepEqual((await model.trainableNames()).sort(), ['head.bias', 'head.weight']);
    const before = await model.getWeights();
    await losses(model, 3);
    const after = await model.getWeights();
    for (const name of ['conv.weight', 'bn.weight', 'bn.running_mean', 'bn.running_var']) {
      assert.deepEqual(after.get(name)!.data, before.get(name)!.data, `${name} moved while frozen`);
    }
    assert.notDeepEqual(after.get('head.weight')!.data, before.get('head.weight')!.data);
    await model.unfreeze(['conv']);
    await losses(model, 2);
    assert.notDeepEqual((await model.getWeights()).get('conv.weight')!.data, after.get('conv.weight')!.data);
  });

  it('clips the gradient norm', async () => {
    const model = await Model.create(tinyCnn(), { seed: 6 });
    const data = quadrantSet(16, 2);
    await model.configureOptimizer({ type: 'sgd', lr: 1, momentum: 0 });
    const before = await model.getWeights();
    await model.trainBatch({ x: data.x, size: data.count, labels: data.labels }, { clipGradNorm: 1e-3 });
    const after = await model.getWeights();
    let sq = 0;
    for (const [name, t] of after) t.data.forEach((v, i) => (sq += (v - before.get(name)!.data[i]!) ** 2));
    assert.ok(Math.sqrt(sq) <= 1e-3 * 1.0001, `update norm ${Math.sqrt(sq)}`);
  });

  it('applies label smoothing and per-sample weights', async () => {
    const data = quadrantSet(8, 4);
    const fresh = async () => {
      const m = await Model.create(tinyCnn(), { seed: 7 });
      await m.configureOptimizer({ type: 'sgd', lr: 1e-9, momentum: 0 });
      return m;
    };
    const plain = await (await fresh()).trainBatch({ x: data.x, size: 8, labels: data.labels });
    const smoothed = await (
      await fresh()
    ).trainBatch({ x: data.x, size: 8, labels: data.labels }, { labelSmoothing: 0.2 });
    assert.notEqual(plain, smoothed);
    // Zero weight on the second half equals the loss of the first half alone.
    const weights = Float32Array.from({ length: 8 }, (_, i) => (i < 4 ? 1 : 0));
    const weighted = await (await fresh()).trainBatch({ x: data.x, size: 8, labels: data.labels, weights });
    const half = await (
      await fresh()
    ).trainBatch({ x: data.x.subarray(0, 4 * 144), size: 4, labels: data.labels.subarray(0, 4) });
    assert.ok(Math.abs(weighted - half) < 1e-6, `${weighted} vs ${half}`);
  });

  it('returns logits, probabilities and pooled tap features', async () => {
    const model = await Model.create(
      { ...tinyCnn(), layers: tinyCnn().layers.map((l, i) => (i === 1 ? { ...l, tap: 'act' } : l)) },
      { seed: 8 },
    );
    const x = randomInput(3, 144);
    const logits = await model.forward(x, 3);
    const probs = await model.forward(x, 3, 'probs');
    assert.deepEqual(logits.shape, [3, 4]);
    for (let i = 0; i < 3; i++) {
      const row = probs.data.subarray(i * 4, i * 4 + 4);
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    }
    assert.deepEqual((await model.forward(x, 3, { tap: 'act' })).shape, [3, 8, 12, 12]);
    assert.deepEqual((await model.forward(x, 3, { tap: 'act', pool: true })).shape, [3, 8]);
  });

  it('reads and writes weights exactly', async () => {
    const a = await Model.create(tinyCnn({ batchnorm: true }), { seed: 9 });
    await losses(a, 3);
    const b = await Model.create(tinyCnn({ batchnorm: true }), { seed: 10 });
    await b.setWeights(await a.getWeights());
    const x = randomInput(2, 144);
    assert.deepEqual((await b.forward(x, 2)).data, (await a.forward(x, 2)).data);
  });

  it('fit pushes the schedule to the engine: a rate stepped to ~0 stops the weights moving', async () => {
    const model = await Model.create(tinyCnn(), { seed: 12 });
    const data = quadrantSet(32, 3);
    const initial = (await model.getWeights()).get('head.weight')!.data;
    const afterEpoch: Promise<Float32Array>[] = [];
    await fit(model, data, {
      epochs: 2,
      batchSize: 8,
      optimizer: { type: 'sgd', lr: 0.1, momentum: 0 },
      schedule: { schedule: { type: 'step', everyEpochs: 1, gamma: 1e-12 } },
      // Calls on a model run in order, so this reads the weights as they are at the epoch's end.
      onEpoch: () => {
        afterEpoch.push(model.getWeights().then((w) => w.get('head.weight')!.data));
      },
    });
    const [first, second] = await Promise.all(afterEpoch);
    const maxDiff = (a: Float32Array, b: Float32Array) =>
      a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
    assert.ok(maxDiff(initial, first!) > 1e-3, 'epoch 1 at the full rate moves the weights');
    assert.ok(maxDiff(first!, second!) < 1e-9, 'epoch 2 at 1e-13 does not');
  });
});
