import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { seededRandom } from '../src/train/random.js';
import { AshaPruner, NopPruner } from '../src/train/tune/asha.js';
import { randomSampler, tpeSampler, type Sampler } from '../src/train/tune/samplers.js';
import { parseSearchSpace, searchSpaceSchema, type Params } from '../src/train/tune/search-space.js';
import { runStudy, TrialPruned, type StudyOptions, type TrialContext } from '../src/train/tune/study.js';

const invalidConfig = (input: unknown, mentions: RegExp) =>
  assert.throws(
    () => parseSearchSpace(input),
    (e) => isLoupeError(e, 'INVALID_CONFIG') && mentions.test(e.message),
  );
const invalidArgument = (f: () => unknown) => assert.throws(f, (e) => isLoupeError(e, 'INVALID_ARGUMENT'));

describe('search space', () => {
  it('accepts the explicit forms and fills defaults', () => {
    const space = parseSearchSpace({
      lr: { type: 'float', low: 1e-5, high: 0.1, log: true },
      dropout: { type: 'float', low: 0, high: 0.5 },
      width: { type: 'int', low: 32, high: 256, step: 32 },
      layers: { type: 'int', low: 1, high: 8, log: true },
      optimizer: { type: 'categorical', choices: ['sgd', 'adam', 0, true] },
    });
    assert.deepEqual(space.dropout, { type: 'float', low: 0, high: 0.5, log: false });
    assert.deepEqual(space.layers, { type: 'int', low: 1, high: 8, log: true, step: 1 });
  });

  it('reads the YAML shorthand', () => {
    const space = parseSearchSpace({
      lr: { low: 1e-4, high: 1, log: true },
      opt: { choices: ['sgd', 'adam'] },
    });
    assert.deepEqual(space.lr, { type: 'float', low: 1e-4, high: 1, log: true });
    assert.deepEqual(space.opt, { type: 'categorical', choices: ['sgd', 'adam'] });
    assert.equal(searchSpaceSchema.safeParse({ n: { low: 1, high: 4, step: 1 } }).success, false);
    assert.equal(searchSpaceSchema.safeParse({ n: { low: 1, high: 4, choices: [1] } }).success, false);
  });

  it('rejects nonsense with the parameter named', () => {
    invalidConfig({ lr: { type: 'float', low: 1, high: 0.1 } }, /"lr".*low \(1\) must be below high/);
    invalidConfig({ lr: { low: 0.1, high: 0.1 } }, /"lr"/);
    invalidConfig({ lr: { type: 'float', low: 0, high: 1, log: true } }, /"lr".*log scale needs low > 0/);
    invalidConfig({ n: { type: 'int', low: 0, high: 8, log: true } }, /"n".*low > 0/);
    invalidConfig({ n: { type: 'int', low: 1.5, high: 8 } }, /n\.low/);
    invalidConfig({ n: { type: 'int', low: 0, high: 10, step: 3 } }, /"n".*multiple of step/);
    invalidConfig({ n: { type: 'int', low: 1, high: 9, step: 2, log: true } }, /"n".*cannot be combined/);
    invalidConfig({ opt: { choices: [] } }, /"opt".*at least one choice/);
    invalidConfig({ opt: { choices: ['a', 'a'] } }, /"opt".*twice/);
    invalidConfig({ opt: { type: 'enum', choices: ['a'] } }, /opt/);
    invalidConfig({ lr: { type: 'float', low: 0, high: 1, scale: 'log' } }, /lr.*scale/);
    invalidConfig({}, /no parameters/);
  });
});

const space = parseSearchSpace({
  lr: { type: 'float', low: 1e-6, high: 1, log: true },
  x: { type: 'float', low: -2, high: 2 },
  width: { type: 'int', low: 16, high: 128, step: 16 },
  layers: { type: 'int', low: 1, high: 64, log: true },
  opt: { type: 'categorical', choices: ['sgd', 'adam', 'rmsprop'] },
});

describe('random sampler', () => {
  it('keeps every value inside its distribution and covers it', () => {
    const random = seededRandom(7);
    const samples = Array.from({ length: 2000 }, () => randomSampler().sample(space, [], random));
    for (const p of samples) {
      const { lr, x, width, layers, opt } = p as {
        lr: number;
        x: number;
        width: number;
        layers: number;
        opt: string;
      };
      assert.ok(lr >= 1e-6 && lr <= 1 && x >= -2 && x <= 2);
      assert.ok(Number.isInteger(width) && width >= 16 && width <= 128 && width % 16 === 0);
      assert.ok(Number.isInteger(layers) && layers >= 1 && layers <= 64);
      assert.ok(['sgd', 'adam', 'rmsprop'].includes(opt));
    }
    const share = (f: (p: Params) => boolean) => samples.filter(f).length / samples.length;
    // Log scale: each decade equally likely, so lr < 1e-3 is half the draws, not 0.1%.
    assert.ok(Math.abs(share((p) => (p.lr as number) < 1e-3) - 0.5) < 0.05);
    // Integers own bins of equal log-width, from ln 0.5 to ln 64.5.
    assert.ok(Math.abs(share((p) => (p.layers as number) <= 8) - Math.log(17) / Math.log(129)) < 0.05);
    assert.equal(new Set(samples.map((p) => p.width)).size, 8);
    assert.ok(share((p) => p.width === 16) > 0.08 && share((p) => p.width === 128) > 0.08);
    assert.equal(new Set(samples.map((p) => p.opt)).size, 3);
  });
});

