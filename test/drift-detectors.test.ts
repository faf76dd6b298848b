import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/load-config.js';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { chiSquareSurvival, chiSquareSurvival1Dof } from '../src/eval/metrics/chi-square-survival.js';
import { betaBinomialUpperTails } from '../src/monitor/drift/beta-binomial-tail.js';
import { confidenceDropTest } from '../src/monitor/drift/confidence-drop.js';
import { driftConfigSchema } from '../src/monitor/drift/drift-config.js';
import { domainClassifierTest } from '../src/monitor/drift/domain-classifier.js';
import { runDriftTests, type DriftSample } from '../src/monitor/drift/drift-tests.js';
import { holm } from '../src/monitor/drift/holm.js';
import { fitLogistic } from '../src/monitor/drift/logistic-regression.js';
import { mmdTest } from '../src/monitor/drift/mmd.js';
import { nearestDistances } from '../src/monitor/drift/nearest-neighbour.js';
import { noveltyFractionTest } from '../src/monitor/drift/novelty-fraction.js';
import { normalUpperQuantile, normalUpperTail } from '../src/monitor/drift/normal-tail.js';
import { predictionDriftTest } from '../src/monitor/drift/prediction-drift.js';
import { project, randomProjection } from '../src/monitor/drift/random-projection.js';
import { rankSumTest } from '../src/monitor/drift/rank-sum.js';
import { seededRandom } from '../src/train/random.js';

/**
 * The drift detectors on data whose truth is known: Gaussian samples from one distribution
 * (false alarms, over many seeds, must stay near or below the level) and from shifted ones (a
 * mean shift and a covariance shift must be caught), plus hand-worked and scipy-checked cases
 * for each statistic.
 */

