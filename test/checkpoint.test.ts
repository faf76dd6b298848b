import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { latestCheckpoint, restoreCheckpoint, saveCheckpoint } from '../src/engine/checkpoint.js';
import { Model, type Batch, type OptimizerOptions } from '../src/engine/model.js';
import type { ModelSpecInput } from '../src/engine/spec/schema.js';
import { loadWeights } from '../src/engine/weights-file.js';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { seededRandom } from '../src/train/random.js';
import { quadrantSet } from './helpers/tiny-data.js';

// One engine thread: parallel reductions may split work differently with another count, and
// "identical" here means bit for bit.
process.env.LOUPE_THREADS = '1';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const spec = (filters = 4): ModelSpecInput => ({
  name: 'tiny',
  input: { channels: 1, height: 12, width: 12 },
  layers: [
    { type: 'conv2d', name: 'conv', out: filters, kernel: 3, padding: 1 },
    { type: 'batchnorm', name: 'bn' },
    { type: 'relu' },
    { type: 'maxpool', kernel: 2 },
    { type: 'flatten' },
    { type: 'dropout', p: 0.3 },
    { type: 'linear', name: 'head', out: 4 },
  ],
});

const data = quadrantSet(32, 3);
const BATCH = 8;
const PIXELS = 144;

/** The trainer's data order is its own business; here step i simply takes batch i mod 4. */
function batch(step: number): Batch {
  const i = step % (data.count / BATCH);
  return {
    x: data.x.subarray(i * BATCH * PIXELS, (i + 1) * BATCH * PIXELS),
    size: BATCH,
    labels: data.labels.subarray(i * BATCH, (i + 1) * BATCH),
  };
}

async function train(model: Model, from: number, steps: number): Promise<number[]> {
  const losses: number[] = [];
  for (let s = from; s < from + steps; s++) losses.push(await model.trainBatch(batch(s)));
  return losses;
}

async function fresh(optimizer: OptimizerOptions, seed: number, filters?: number): Promise<Model> {
  const model = await Model.create(spec(filters), { seed });
  await model.configureOptimizer(optimizer);
  return model;
}

const SGD: OptimizerOptions = { type: 'sgd', lr: 0.05, momentum: 0.9 };
const ADAMW: OptimizerOptions = { type: 'adamw', lr: 1e-2 };
const BEFORE = 5;
const AFTER = 6;

let scratch: string;
let roots = 0;
before(async () => (scratch = await mkdtemp(path.join(tmpdir(), 'loupe-checkpoint-'))));
after(() => rm(scratch, { recursive: true, force: true }));
const newRoot = () => path.join(scratch, `run-${++roots}`);

/** A root with checkpoints of the given epochs, saved from one model trained a step between each. */
async function rootWith(epochs: number[], keep = epochs.length): Promise<{ root: string; model: Model }> {
  const root = newRoot();
  const model = await fresh(ADAMW, 1);
  for (const epoch of epochs) {
    await train(model, epoch, 1);
    await saveCheckpoint(root, model, { epoch, history: [epoch] }, { keep });
  }
  return { root, model };
}

describe('checkpoints resume training exactly', () => {
  for (const optimizer of [SGD, ADAMW]) {
    it(`${optimizer.type}: a restored model continues with identical losses and weights`, async () => {
      const root = newRoot();
      const a = await fresh(optimizer, 1);
      const history = await train(a, 0, BEFORE);
      const dir = await saveCheckpoint(root, a, { epoch: 3, history, phase: 'head' });
      assert.equal(dir, path.join(root, 'epoch-0003'));
      const expected = await train(a, BEFORE, AFTER);
      const expectedWeights = await a.getWeights();

      // Another seed: every bit of state that matters has to come from the checkpoint.
      const b = await fresh(optimizer, 2);
      const found = await latestCheckpoint(root);
      assert.deepEqual(found, { dir, state: { epoch: 3, history, phase: 'head' } });
      assert.deepEqual(await restoreCheckpoint(found!.dir, b), found!.state);
      assert.deepEqual(await train(b, BEFORE, AFTER), expected);
      assert.deepEqual(await b.getWeights(), expectedWeights);

      // Same weights and dropout masks but a fresh optimizer: the first loss agrees, then they part.
      const c = await fresh(optimizer, 2);
      await loadWeights(c, path.join(dir, 'weights.safetensors'));
      await c.setRngState(await readFile(path.join(dir, 'rng.bin')));
      const withoutOptimizer = await train(c, BEFORE, AFTER);
      assert.equal(withoutOptimizer[0], expected[0]);
      assert.notDeepEqual(withoutOptimizer, expected);

      // Same weights and optimizer but the new model's own generator: other dropout masks at once.
      const d = await fresh(optimizer, 2);
      await loadWeights(d, path.join(dir, 'weights.safetensors'));
      await d.setOptimizerState(await readFile(path.join(dir, 'optimizer.bin')));
      assert.notEqual((await train(d, BEFORE, 1))[0], expected[0]);
    });
  }
});