/** Minimum at lr = 1e-3, x = 0.7, adam; every term matters. */
function synthetic(p: Params): number {
  const penalty = { sgd: 1, adam: 0, rmsprop: 0.5 }[p.opt as string]!;
  return (Math.log10(p.lr as number) + 3) ** 2 + 4 * ((p.x as number) - 0.7) ** 2 + penalty;
}

const syntheticSpace = {
  lr: { low: 1e-6, high: 1, log: true },
  x: { low: -2, high: 2 },
  opt: { choices: ['sgd', 'adam', 'rmsprop'] },
};

const study = (over: Partial<StudyOptions>) =>
  runStudy({
    space: syntheticSpace,
    sampler: randomSampler(),
    direction: 'minimize',
    budget: { trials: 10 },
    parallel: 1,
    seed: 1,
    objective: async (t) => synthetic(t.params),
    ...over,
  });

describe('TPE', () => {
  it('finds a better optimum than random search with the same trials', async () => {
    const bestOf = async (sampler: Sampler, seed: number) =>
      (await study({ sampler, seed, budget: { trials: 50 } })).best!.value!;
    const seeds = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    const mean = async (make: () => Sampler) =>
      (await Promise.all(seeds.map((s) => bestOf(make(), s)))).reduce((a, b) => a + b, 0) / seeds.length;
    const random = await mean(randomSampler);
    const tpe = await mean(() => tpeSampler({ direction: 'minimize' }));
    console.log(
      `mean best over ${seeds.length} seeds, 50 trials: random ${random.toFixed(4)}, tpe ${tpe.toFixed(4)}`,
    );
    assert.ok(tpe < random / 2, `tpe ${tpe} is not clearly better than random ${random}`);
  });

  it('samples at random until startupTrials have finished, and stays in bounds after', () => {
    const tpe = tpeSampler({ direction: 'maximize', startupTrials: 3 });
    const rnd = randomSampler();
    const history = [0, 1].map((i) => ({
      params: rnd.sample(space, [], seededRandom(i)),
      value: i,
      state: 'complete' as const,
      intermediate: [],
    }));
    assert.deepEqual(
      tpe.sample(space, history, seededRandom(9)),
      rnd.sample(space, history, seededRandom(9)),
    );
    const more = [...history];
    for (let i = 0; i < 30; i++) {
      const params = tpe.sample(space, more, seededRandom(100 + i));
      const { lr, width, layers } = params as { lr: number; width: number; layers: number };
      assert.ok(lr >= 1e-6 && lr <= 1 && width % 16 === 0 && width <= 128 && Number.isInteger(layers));
      assert.ok(layers >= 1 && layers <= 64 && ['sgd', 'adam', 'rmsprop'].includes(params.opt as string));
      more.push({ params, value: -synthetic({ ...params, x: 0 }), state: 'complete', intermediate: [] });
    }
  });

  it('rejects nonsense settings', () => {
    invalidArgument(() => tpeSampler({ direction: 'minimize', gamma: 1 }));
    invalidArgument(() => tpeSampler({ direction: 'minimize', candidates: 0 }));
    invalidArgument(() => tpeSampler({ direction: 'minimize', startupTrials: -1 }));
    invalidArgument(() => tpeSampler({ direction: 'up' as 'minimize' }));
  });
});