function gaussian(seed: number) {
  const random = seededRandom(seed);
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** n rows of `dim` standard normal values, each multiplied by `scale` and moved by `shift` (first coordinate only). */
function rows(
  n: number,
  dim: number,
  seed: number,
  o: { shift?: number; scale?: number } = {},
): Float32Array {
  const g = gaussian(seed);
  return Float32Array.from(
    { length: n * dim },
    (_, i) => g() * (o.scale ?? 1) + (i % dim === 0 ? (o.shift ?? 0) : 0),
  );
}

/**
 * The largest false-alarm share of `trials` tests at level `alpha` still consistent with a true
 * rate of alpha: three binomial standard deviations above it.
 */
const allowed = (alpha: number, trials: number) => alpha + 3 * Math.sqrt((alpha * (1 - alpha)) / trials);

describe('distributions', () => {
  it('chi-square tails match the tables at their 5% points and scipy elsewhere', () => {
    // Upper 5% points of chi-square with 1, 2, 5 and 9 degrees of freedom.
    for (const [s, dof] of [
      [3.841458820694124, 1],
      [5.991464547107979, 2],
      [11.070497693516351, 5],
      [16.918977604620448, 9],
    ] as const)
      assert.ok(Math.abs(chiSquareSurvival(s, dof) - 0.05) < 1e-12, `dof ${dof}`);
    // scipy.stats.chi2.sf(s, dof): large dof far in the tail, where e^(-s/2) alone underflows.
    assert.ok(Math.abs(chiSquareSurvival(2000, 1400) / 4.8372729873464064e-24 - 1) < 1e-9);
    assert.ok(Math.abs(chiSquareSurvival(1500, 1400) - 0.031503720989392366) < 1e-12);
    assert.ok(Math.abs(chiSquareSurvival(0.5, 3) - 0.9188914116546758) < 1e-12);
    for (const s of [0.1, 2, 30]) assert.equal(chiSquareSurvival(s, 1), chiSquareSurvival1Dof(s));
    assert.equal(chiSquareSurvival(0, 4), 1);
    assert.throws(() => chiSquareSurvival(1, 0), RangeError);
    assert.throws(() => chiSquareSurvival(1, 2.5), RangeError);
  });

  it('the normal tail and its inverse agree', () => {
    assert.ok(Math.abs(normalUpperTail(1.6448536269514722) - 0.05) < 1e-12);
    assert.ok(Math.abs(normalUpperTail(-1.6448536269514722) - 0.95) < 1e-12);
    for (const p of [0.5, 0.05, 0.0125, 1e-6])
      assert.ok(Math.abs(normalUpperTail(normalUpperQuantile(p)) / p - 1) < 1e-9);
    assert.throws(() => normalUpperQuantile(0), RangeError);
  });
});

describe('rank-sum test', () => {
  it('matches scipy.stats.mannwhitneyu (greater, asymptotic, with ties)', () => {
    const r = rankSumTest([1.2, 3.4, 2.2, 5.0, 5.0, 0.3, 7.1, 2.2], [0.1, 2.2, 1.0, 0.5, 3.3, 0.9]);
    // scipy: statistic 38 (U / 48 = 0.79167), pvalue 0.03984408810753868
    assert.ok(Math.abs(r.auc - 38 / 48) < 1e-12);
    assert.ok(Math.abs(r.pValue - 0.03984408810753868) < 1e-12);
    // The AUC that would sit exactly at the level has p equal to the level.
    assert.ok(r.aucAt(0.05) > 0.5 && r.aucAt(0.05) < r.auc);
  });

  it('says nothing when every value is equal, and refuses an empty side', () => {
    const r = rankSumTest([1, 1, 1], [1, 1]);
    assert.equal(r.auc, 0.5);
    assert.equal(r.pValue, 1);
    assert.throws(() => rankSumTest([], [1]), RangeError);
  });
});

describe('MMD', () => {
  it('computes the unbiased MMD² with the median-heuristic bandwidth, symmetric in its samples', () => {
    const dim = 3;
    const x = rows(30, dim, 1);
    const y = rows(20, dim, 2, { shift: 0.5 });
    const r = mmdTest(x, y, dim, { permutations: 50, seed: 1 });
    // Straight from the definitions, over the pooled sample.
    const pooled = [...Array(50).keys()].map((i) =>
      i < 30 ? x.subarray(i * dim, (i + 1) * dim) : y.subarray((i - 30) * dim, (i - 29) * dim),
    );
    const d2 = (a: Float32Array, b: Float32Array) => a.reduce((s, v, k) => s + (v - b[k]!) ** 2, 0);
    const pairs: number[] = [];
    for (let i = 0; i < 50; i++) for (let j = i + 1; j < 50; j++) pairs.push(d2(pooled[i]!, pooled[j]!));
    pairs.sort((a, b) => a - b);
    const median = pairs[pairs.length >> 1]!;
    assert.ok(Math.abs(r.bandwidth - Math.sqrt(median / 2)) < 1e-9);
    const k = (i: number, j: number) => Math.exp(-d2(pooled[i]!, pooled[j]!) / median);
    let xx = 0;
    let yy = 0;
    let xy = 0;
    for (let i = 0; i < 50; i++)
      for (let j = 0; j < 50; j++) {
        if (i === j) continue;
        if (i < 30 && j < 30) xx += k(i, j);
        else if (i >= 30 && j >= 30) yy += k(i, j);
        else if (i < 30) xy += k(i, j);
      }
    const expected = xx / (30 * 29) + yy / (20 * 19) - (2 * xy) / (30 * 20);
    assert.ok(Math.abs(r.statistic - expected) < 1e-9, `${r.statistic} vs ${expected}`);
    const swapped = mmdTest(y, x, dim, { permutations: 50, seed: 1 });
    assert.ok(Math.abs(swapped.statistic - r.statistic) < 1e-12);
    assert.equal(r.null.length, 50);
    assert.ok(r.pValue >= 1 / 51 && r.pValue <= 1);
  });

  it('raises false alarms at about its level over many seeds', () => {
    const trials = 200;
    let alarms = 0;
    for (let s = 0; s < trials; s++) {
      const r = mmdTest(rows(150, 8, 1000 + s), rows(60, 8, 5000 + s), 8, { permutations: 99, seed: s });
      if (r.pValue <= 0.05) alarms++;
    }
    assert.ok(alarms / trials <= allowed(0.05, trials), `${alarms} of ${trials}`);
  });

  it('catches a mean shift and a covariance shift', () => {
    const reference = rows(300, 8, 11);
    const mean = mmdTest(reference, rows(100, 8, 12, { shift: 0.8 }), 8, { permutations: 200, seed: 1 });
    const spread = mmdTest(reference, rows(100, 8, 13, { scale: 1.6 }), 8, { permutations: 200, seed: 1 });
    assert.ok(mean.pValue <= 0.01, `mean shift p ${mean.pValue}`);
    assert.ok(spread.pValue <= 0.01, `covariance shift p ${spread.pValue}`);
    assert.ok(mean.statistic > Math.max(...mean.null));
  });

  it('refuses samples of fewer than two rows or no permutations', () => {
    assert.throws(() => mmdTest(rows(1, 2, 1), rows(5, 2, 2), 2, { permutations: 10, seed: 0 }), RangeError);
    assert.throws(() => mmdTest(rows(5, 2, 1), rows(5, 2, 2), 2, { permutations: 0, seed: 0 }), RangeError);
  });
});

describe('domain classifier', () => {
  it('fits logistic regression to its optimum (the penalised gradient vanishes)', () => {
    const dim = 4;
    const x = rows(300, dim, 21);
    const g = gaussian(22);
    const y = Array.from({ length: 300 }, (_, i) =>
      x[i * dim]! + 0.5 * x[i * dim + 1]! + 0.8 * g() > 0.2 ? 1 : 0,
    );
    const model = fitLogistic(x, y, dim, { l2: 2 });
    const grad = new Float64Array(dim + 1);
    for (let i = 0; i < 300; i++) {
      let f = model.coef[dim]!;
      for (let k = 0; k < dim; k++) f += model.coef[k]! * x[i * dim + k]!;
      const r = 1 / (1 + Math.exp(-f)) - y[i]!;
      for (let k = 0; k < dim; k++) grad[k]! += r * x[i * dim + k]!;
      grad[dim]! += r;
    }
    for (let k = 0; k < dim; k++) grad[k]! += 2 * model.coef[k]!;
    assert.ok(Math.max(...grad.map(Math.abs)) < 1e-6, `gradient ${[...grad]}`);
    assert.ok(model.coef[0]! > model.coef[1]! && model.coef[1]! > 0, 'the informative features weigh most');
  });

  it('raises false alarms at about its level over many seeds', () => {
    const trials = 200;
    let alarms = 0;
    for (let s = 0; s < trials; s++) {
      const r = domainClassifierTest(rows(300, 16, 100 + s), rows(100, 16, 900 + s), 16, { seed: s, l2: 1 });
      if (r.pValue <= 0.05) alarms++;
    }
    assert.ok(alarms / trials <= allowed(0.05, trials), `${alarms} of ${trials}`);
  });

  it('catches a mean shift and a covariance shift', () => {
    const reference = rows(400, 16, 31);
    const mean = domainClassifierTest(reference, rows(200, 16, 32, { shift: 0.6 }), 16, { seed: 1, l2: 1 });
    const spread = domainClassifierTest(reference, rows(200, 16, 33, { scale: 1.6 }), 16, { seed: 1, l2: 1 });
    assert.ok(mean.pValue <= 0.01 && mean.auc > 0.6, `mean shift AUC ${mean.auc}, p ${mean.pValue}`);
    assert.ok(spread.pValue <= 0.01, `covariance shift AUC ${spread.auc}, p ${spread.pValue}`);
    assert.deepEqual(mean.scored, { reference: 200, window: 100 });
  });
});

describe('novelty fraction', () => {
  it('computes beta-binomial tails exactly', () => {
    // P(C ≥ c) summed term by term in 40-digit arithmetic (mpmath); scipy's betabinom.sf agrees
    // to 1e-9 except far in the tail of n = 1000, where it is off by up to 1e-6 relative.
    const close = (got: number, want: number) =>
      assert.ok(Math.abs(got / want - 1) < 1e-11, `${got} vs ${want}`);
    const window = betaBinomialUpperTails(200, 25, 476);
    close(window[10]!, 0.5230444555295665);
    close(window[20]!, 0.010320206892700617);
    close(window[25]!, 0.000486374000444974);
    const small = betaBinomialUpperTails(10, 2, 9);
    assert.equal(small[0], 1);
    close(small[1]!, 0.7631578947368421);
    close(small[4]!, 0.15170278637770898);
    assert.equal(small[11], 0);
    close(betaBinomialUpperTails(30, 1.5, 20.5)[5]!, 0.12140494789433479);
    // Far in the tail of a large window.
    const large = betaBinomialUpperTails(1000, 25, 476);
    close(large[60]!, 0.20328078539841687);
    close(large[120]!, 2.189371613413989e-6);
    close(large[150]!, 5.160458867214007e-10);
    // A beta this narrow is a fixed probability: the binomial tail, scipy's binom.sf(2, 20, 0.05).
    assert.ok(Math.abs(betaBinomialUpperTails(20, 0.05e9, 0.95e9)[3]! - 0.07548367378849626) < 1e-8);
    for (let c = 1; c < window.length; c++) assert.ok(window[c]! <= window[c - 1]!, 'tails only fall');
    assert.throws(() => betaBinomialUpperTails(-1, 1, 1), RangeError);
    assert.throws(() => betaBinomialUpperTails(2.5, 1, 1), RangeError);
    assert.throws(() => betaBinomialUpperTails(10, 0, 1), RangeError);
    assert.throws(() => betaBinomialUpperTails(10, 1, Number.NaN), RangeError);
  });

  it('finds the nearest point to each query', () => {
    const points = Float32Array.from([0, 0, 3, 4]);
    const d = nearestDistances(points, Float32Array.from([0, 1, 3, 5, 6, 8, -3, -4]), 2);
    assert.deepEqual([...d], [1, 1, 5, 5]);
    assert.throws(() => nearestDistances(new Float32Array(0), Float32Array.from([1, 2]), 2), RangeError);
  });

  /**
   * Embeddings as a classifier makes them: `classes` clusters around their own direction, and
   * `novel` rows from a cluster of a class it never saw.
   */
  function clustered(n: number, seed: number, o: { classes?: number; novel?: number } = {}): Float32Array {
    const dim = 16;
    const g = gaussian(seed);
    const random = seededRandom(seed + 1);
    const novelRows = Math.round(n * (o.novel ?? 0));
    const out = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      const cluster = i < novelRows ? 8 : Math.floor(random() * (o.classes ?? 4));
      for (let k = 0; k < dim; k++) out[i * dim + k] = g() + (k === cluster ? 4 : 0);
    }
    return out;
  }

  it('keeps the share of outliers in unchanged windows at its calibrated rate, over many seeds', () => {
    const trials = 200;
    let shares = 0;
    let expected = 0;
    let alarms = 0;
    for (let s = 0; s < trials; s++) {
      const r = noveltyFractionTest(clustered(400, 100 + s), clustered(200, 5000 + s), 16, { seed: s });
      shares += r.share / trials;
      expected += r.expectedShare / trials;
      if (r.pValue <= 0.05) alarms++;
      assert.equal(r.calibrationRows + r.fitRows, 400);
    }
    // 200 calibration rows: the 191st smallest score is the threshold, 10/201 above it.
    assert.ok(Math.abs(expected - 10 / 201) < 1e-12);
    assert.ok(Math.abs(shares - expected) < 0.008, `mean share ${shares}, expected ${expected}`);
    assert.ok(alarms / trials <= allowed(0.05, trials), `${alarms} of ${trials}`);
  });

  it('keeps its level with the smallest reference, where a binomial tail would not', () => {
    // 20 reference rows leave 10 to calibrate on: the threshold is their largest score, so about
    // 1/11 of unchanged inputs lie above it, and how far above varies a lot from one reference
    // to the next. Binomial(200, 0.05) would alarm on most of these windows.
    const trials = 300;
    let alarms = 0;
    let shares = 0;
    for (let s = 0; s < trials; s++) {
      const r = noveltyFractionTest(clustered(20, 300 + s), clustered(200, 7000 + s), 16, { seed: s });
      assert.ok(Math.abs(r.expectedShare - 1 / 11) < 1e-12);
      shares += r.share / trials;
      if (r.pValue <= 0.05) alarms++;
    }
    assert.ok(Math.abs(shares - 1 / 11) < 0.03, `mean share ${shares}`);
    assert.ok(alarms / trials <= allowed(0.05, trials), `${alarms} of ${trials}`);
  });

  it('catches a novel cluster making up a tenth of the window, and says how much is novel', () => {
    let caught = 0;
    for (let s = 0; s < 10; s++) {
      const r = noveltyFractionTest(clustered(1000, 40 + s), clustered(200, 60 + s, { novel: 0.1 }), 16, {
        seed: s,
      });
      if (r.pValue <= 0.01) caught++;
      assert.ok(r.excessShare > 0.05 && r.excessShare < 0.15, `excess share ${r.excessShare}`);
      // The share at which p would reach 0.01 is where the tail crosses it.
      const critical = Math.round(r.shareAt(0.01)! * 200);
      const tails = betaBinomialUpperTails(200, 500 - Math.ceil(0.95 * 501) + 1, Math.ceil(0.95 * 501));
      assert.ok(tails[critical]! <= 0.01 && tails[critical - 1]! > 0.01);
      assert.equal(r.scores.window.length, 200);
      assert.equal(r.scores.calibration.length, 500);
    }
    assert.equal(caught, 10);
    // The same windows without the novel cluster: no alarm at that level.
    const clean = noveltyFractionTest(clustered(1000, 40), clustered(200, 60), 16, { seed: 0 });
    assert.ok(clean.pValue > 0.01, `p ${clean.pValue}`);
  });

  it('refuses samples too small to split, and says when no count could reach a level', () => {
    assert.throws(() => noveltyFractionTest(clustered(1, 1), clustered(5, 2), 16, { seed: 0 }), RangeError);
    assert.throws(
      () => noveltyFractionTest(clustered(5, 1), new Float32Array(0), 16, { seed: 0 }),
      RangeError,
    );
    // Two rows: one fitted, one to calibrate on; a window of one row can never reach p ≤ 0.01.
    const r = noveltyFractionTest(clustered(2, 1), clustered(1, 2), 16, { seed: 0 });
    assert.equal(r.shareAt(0.01), null);
  });
});

