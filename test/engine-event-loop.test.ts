import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Model } from '../src/engine/model.js';
import { smallCnnSpec } from '../src/engine/spec/families/vgg.js';
import { randomInput } from './helpers/tiny-data.js';

it('keeps the event loop responsive during a long training call (no stall of more than a quarter of it)', async () => {
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
  // A call on the event loop would stall timers for its whole length. Off it, a quiet machine
  // shows lags of a few ms; a loaded one (CI, other suites) can deschedule the thread for tens of
  // ms, so the bound scales with the call, which slows down under the same load.
  const bound = Math.max(50, took / 4);
  assert.ok(
    worstLag < bound,
    `worst timer lag ${worstLag.toFixed(1)} ms (bound ${bound.toFixed(0)} ms, call ${took.toFixed(0)} ms)`,
  );
});
