import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Model } from '../src/engine/model.js';
import { smallCnnSpec } from '../src/engine/spec/families/vgg.js';
import { randomInput } from './helpers/tiny-data.js';

it('keeps the event loop responsive (timer lag under 50 ms) during a long training call', async () => {
  const model = await Model.create(smallCnnSpec({ channels: 1, height: 28, width: 28 }, 10), { seed: 1 });
  await model.configureOptimizer({ type: 'adam', lr: 1e-3 });
  const n = 2048;
  const x = randomInput(n, 784);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 10);

  let worstLag = 0;
  let ticks = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worstLag = Math.max(worstLag, now - last - 5);
    last = now;
    ticks++;
  }, 5);
  const started = performance.now();
  await model.trainBatch({ x, size: n, labels });
  const took = performance.now() - started;
  clearInterval(timer);

  assert.ok(took > 200, `the call should be long enough to matter (took ${took.toFixed(0)} ms)`);
  assert.ok(ticks > took / 5 / 3, `timers kept firing (${ticks} ticks in ${took.toFixed(0)} ms)`);
  assert.ok(worstLag < 50, `worst timer lag ${worstLag.toFixed(1)} ms`);
});