describe('prediction drift', () => {
  const classes = ['a', 'b'];

  it('is silent for equal shares', () => {
    const r = predictionDriftTest(classes, [50, 50], [20, 20]);
    assert.equal(r.chiSquare, 0);
    assert.equal(r.pValue, 1);
    assert.ok(Math.abs(r.psi) < 1e-12);
  });

  it('works a 2 × 2 table by hand', () => {
    // Counts (ref 100, 100; window 150, 50): expected 125 and 75 on each side, so
    // χ² = 2·25²/125 + 2·25²/75 = 26.667 with one degree of freedom.
    const r = predictionDriftTest(classes, [100, 100], [150, 50]);
    assert.ok(Math.abs(r.chiSquare - 80 / 3) < 1e-9);
    assert.equal(r.dof, 1);
    assert.equal(r.pValue, chiSquareSurvival1Dof(80 / 3));
    // Shares with ½ added to each count: reference ½, ½; window 150.5/201, 50.5/201.
    const w = [150.5 / 201, 50.5 / 201];
    const psi = (w[0]! - 0.5) * Math.log(w[0]! / 0.5) + (w[1]! - 0.5) * Math.log(w[1]! / 0.5);
    assert.ok(Math.abs(r.psi - psi) < 1e-12);
    assert.ok(Math.abs(r.psi - 0.2716) < 1e-3);
  });

  it('matches scipy.stats.chi2_contingency on a 2 × 4 table', () => {
    const r = predictionDriftTest(['a', 'b', 'c', 'd'], [300, 300, 300, 100], [30, 90, 60, 20]);
    // scipy (correction=False): 25.174825174825177, p 1.4193957298735389e-05, dof 3
    assert.ok(Math.abs(r.chiSquare - 25.174825174825177) < 1e-9);
    assert.ok(Math.abs(r.pValue / 1.4193957298735389e-5 - 1) < 1e-9);
    assert.equal(r.dof, 3);
  });

  it('pools classes the window would see fewer than five of', () => {
    const r = predictionDriftTest(['a', 'b', 'c', 'd', 'e'], [500, 480, 10, 5, 5], [50, 46, 2, 2, 0]);
    assert.deepEqual(r.pooled, ['c', 'd', 'e']);
    assert.equal(r.dof, 2);
    // A class neither side predicts is left out rather than pooled.
    assert.deepEqual(predictionDriftTest(['a', 'b', 'c'], [50, 50, 0], [30, 30, 0]).dof, 1);
    assert.throws(() => predictionDriftTest(classes, [0, 0], [1, 1]), RangeError);
    assert.throws(() => predictionDriftTest(classes, [1, 1, 1], [1, 1]), RangeError);
  });
});