describe('damaged or mismatched checkpoints', () => {
  it('refuse a corrupt optimizer.bin with CORRUPT_FILE and leave the model as it was', async () => {
    const { root } = await rootWith([1]);
    const dir = path.join(root, 'epoch-0001');
    const original = await readFile(path.join(dir, 'optimizer.bin'));
    const model = await fresh(ADAMW, 2);
    const weights = await model.getWeights();
    const optimizerState = await model.getOptimizerState();
    const flipped = Buffer.from(original);
    // Mid-file lies the archive's TorchScript source, which libtorch segfaults on when damaged.
    const mid = Math.floor(flipped.length / 2);
    flipped.writeUInt8(flipped.readUInt8(mid) ^ 0x20, mid);
    for (const bytes of [Buffer.from('not an optimizer'), original.subarray(0, 100), flipped]) {
      await writeFile(path.join(dir, 'optimizer.bin'), bytes);
      await assert.rejects(
        () => restoreCheckpoint(dir, model),
        (e) => isLoupeError(e, 'CORRUPT_FILE') && /optimizer state/.test(e.message),
      );
    }
    assert.deepEqual(await model.getWeights(), weights);
    assert.deepEqual(await model.getOptimizerState(), optimizerState);
    assert.ok(Number.isFinite(await model.trainBatch(batch(0))), 'the model still trains');
  });

  it('refuse damaged random generator state', async () => {
    const model = await fresh(ADAMW, 1);
    const state = Buffer.from(await model.getRngState());
    state.writeUInt8(state.readUInt8(state.length - 1) ^ 1, state.length - 1);
    await assert.rejects(
      () => model.setRngState(state),
      (e) => isLoupeError(e, 'CORRUPT_FILE'),
    );
    await assert.rejects(
      () => model.setRngState(Buffer.from(new Uint8Array(3))),
      (e) => isLoupeError(e, 'CORRUPT_FILE'),
    );
  });

  it('refuse another optimizer type, another spec, and a model without an optimizer', async () => {
    const { root } = await rootWith([1]);
    const dir = path.join(root, 'epoch-0001');
    await assert.rejects(
      async () => restoreCheckpoint(dir, await fresh(SGD, 1)),
      (e) => isLoupeError(e, 'INVALID_ARGUMENT') && /saved from adamw/.test(e.message),
    );
    await assert.rejects(
      async () => restoreCheckpoint(dir, await fresh(ADAMW, 1, 8)),
      (e) => isLoupeError(e, 'INVALID_SPEC') && /another model spec/.test(e.message),
    );
    await assert.rejects(
      async () => restoreCheckpoint(dir, await Model.create(spec(), { seed: 1 })),
      (e) => isLoupeError(e, 'INVALID_ARGUMENT') && /configure an optimizer/.test(e.message),
    );
    const unconfigured = newRoot();
    await assert.rejects(
      async () => saveCheckpoint(unconfigured, await Model.create(spec(), { seed: 1 }), { epoch: 1 }),
      (e) => isLoupeError(e, 'INVALID_ARGUMENT'),
    );
    assert.deepEqual(await readdir(unconfigured), [], 'a failed save leaves nothing behind');
  });

  it('refuse state that JSON would change', async () => {
    const model = await fresh(ADAMW, 1);
    for (const state of [
      { epoch: -1 },
      { epoch: 1.5 },
      { epoch: 1, best: NaN },
      { epoch: 1, seen: new Set() },
    ]) {
      await assert.rejects(
        () => saveCheckpoint(newRoot(), model, state),
        (e) => isLoupeError(e, 'INVALID_ARGUMENT'),
      );
    }
  });
});

