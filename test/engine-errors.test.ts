import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLoupeError, type ErrorCode } from '../src/errors/loupe-error.js';
import { Model } from '../src/engine/model.js';
import { resolveSpec } from '../src/engine/spec/resolve.js';
import type { ModelSpecInput } from '../src/engine/spec/schema.js';

const spec: ModelSpecInput = {
  input: { channels: 1, height: 4, width: 4 },
  layers: [{ type: 'flatten' }, { type: 'linear', name: 'head', out: 3 }],
};

const code = (c: ErrorCode, pattern?: RegExp) => (e: unknown) =>
  isLoupeError(e, c) && (!pattern || pattern.test(e.message))
    ? true
    : assert.fail(`expected ${c} ${pattern ?? ''}, got ${String(e)}`);

describe('engine errors are exceptions with clear messages, never crashes', () => {
  it('wrong input size', async () => {
    const m = await Model.create(spec);
    await assert.rejects(
      async () => m.forward(new Float32Array(15), 1),
      code('SHAPE_MISMATCH', /holds 15 values.*needs 16/),
    );
  });

  it('wrong dtypes', async () => {
    const m = await Model.create(spec);
    await m.configureOptimizer({ type: 'adam', lr: 1e-3 });
    await assert.rejects(
      async () => m.forward(new Float64Array(16) as unknown as Float32Array, 1),
      code('DTYPE_MISMATCH', /Float32Array, got Float64Array/),
    );
    await assert.rejects(
      async () =>
        m.trainBatch({
          x: new Float32Array(16),
          size: 1,
          labels: new Float32Array(1) as unknown as Int32Array,
        }),
      code('DTYPE_MISMATCH', /labels must be an Int32Array/),
    );
  });

  it('labels out of range and mismatched counts', async () => {
    const m = await Model.create(spec);
    await m.configureOptimizer({ type: 'adam', lr: 1e-3 });
    await assert.rejects(
      async () => m.trainBatch({ x: new Float32Array(16), size: 1, labels: Int32Array.of(3) }),
      code('INVALID_ARGUMENT', /label 3 is outside 0..2/),
    );
    await assert.rejects(
      async () => m.trainBatch({ x: new Float32Array(32), size: 2, labels: Int32Array.of(0) }),
      code('SHAPE_MISMATCH'),
    );
  });

  it('a NaN loss rejects and leaves the weights untouched', async () => {
    const m = await Model.create(spec, { seed: 1 });
    await m.configureOptimizer({ type: 'sgd', lr: 0.1 });
    const before = await m.getWeights();
    const x = new Float32Array(16).fill(Number.NaN);
    await assert.rejects(
      async () => m.trainBatch({ x, size: 1, labels: Int32Array.of(0) }),
      code('NAN_LOSS', /loss is nan.*weights left unchanged/i),
    );
    assert.deepEqual(await m.getWeights(), before);
  });

  it('unknown layer types are refused by validation and by the engine itself', async () => {
    await assert.rejects(
      async () => Model.create({ ...spec, layers: [{ type: 'lstm' } as never] }),
      code('INVALID_SPEC'),
    );
    const forged = resolveSpec(spec);
    (forged.layers[0] as { type: string }).type = 'lstm';
    await assert.rejects(async () => Model.create(forged), code('INVALID_SPEC', /unknown layer type "lstm"/));
  });

  it('out of memory is an error, not an abort', async () => {
    const huge: ModelSpecInput = {
      input: { channels: 1, height: 1, width: 1 },
      layers: [{ type: 'flatten' }, { type: 'linear', out: 2_000_000 }, { type: 'linear', out: 2_000_000 }],
    };
    await assert.rejects(async () => Model.create(huge), code('OUT_OF_MEMORY'));
  });

  it('unknown taps, missing optimizer, bad options and disposed models', async () => {
    const m = await Model.create(spec);
    await assert.rejects(
      async () => m.forward(new Float32Array(16), 1, { tap: 'nope' }),
      code('INVALID_ARGUMENT', /no tap named "nope"/),
    );
    await assert.rejects(
      async () => m.trainBatch({ x: new Float32Array(16), size: 1, labels: Int32Array.of(0) }),
      code('INVALID_ARGUMENT', /configure an optimizer/),
    );
    assert.throws(() => m.configureOptimizer({ type: 'adam', lr: -1 }), code('INVALID_ARGUMENT'));
    await assert.rejects(
      async () => m.configureOptimizer({ type: 'rmsprop' as never, lr: 1 }),
      code('INVALID_ARGUMENT', /unknown optimizer/),
    );
    await assert.rejects(
      async () => m.freeze(['nothing']),
      code('INVALID_ARGUMENT', /no parameters under "nothing"/),
    );
    await assert.rejects(
      async () => m.setWeights(new Map([['head.weight', { shape: [3, 15], data: new Float32Array(45) }]])),
      code('SHAPE_MISMATCH'),
    );
    await m.dispose();
    await assert.rejects(async () => m.forward(new Float32Array(16), 1), code('DISPOSED'));
  });
});