describe('confidence drop', () => {
  it('alarms when the window is less sure, and only then', () => {
    const g = gaussian(41);
    const squash = (v: number) => 1 / (1 + Math.exp(-v));
    const reference = Array.from({ length: 400 }, () => squash(2 + g()));
    const lower = confidenceDropTest(
      reference,
      Array.from({ length: 150 }, () => squash(1.5 + g())),
    );
    const higher = confidenceDropTest(
      reference,
      Array.from({ length: 150 }, () => squash(2.5 + g())),
    );
    assert.ok(lower.pValue < 1e-3, `p ${lower.pValue}`);
    assert.ok(lower.windowMean < lower.referenceMean);
    assert.ok(higher.pValue > 0.9, 'one-sided: more confidence is no alarm');
    // Hand case: every reference value above every window value.
    const apart = confidenceDropTest([0.9, 0.95, 0.99], [0.5, 0.6]);
    assert.equal(apart.auc, 1);
  });
});

describe('Holm', () => {
  it('steps down until a p-value fails, and no further', () => {
    // Sorted: 0.001 ≤ 0.05/4, 0.01 ≤ 0.05/3, 0.03 > 0.05/2: the last two are kept.
    const d = holm([0.03, 0.001, 0.04, 0.01], 0.05);
    assert.deepEqual(d.rejected, [false, true, false, true]);
    assert.deepEqual(d.thresholds, [0.025, 0.0125, 0.05, 0.05 / 3]);
    // 0.04 would pass its own level (0.05) but comes after a failure.
    assert.deepEqual(holm([0.03, 0.04], 0.05).rejected, [false, false]);
    assert.deepEqual(holm([], 0.05), { thresholds: [], rejected: [] });
  });
});

