import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { Model } from '../src/engine/model.js';
import { writeSafetensors } from '../src/engine/safetensors.js';
import { vggSpec } from '../src/engine/spec/families/vgg.js';
import { loadWeights, modelFromWeightsFile, saveWeights } from '../src/engine/weights-file.js';
import { quadrantSet, randomInput } from './helpers/tiny-data.js';

const spec = vggSpec({
  input: { channels: 1, height: 12, width: 12 },
  numClasses: 4,
  filters: [4, 8],
  classifier: [16],
  batchnorm: true,
  dropout: 0.1,
});
let dir: string;
before(async () => (dir = await mkdtemp(path.join(tmpdir(), 'loupe-weights-'))));
after(() => rm(dir, { recursive: true, force: true }));

async function trained(): Promise<Model> {
  const m = await Model.create(spec, { seed: 3 });
  const data = quadrantSet(16);
  await m.configureOptimizer({ type: 'adam', lr: 1e-2 });
  for (let i = 0; i < 3; i++) await m.trainBatch({ x: data.x, size: 16, labels: data.labels });
  return m;
}

describe('weights files (.safetensors)', () => {
  it('round-trips a trained model exactly, spec included', async () => {
    const a = await trained();
    const file = path.join(dir, 'a.safetensors');
    await saveWeights(a, file, { run: 'r1' });
    const x = randomInput(3, 144);
    const { model: b, metadata } = await modelFromWeightsFile(file);
    assert.equal(metadata.run, 'r1');
    assert.deepEqual(b.spec, a.spec);
    assert.deepEqual((await b.forward(x, 3)).data, (await a.forward(x, 3)).data);
    const c = await Model.create(spec, { seed: 99 });
    await loadWeights(c, file);
    assert.deepEqual((await c.forward(x, 3, 'probs')).data, (await a.forward(x, 3, 'probs')).data);
  });

  it('refuses files for another architecture, without a spec, or corrupt', async () => {
    const other = await Model.create(
      vggSpec({
        input: { channels: 1, height: 12, width: 12 },
        numClasses: 4,
        filters: [4, 16],
        classifier: [16],
      }),
    );
    const file = path.join(dir, 'b.safetensors');
    await saveWeights(await trained(), file);
    await assert.rejects(
      () => loadWeights(other, file),
      (e) => isLoupeError(e, 'SHAPE_MISMATCH'),
    );

    const bare = path.join(dir, 'bare.safetensors');
    await writeSafetensors(bare, await other.getWeights());
    await assert.rejects(
      () => modelFromWeightsFile(bare),
      (e) => isLoupeError(e, 'CORRUPT_FILE') && /does not record its model spec/.test(e.message),
    );

    const junk = path.join(dir, 'junk.safetensors');
    await writeFile(junk, 'not a weights file at all');
    await assert.rejects(
      () => modelFromWeightsFile(junk),
      (e) => isLoupeError(e, 'CORRUPT_FILE'),
    );
  });
});