describe('finding the latest checkpoint', () => {
  it('is undefined for a root with none, or none yet', async () => {
    assert.equal(await latestCheckpoint(newRoot()), undefined);
    const root = newRoot();
    await mkdir(root);
    assert.equal(await latestCheckpoint(root), undefined);
  });

  it('keeps the newest `keep` folders and points latest at the newest', async () => {
    const { root } = await rootWith([1, 2, 3, 4], 2);
    assert.deepEqual((await readdir(root)).sort(), ['epoch-0003', 'epoch-0004', 'latest']);
    assert.equal(await readFile(path.join(root, 'latest'), 'utf8'), 'epoch-0004\n');
    assert.deepEqual((await latestCheckpoint(root))?.state, { epoch: 4, history: [4] });
  });

  it('falls back to the newest complete folder when latest names a missing or unusable one', async () => {
    const { root } = await rootWith([1, 2]);
    await rm(path.join(root, 'epoch-0002'), { recursive: true });
    assert.deepEqual(await latestCheckpoint(root), {
      dir: path.join(root, 'epoch-0001'),
      state: { epoch: 1, history: [1] },
    });
    for (const pointer of ['../../etc', '', 'epoch-0009']) {
      await writeFile(path.join(root, 'latest'), pointer);
      assert.equal((await latestCheckpoint(root))?.state.epoch, 1);
    }
  });

  it('ignores half-written temporary and incomplete folders, and the next save removes them', async () => {
    const { root, model } = await rootWith([1, 2]);
    const temp = path.join(root, '.tmp-epoch-0009-123-abcd');
    await mkdir(temp);
    await writeFile(path.join(temp, 'state.json'), '{"epoch": 9}');
    await writeFile(path.join(temp, 'weights.safetensors'), 'trunc');
    await mkdir(path.join(root, 'epoch-0008'));
    await writeFile(path.join(root, 'epoch-0008', 'state.json'), '{"epoch": 8}');
    await writeFile(path.join(root, '.latest.123.abcd.tmp'), 'epoch-00');
    assert.equal((await latestCheckpoint(root))?.state.epoch, 2);
    await rm(path.join(root, 'latest'));
    assert.equal((await latestCheckpoint(root))?.state.epoch, 2);

    await saveCheckpoint(root, model, { epoch: 3 });
    assert.deepEqual((await readdir(root)).sort(), ['epoch-0002', 'epoch-0003', 'latest']);
  });

  it('names an unreadable state.json only when no complete checkpoint is left', async () => {
    const { root } = await rootWith([1, 2]);
    const broken = path.join(root, 'epoch-0002', 'state.json');
    await writeFile(broken, '{"epoch": 2, "hist');
    assert.equal((await latestCheckpoint(root))?.state.epoch, 1);
    await rm(path.join(root, 'epoch-0001'), { recursive: true });
    await assert.rejects(
      () => latestCheckpoint(root),
      (e) => isLoupeError(e, 'CORRUPT_FILE') && e.message.includes(broken),
    );
  });

  it('replaces a folder saved again for the same epoch, and drops those of an abandoned later run', async () => {
    const { root, model } = await rootWith([1, 2, 3]);
    await saveCheckpoint(root, model, { epoch: 2, again: true });
    assert.deepEqual((await readdir(root)).sort(), ['epoch-0001', 'epoch-0002', 'latest']);
    assert.deepEqual((await latestCheckpoint(root))?.state, { epoch: 2, again: true });
    await saveCheckpoint(root, model, { epoch: 2, thrice: true }, { keep: 1 });
    assert.deepEqual((await readdir(root)).sort(), ['epoch-0002', 'latest']);
    assert.deepEqual((await latestCheckpoint(root))?.state, { epoch: 2, thrice: true });
  });
});

describe('durability', () => {
  it('leaves a loadable checkpoint wherever a saving process is killed', async () => {
    const root = newRoot();
    const child = `
      import { Model } from ${JSON.stringify(pathToFileURL(path.join(repoRoot, 'src/engine/model.ts')).href)};
      import { saveCheckpoint } from ${JSON.stringify(pathToFileURL(path.join(repoRoot, 'src/engine/checkpoint.ts')).href)};
      const model = await Model.create(${JSON.stringify(spec())}, { seed: 1 });
      await model.configureOptimizer(${JSON.stringify(ADAMW)});
      // Epochs 0,0,1,1,2,2,0,... with keep 1: every save replaces, prunes or abandons something.
      for (let i = 0; ; i++) {
        await saveCheckpoint(${JSON.stringify(root)}, model, { epoch: Math.floor(i / 2) % 3, i }, { keep: 1 });
        if (i === 0) process.stdout.write('saved\\n');
      }`;
    const random = seededRandom(5);
    for (let kill = 0; kill < 4; kill++) {
      const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve, reject) => {
        proc.stdout.once('data', () => resolve());
        proc.once('exit', (code) => reject(new Error(`the saving process exited early (${code})`)));
      });
      await new Promise((r) => setTimeout(r, 20 + random() * 200));
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
      const found = await latestCheckpoint(root);
      assert.ok(found, `no checkpoint after kill ${kill}`);
      assert.deepEqual(await restoreCheckpoint(found.dir, await fresh(ADAMW, 2)), found.state);
    }
  });

  // A real full disk: a 64 KiB tmpfs. Mounting needs root; elsewhere it is skipped.
  const isRoot = process.getuid?.() === 0;
  it('fails with DISK_FULL on a full disk and keeps the previous checkpoint', { skip: !isRoot }, async () => {
    const root = newRoot();
    await mkdir(root);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', root]);
    try {
      await saveCheckpoint(root, await fresh(ADAMW, 1), { epoch: 1 });
      await assert.rejects(
        async () => saveCheckpoint(root, await fresh(ADAMW, 1, 32), { epoch: 2 }),
        (e) => isLoupeError(e, 'DISK_FULL'),
      );
      assert.deepEqual((await readdir(root)).sort(), ['epoch-0001', 'latest']);
      const found = await latestCheckpoint(root);
      assert.ok(found);
      assert.equal(found.state.epoch, 1);
      await restoreCheckpoint(found.dir, await fresh(ADAMW, 2));
    } finally {
      execFileSync('umount', [root]);
    }
  });
});