describe('ASHA', () => {
  it('places rungs at minResource·η^k below maxResource', () => {
    assert.deepEqual(
      new AshaPruner({ minResource: 1, maxResource: 81, direction: 'maximize' }).rungs,
      [1, 3, 9, 27],
    );
    assert.deepEqual(
      new AshaPruner({ minResource: 2, maxResource: 20, reductionFactor: 2, direction: 'maximize' }).rungs,
      [2, 4, 8, 16],
    );
  });

  it('keeps the top 1/η at each rung, judged against what reached it so far', () => {
    const asha = new AshaPruner({ minResource: 1, maxResource: 27, direction: 'maximize' });
    // Rung 1: fewer than η values → continue; then the top floor(n/3) of all values so far.
    assert.equal(asha.report(0, 1, 0.5), 'continue'); // [0.5]
    assert.equal(asha.report(1, 1, 0.6), 'continue'); // [0.5 0.6]
    assert.equal(asha.report(2, 1, 0.4), 'prune'); // n=3, keep 1: 0.6 leads
    assert.equal(asha.report(3, 1, 0.7), 'continue'); // n=4, keep 1: 0.7 leads
    assert.equal(asha.report(4, 1, 0.55), 'prune'); // n=5, keep 1
    assert.equal(asha.report(5, 1, 0.65), 'continue'); // n=6, keep 2: only 0.7 is better
    // Between rungs nothing is judged.
    assert.equal(asha.report(0, 2, -100), 'continue');
    // Rung 3 has its own record.
    assert.equal(asha.report(0, 3, 0.9), 'continue');
    assert.equal(asha.report(1, 3, 0.1), 'continue');
    assert.equal(asha.report(3, 3, 0.2), 'prune'); // n=3, keep 1: 0.9 leads
    // A report may skip rungs: trial 5 counts at 3 (n=4, keep 1, 0.9 leads) and at 9 (n=1).
    assert.equal(asha.report(5, 10, 0.8), 'prune');
    // A trial is recorded once per rung.
    assert.equal(asha.report(1, 3, 0), 'continue');
  });

  it('minimizes when asked', () => {
    const asha = new AshaPruner({
      minResource: 1,
      maxResource: 9,
      reductionFactor: 2,
      direction: 'minimize',
    });
    assert.equal(asha.report(0, 1, 0.3), 'continue');
    assert.equal(asha.report(1, 1, 0.1), 'continue'); // n=2, keep 1, best
    assert.equal(asha.report(2, 1, 0.2), 'prune'); // n=3, keep 1
    assert.equal(asha.report(3, 1, NaN), 'prune');
  });

  it('never prunes below the first rung', () => {
    const asha = new AshaPruner({ minResource: 4, maxResource: 64, direction: 'maximize' });
    for (let trial = 0; trial < 20; trial++)
      for (let step = 0; step < 4; step++) assert.equal(asha.report(trial, step, -trial), 'continue');
  });

  it('rejects nonsense settings', () => {
    invalidArgument(() => new AshaPruner({ minResource: 0, maxResource: 9, direction: 'maximize' }));
    invalidArgument(() => new AshaPruner({ minResource: 9, maxResource: 9, direction: 'maximize' }));
    invalidArgument(
      () => new AshaPruner({ minResource: 1, maxResource: 9, reductionFactor: 1.5, direction: 'maximize' }),
    );
  });

  it('the nop pruner never prunes', () => {
    assert.equal(new NopPruner().report(), 'continue');
  });
});

/** Sleeps, giving up when the trial is aborted. */
const nap = (t: TrialContext, ms: number) => sleep(ms, undefined, { signal: t.signal });

