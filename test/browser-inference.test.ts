import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { exportOnnx } from '../src/engine/onnx/export-onnx.js';
import { OnnxSession } from '../src/engine/onnx/onnx-session.js';
import { resolveSpec } from '../src/engine/spec/resolve.js';
import { vggSpec } from '../src/engine/spec/families/vgg.js';
import type { TensorMap } from '../src/engine/tensor.js';
import { seededRandom } from '../src/train/random.js';
import { BrowserOnnxError, CHROMIUM, openBrowserOnnx, type BrowserOnnx } from './helpers/browser-onnx.js';
import { seededWeights } from './helpers/seeded-weights.js';

/**
 * A model exported by Loupe must run unchanged in onnxruntime-web, the runtime a web page would
 * use, and agree with onnxruntime-node on the same input.
 */

const TOLERANCE = 1e-4;
const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}`;

// conv → batchnorm → relu → maxpool, twice, then flatten → linear → relu → linear.
const spec = resolveSpec(
  vggSpec({
    name: 'browser-cnn',
    input: { channels: 3, height: 16, width: 16 },
    numClasses: 5,
    filters: [4, 8],
    classifier: [12],
    batchnorm: true,
  }),
);

function seededInput(batch: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  const { channels, height, width } = spec.input;
  return Float32Array.from({ length: batch * channels * height * width }, () => r() * 2 - 1);
}

describe('exported models in onnxruntime-web (Chromium)', { skip }, () => {
  let browser: BrowserOnnx;
  const model = exportOnnx(spec, seededWeights(spec, 11), {
    probs: true,
    taps: ['block1', { tap: 'block2', pool: true }],
  });

  before(async () => {
    browser = await openBrowserOnnx();
  });
  after(async () => {
    await browser?.close();
  });

  test('match onnxruntime-node on every output', async () => {
    const batch = 4;
    const x = seededInput(batch, 5);
    const session = await OnnxSession.open(model, { threads: 1 });
    let node: TensorMap;
    try {
      node = await session.run(x, batch);
    } finally {
      await session.dispose();
    }

    const web = await browser.run(model, { input: { data: x, dims: [batch, 3, 16, 16] } });
    assert.deepEqual(web.consoleErrors, []);
    assert.deepEqual(Object.keys(web.outputs), [...node.keys()]);
    assert.deepEqual(Object.keys(web.outputs), ['logits', 'probs', 'block1', 'block2']);
    assert.deepEqual(
      web.metadata.outputs.map((o) => o.name),
      [...node.keys()],
    );
    assert.deepEqual(web.metadata.inputs[0]?.shape, ['batch', 3, 16, 16]);

    const diffs: string[] = [];
    for (const [name, expected] of node) {
      const got = web.outputs[name]!;
      assert.deepEqual(got.dims, expected.shape, `${name}: shapes differ`);
      let d = 0;
      for (let i = 0; i < got.data.length; i++) d = Math.max(d, Math.abs(got.data[i]! - expected.data[i]!));
      if (Number.isNaN(d)) d = Infinity;
      diffs.push(`${name}=${d.toExponential(1)}`);
      assert.ok(d <= TOLERANCE, `${name}: onnxruntime-web and -node differ by ${d}`);
    }
    console.log(
      `onnxruntime-web ${browser.ortVersion} in Chromium ${browser.browserVersion}: max abs diff ${diffs.join(' ')};` +
        ` load ${web.timings.loadMs.toFixed(0)} ms, create ${web.timings.createMs.toFixed(0)} ms, run ${web.timings.runMs.toFixed(0)} ms`,
    );

    const probs = web.outputs.probs!;
    assert.deepEqual(probs.dims, [batch, 5]);
    for (let s = 0; s < batch; s++) {
      const sum = probs.data.subarray(s * 5, s * 5 + 5).reduce((a, v) => a + v, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5, `sample ${s}: probabilities sum to ${sum}`);
    }
    // A constant output would pass the sums; make sure the input actually matters.
    assert.notDeepEqual(probs.data.subarray(0, 5), probs.data.subarray(5, 10));
  });

  test('compute only the outputs asked for', async () => {
    const x = seededInput(1, 6);
    const web = await browser.run(
      model,
      { input: { data: x, dims: [1, 3, 16, 16] } },
      { outputNames: ['block2'] },
    );
    assert.deepEqual(Object.keys(web.outputs), ['block2']);
    assert.deepEqual(web.outputs.block2!.dims, [1, 8]);
  });

  test('reject a truncated model with a clear error instead of hanging', async () => {
    const started = performance.now();
    await assert.rejects(
      browser.run(model.subarray(0, Math.floor(model.length / 2)), {
        input: { data: seededInput(1, 1), dims: [1, 3, 16, 16] },
      }),
      (e: unknown) => {
        assert.ok(e instanceof BrowserOnnxError, `not a BrowserOnnxError: ${String(e)}`);
        assert.equal(e.phase, 'creating the session');
        // The runtime's own reason, without the minified stack Playwright appends.
        assert.match(e.message, /^onnxruntime-web failed while creating the session: .*(model|protobuf)/i);
        assert.doesNotMatch(e.message, /\n\s+at /);
        return true;
      },
    );
    assert.ok(performance.now() - started < 10_000, 'took too long to fail');
  });

  test('fail with the phase named when the browser takes too long', async () => {
    await assert.rejects(
      browser.run(model, { input: { data: seededInput(1, 1), dims: [1, 3, 16, 16] } }, { timeoutMs: 1 }),
      (e: unknown) =>
        e instanceof BrowserOnnxError && /timed out after 0\.001 s while loading the page/.test(e.message),
    );
  });
});