describe('random projection', () => {
  it('keeps distances on average and is the identity when there is nothing to reduce', () => {
    const p = randomProjection(256, 32, 3);
    const x = rows(40, 256, 51);
    const y = project(p, x);
    let ratio = 0;
    for (let i = 1; i < 40; i++) {
      const before = x.subarray(0, 256).reduce((s, v, k) => s + (v - x[i * 256 + k]!) ** 2, 0);
      const afterward = y.subarray(0, 32).reduce((s, v, k) => s + (v - y[i * 32 + k]!) ** 2, 0);
      ratio += afterward / before / 39;
    }
    assert.ok(Math.abs(ratio - 1) < 0.15, `mean squared-distance ratio ${ratio}`);
    assert.deepEqual(project(randomProjection(256, 32, 3), x), y, 'the same seed, the same map');
    const identity = randomProjection(16, 32, 3);
    assert.equal(identity.matrix, null);
    assert.equal(project(identity, x), x);
  });
});

describe('combined verdict', () => {
  const classes = ['a', 'b', 'c'];
  const settings = {
    alpha: 0.05,
    permutations: 99,
    seed: 0,
    tests: { mmd: true, classifier: true, novelty: true, predictions: true, confidence: true },
  };

  /** A model's view of n inputs: embeddings, and predictions and confidences that follow from them. */
  function sample(n: number, seed: number, o: { shift?: number; scale?: number } = {}): DriftSample {
    const dim = 12;
    const embedding = rows(n, dim, seed, o);
    const predicted = Int32Array.from({ length: n }, (_, i) =>
      embedding[i * dim]! < -0.4 ? 0 : embedding[i * dim]! < 0.4 ? 1 : 2,
    );
    const confidence = Float32Array.from(
      { length: n },
      (_, i) => 1 / (1 + Math.exp(-Math.abs(embedding[i * dim + 1]!) * 2)),
    );
    return { embedding, dim, predicted, confidence };
  }

  it('keeps the family-wise false-alarm rate at about alpha over many seeds', () => {
    const trials = 150;
    let alarms = 0;
    for (let s = 0; s < trials; s++) {
      const r = runDriftTests(classes, sample(200, 3000 + s), sample(100, 7000 + s), {
        ...settings,
        seed: s,
      });
      assert.equal(r.tests.length, 5);
      if (r.drift) alarms++;
    }
    assert.ok(alarms / trials <= allowed(0.05, trials), `${alarms} of ${trials}`);
  });

  it('alarms on a shift and says which tests saw it', () => {
    const r = runDriftTests(classes, sample(300, 61), sample(100, 62, { shift: 1 }), settings);
    assert.equal(r.drift, true);
    const byTest = Object.fromEntries(r.tests.map((t) => [t.test, t]));
    assert.equal(byTest.mmd!.drift, true);
    assert.equal(byTest.predictions!.drift, true, 'the shifted coordinate decides the class');
    for (const t of r.tests) assert.ok(t.threshold >= 0.05 / 5 && t.threshold <= 0.05);
    assert.ok(r.mmdNull && r.mmdNull.length === 99);
    assert.ok(byTest.classifier!.critical! > 0.5, 'the AUC the classifier would need');
  });

  it('skips the embedding tests, saying why, when there are no embeddings', () => {
    const window = { ...sample(100, 71), embedding: null, dim: 0 };
    const r = runDriftTests(classes, sample(300, 72), window, settings);
    assert.deepEqual(
      r.tests.map((t) => t.test),
      ['predictions', 'confidence'],
    );
    assert.deepEqual(
      r.skipped.map((s) => s.test),
      ['mmd', 'classifier', 'novelty'],
    );
    assert.match(r.skipped[0]!.reason, /no embeddings/);
    // With two tests in the family, each is held to at least alpha/2.
    for (const t of r.tests) assert.ok(t.threshold >= 0.025);
  });

  it('says why embeddings of different sizes cannot be compared', () => {
    const window = sample(100, 81);
    const r = runDriftTests(classes, sample(300, 82), { ...window, dim: 6 }, settings);
    assert.match(r.skipped[0]!.reason, /6 values, the reference's 12/);
  });
});

describe('monitor.drift in loupe.yaml', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'loupe-drift-config-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const load = async (yaml: string) => {
    const file = path.join(dir, 'loupe.yaml');
    await writeFile(file, yaml);
    return loadConfig(file, { env: {} });
  };
  const refused = async (yaml: string, message: RegExp) =>
    assert.rejects(load(yaml), (e: unknown) => {
      assert.ok(isLoupeError(e, 'INVALID_CONFIG'), String(e));
      assert.match(e.message, message);
      return true;
    });

  it('has defaults, and takes settings', async () => {
    const { config } = await load('name: x\n');
    assert.deepEqual(config.monitor.drift, driftConfigSchema.parse({}));
    assert.equal(config.monitor.drift.window, 200);
    const custom = await load(
      'monitor:\n  drift: { window: 500, minWindow: 300, alpha: 0.01, intervalMs: 0, tests: { classifier: false } }\n',
    );
    assert.equal(custom.config.monitor.drift.window, 500);
    assert.equal(custom.config.monitor.drift.tests.classifier, false);
    assert.equal(custom.config.monitor.drift.tests.mmd, true);
  });

  it('refuses bad values with a message naming the key', async () => {
    await refused(
      'monitor:\n  drift: { window: 100, minWindow: 150 }\n',
      /monitor\.drift\.minWindow: must be at most window \(100\), got 150/,
    );
    await refused('monitor:\n  drift: { window: 5 }\n', /monitor\.drift\.window/);
    await refused('monitor:\n  drift: { window: 20.5 }\n', /monitor\.drift\.window/);
    await refused('monitor:\n  drift: { alpha: 0 }\n', /monitor\.drift\.alpha/);
    await refused('monitor:\n  drift: { alpha: 0.9 }\n', /monitor\.drift\.alpha/);
    await refused('monitor:\n  drift: { intervalMs: -1 }\n', /monitor\.drift\.intervalMs/);
    await refused('monitor:\n  drift: { referenceSize: 5 }\n', /monitor\.drift\.referenceSize/);
    await refused('monitor:\n  drift: { windw: 100 }\n', /monitor\.drift/);
    await refused('monitor:\n  drift: { tests: { mmd: yes-please } }\n', /monitor\.drift\.tests\.mmd/);
    await refused(
      'monitor:\n  drift: { tests: { mmd: false, classifier: false, novelty: false, predictions: false, confidence: false } }\n',
      /monitor\.drift\.tests: turn at least one test on/,
    );
    await refused(
      'monitor:\n  drift: { permutations: 50 }\n',
      /monitor\.drift\.permutations: with alpha 0\.05 shared by 5 tests the MMD test needs at least 99 permutations/,
    );
  });
});