describe('runStudy', () => {
  it('runs exactly the trial budget and picks the best complete trial', async () => {
    const seen: number[] = [];
    const r = await study({ budget: { trials: 7 }, onTrial: (t) => seen.push(t.number) });
    assert.equal(r.stoppedBy, 'trials');
    assert.deepEqual(
      r.trials.map((t) => t.number),
      [0, 1, 2, 3, 4, 5, 6],
    );
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6]);
    assert.ok(r.trials.every((t) => t.state === 'complete' && t.value === synthetic(t.params)));
    assert.equal(r.best!.value, Math.min(...r.trials.map((t) => t.value!)));
  });

  it('is deterministic for a seed with parallel = 1', async () => {
    const run = (seed: number) =>
      study({
        sampler: tpeSampler({ direction: 'minimize', startupTrials: 5 }),
        budget: { trials: 20 },
        seed,
      });
    const [a, b, c] = await Promise.all([run(3), run(3), run(4)]);
    const points = (r: Awaited<ReturnType<typeof run>>) => r.trials.map((t) => [t.params, t.value]);
    assert.deepEqual(points(a), points(b));
    assert.notDeepEqual(points(a), points(c));
  });

  it('stays within its time budget, aborting what is in flight', async () => {
    const started = Date.now();
    const r = await study({
      budget: { seconds: 0.5 },
      parallel: 2,
      objective: async (t) => {
        for (let step = 0; step < (t.number === 3 ? 100 : 2); step++) {
          await nap(t, 60);
          t.report(step, step);
        }
        return 1;
      },
    });
    const took = (Date.now() - started) / 1000;
    assert.ok(took < 0.5 + 0.25, `took ${took}s`);
    assert.equal(r.stoppedBy, 'time');
    const cut = r.trials.filter((t) => t.note === 'time budget');
    assert.ok(cut.some((t) => t.number === 3));
    for (const t of cut) {
      // Cut after reporting: pruned with its last value; cut before: failed, nothing to show.
      const last = t.intermediate.at(-1);
      if (last) assert.ok(t.state === 'pruned' && t.value === last[1]);
      else assert.ok(t.state === 'failed' && t.error === 'time budget');
    }
    assert.ok(r.trials.filter((t) => t.state === 'complete').length >= 2);
  });

  it('stops launching when the next trial would not fit in the time left', async () => {
    const started = Date.now();
    const r = await study({ budget: { seconds: 0.38 }, objective: async (t) => (await nap(t, 100), 1) });
    // Three trials fit; a fourth, launched at ~0.3 s, would have been cut at the deadline.
    assert.ok(Date.now() - started < 380);
    assert.equal(r.trials.length, 3);
    assert.equal(r.stoppedBy, 'time');
    assert.ok(r.trials.every((t) => t.state === 'complete'));
  });

  it('runs `parallel` trials at once and never more', async () => {
    let active = 0;
    let peak = 0;
    const r = await study({
      budget: { trials: 10 },
      parallel: 3,
      objective: async (t) => {
        peak = Math.max(peak, ++active);
        await nap(t, 20 + (t.number % 3) * 10);
        active--;
        return 0;
      },
    });
    assert.equal(peak, 3);
    assert.equal(r.trials.length, 10);
  });

  it('records failing trials and carries on; they never become best', async () => {
    const r = await study({
      direction: 'maximize',
      budget: { trials: 6 },
      objective: async (t) => {
        if (t.number % 2 === 0) throw new Error(`boom ${t.number}`);
        if (t.number === 5) return NaN;
        return t.number;
      },
    });
    assert.deepEqual(
      r.trials.map((t) => t.state),
      ['failed', 'complete', 'failed', 'complete', 'failed', 'failed'],
    );
    assert.equal(r.trials[2]!.error, 'boom 2');
    assert.match(r.trials[5]!.error!, /NaN/);
    assert.equal(r.best!.number, 3);
  });

  it('records pruned trials with their last reported value', async () => {
    const pruner = new AshaPruner({ minResource: 1, maxResource: 9, direction: 'maximize' });
    const r = await study({
      direction: 'maximize',
      pruner,
      budget: { trials: 6 },
      objective: async (t) => {
        const quality = [0.5, 0.6, 0.4, 0.7, 0.3, 0.2][t.number]!;
        for (let step = 1; step <= 9; step++) {
          t.report(step, quality);
          if (t.shouldPrune()) {
            if (t.number === 4) return 0; // returning early counts as pruned too
            throw new TrialPruned();
          }
        }
        return quality;
      },
    });
    assert.deepEqual(
      r.trials.map((t) => t.state),
      ['complete', 'complete', 'pruned', 'complete', 'pruned', 'pruned'],
    );
    assert.deepEqual(r.trials[2]!.intermediate, [[1, 0.4]]);
    assert.equal(r.trials[4]!.value, 0.3);
    assert.equal(r.best!.number, 3);
  });

  it('stops at Ctrl-C, aborting running trials and keeping what finished', async () => {
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(), 150);
    const started = Date.now();
    const r = await study({
      budget: { trials: 100 },
      parallel: 2,
      signal: ctrl.signal,
      objective: async (t) => (await nap(t, 60), 1),
    });
    assert.ok(Date.now() - started < 300);
    assert.equal(r.stoppedBy, 'interrupted');
    assert.ok(r.trials.filter((t) => t.state === 'complete').length >= 2);
    const cut = r.trials.filter((t) => t.note === 'interrupted');
    assert.equal(cut.length, 2);
    assert.ok(cut.every((t) => t.state === 'failed' && t.error === 'interrupted'));
    assert.equal((await study({ signal: AbortSignal.abort() })).trials.length, 0);
  });

  it('stops when a finite space has been covered', async () => {
    const r = await study({
      space: { a: { type: 'int', low: 0, high: 1 }, b: { choices: [true, false] } },
      budget: { trials: 100 },
    });
    assert.equal(r.stoppedBy, 'exhausted');
    assert.equal(new Set(r.trials.map((t) => JSON.stringify(t.params))).size, 4);
  });

  it('rejects nonsense options', async () => {
    const rejects = (over: Partial<StudyOptions>) =>
      assert.rejects(study(over), (e) => isLoupeError(e, 'INVALID_ARGUMENT'));
    await rejects({ budget: {} });
    await rejects({ budget: { trials: 0 } });
    await rejects({ budget: { seconds: -1 } });
    await rejects({ parallel: 0 });
    await rejects({ seed: 0.5 });
    await rejects({ sampler: tpeSampler({ direction: 'maximize' }) });
    await rejects({ pruner: new AshaPruner({ minResource: 1, maxResource: 3, direction: 'maximize' }) });
    await assert.rejects(study({ space: { lr: { low: 1, high: 0 } } }), (e) =>
      isLoupeError(e, 'INVALID_CONFIG'),
    );
  });
});
