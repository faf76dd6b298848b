import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { classificationReport } from '../src/eval/metrics/classification-report.js';
import { hardestMistakes } from '../src/eval/metrics/hardest-mistakes.js';
import { findLabelIssues } from '../src/eval/metrics/label-issues.js';
import { mcnemar } from '../src/eval/metrics/mcnemar.js';
import { pairedBootstrap } from '../src/eval/metrics/paired-bootstrap.js';
import { fitTemperature, softmaxWithTemperature } from '../src/eval/metrics/temperature-scaling.js';
import { seededRandom } from '../src/train/random.js';
import {
  scipyMcnemar,
  scipyTemperature,
  sklearnClassification,
  skipWithoutReference,
} from './helpers/eval-reference.js';

const close = (actual: number, expected: number, eps = 1e-12, what = '') =>
  assert.ok(Math.abs(actual - expected) <= eps, `${what} ${actual} ≈ ${expected} (±${eps})`);
const closeAll = (actual: number[], expected: number[], eps: number, what: string) => {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((a, i) => close(a, expected[i]!, eps, `${what}[${i}]`));
};
const invalidArgument = (pattern: RegExp) => (e: unknown) =>
  isLoupeError(e, 'INVALID_ARGUMENT') && pattern.test(e.message);

const count = (labels: Int32Array, c: number) => labels.filter((l) => l === c).length;

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

function softmaxRows(logits: number[], k: number, out: Float32Array | Float64Array): void {
  for (let row = 0; row < logits.length; row += k) {
    const max = Math.max(...logits.slice(row, row + k));
    const e = logits.slice(row, row + k).map((z) => Math.exp(z - max));
    const sum = e.reduce((a, b) => a + b, 0);
    e.forEach((v, c) => (out[row + c] = v / sum));
  }
}

interface Synthetic {
  n: number;
  k: number;
  seed: number;
  float32?: boolean;
  /** Relative frequency of each class among the labels (uniform by default). */
  weights?: number[];
  /** A class pushed down so far that it is never the top prediction. */
  neverPredicted?: number;
  /** Round each row to multiples of 1/20, so scores tie within and across classes. */
  quantized?: boolean;
}

/** Labels and softmax probabilities of a noisy model that favours the true class. */
function synthetic(o: Synthetic): { probs: Float32Array | Float64Array; labels: Int32Array } {
  const random = seededRandom(o.seed);
  const weights = o.weights ?? new Array<number>(o.k).fill(1);
  const total = weights.reduce((a, b) => a + b, 0);
  const labels = new Int32Array(o.n);
  const logits: number[] = [];
  for (let i = 0; i < o.n; i++) {
    let u = random() * total;
    let label = 0;
    while (u >= weights[label]! || weights[label] === 0) u -= weights[label++]!;
    labels[i] = label;
    for (let c = 0; c < o.k; c++)
      logits.push(gaussian(random) + (c === label ? 1.5 : 0) - (c === o.neverPredicted ? 12 : 0));
  }
  const probs = o.float32 ? new Float32Array(o.n * o.k) : new Float64Array(o.n * o.k);
  softmaxRows(logits, o.k, probs);
  if (o.quantized) {
    for (let row = 0; row < probs.length; row += o.k) {
      const units = [...probs.subarray(row, row + o.k)].map((p) => p * 20);
      const whole = units.map(Math.floor);
      const order = units.map((_, c) => c).sort((a, b) => units[b]! - whole[b]! - (units[a]! - whole[a]!));
      for (const c of order.slice(0, 20 - whole.reduce((a, b) => a + b, 0))) whole[c]!++;
      whole.forEach((w, c) => (probs[row + c] = w / 20));
    }
  }
  return { probs, labels };
}

describe('classificationReport', () => {
  // true:       0    0    0    1    1    2
  // predicted:  0    0    1    1    2    2
  // confidence .70  .65  .50  .85  .50  .85
  const probs = Float64Array.from([
    ...[0.7, 0.2, 0.1],
    ...[0.65, 0.25, 0.1],
    ...[0.3, 0.5, 0.2],
    ...[0.05, 0.85, 0.1],
    ...[0.2, 0.3, 0.5],
    ...[0.05, 0.1, 0.85],
  ]);
  const labels = Int32Array.from([0, 0, 0, 1, 1, 2]);

  it('matches a hand-computed three-class case', () => {
    const r = classificationReport(probs, labels, ['a', 'b', 'c'], { bins: 5, topK: [1, 2, 3] });
    assert.equal(r.n, 6);
    assert.deepEqual(r.confusion, [
      [2, 1, 0],
      [0, 1, 1],
      [0, 0, 1],
    ]);
    assert.deepEqual(r.confusionNormalized[1], [0, 0.5, 0.5]);
    close(r.accuracy, 4 / 6);
    // a: P 2/2 R 2/3 F1 .8 · b: P 1/2 R 1/2 F1 .5 · c: P 1/2 R 1/1 F1 2/3
    assert.deepEqual(
      r.perClass.map((c) => [c.label, c.support]),
      [
        ['a', 3],
        ['b', 2],
        ['c', 1],
      ],
    );
    closeAll(
      r.perClass.map((c) => c.f1),
      [0.8, 0.5, 2 / 3],
      1e-12,
      'f1',
    );
    close(r.macro.precision, (1 + 0.5 + 0.5) / 3);
    close(r.macro.recall, (2 / 3 + 0.5 + 1) / 3);
    close(r.macro.f1, (0.8 + 0.5 + 2 / 3) / 3);
    close(r.weighted.precision, (1 * 3 + 0.5 * 2 + 0.5 * 1) / 6);
    close(r.weighted.recall, 4 / 6);
    close(r.weighted.f1, (0.8 * 3 + 0.5 * 2 + (2 / 3) * 1) / 6);
    // Both misses still have their label second (0.3 under 0.5), so top-2 is perfect; k = 3 is
    // not below the class count and is left out.
    assert.deepEqual(Object.keys(r.topK), ['1', '2']);
    close(r.topK['1']!, 4 / 6);
    close(r.topK['2']!, 1);
    // Bins of width .2: [.4,.6) holds the two misses at .5 (gap .5); [.6,.8) the hits at .7 and
    // .65 (gap 1 − .675); [.8,1] the hits at .85 (gap .15). ECE = 2·(.5 + .325 + .15)/6.
    close(r.ece, 0.325);
    assert.deepEqual(
      r.reliability.map((b) => b.count),
      [0, 0, 2, 2, 2],
    );
    assert.ok(Number.isNaN(r.reliability[0]!.accuracy) && Number.isNaN(r.reliability[0]!.confidence));
    close(r.reliability[3]!.confidence, 0.675);
    close(r.nll, -(Math.log(0.7) + Math.log(0.65) + 2 * Math.log(0.3) + 2 * Math.log(0.85)) / 6);
    // Σ (p − onehot)² per item: .14, .195, .78, .035, .78, .035
    close(r.brier, 1.965 / 6);
    // Class b ranked by p_b: .85+ .5− .3+ .25− .2− .1− → AP = ½·1 + ½·⅔; AUC: .85 beats all four
    // negatives, .3 beats three.
    close(r.pr[1]!.ap, 5 / 6);
    assert.deepEqual(
      r.pr[1]!.points.map((p) => [p.recall, p.precision]),
      [
        [0, 1],
        [0.5, 1],
        [0.5, 0.5],
        [1, 2 / 3],
        [1, 2 / 4],
        [1, 2 / 5],
        [1, 2 / 6],
      ],
    );
    close(r.roc[1]!.auc, 7 / 8);
    close(r.pr[0]!.ap, 1);
    close(r.mapMacro, (1 + 5 / 6 + 1) / 3);
    close(r.rocAucMacro, (1 + 7 / 8 + 1) / 3);
  });

  it('enters tied scores at one threshold', () => {
    // p(yes) = .8+ .5+ .5− .2−: the tie at .5 is one step from (1 tp, 0 fp) to (2 tp, 1 fp).
    const p1 = [0.5, 0.5, 0.8, 0.2];
    const r = classificationReport(
      Float64Array.from(p1.flatMap((p) => [1 - p, p])),
      Int32Array.from([1, 0, 1, 0]),
      ['no', 'yes'],
    );
    close(r.pr[1]!.ap, 0.5 * 1 + 0.5 * (2 / 3));
    assert.deepEqual(
      r.roc[1]!.points.map((p) => [p.fpr, p.tpr]),
      [
        [0, 0],
        [0, 0.5],
        [0.5, 1],
        [1, 1],
      ],
    );
    close(r.roc[1]!.auc, 0.875);
  });

  it('leaves a class without items or predictions out of the averages', () => {
    const four = Float64Array.from([...probs].flatMap((p, i) => (i % 3 === 2 ? [p, 0] : [p])));
    const r = classificationReport(four, labels, ['a', 'b', 'c', 'd']);
    close(r.macro.f1, (0.8 + 0.5 + 2 / 3) / 3);
    assert.deepEqual(r.confusionNormalized[3], [0, 0, 0, 0]);
    assert.ok(Number.isNaN(r.pr[3]!.ap) && Number.isNaN(r.roc[3]!.auc));
    assert.deepEqual(r.pr[3]!.points, []);
    close(r.mapMacro, (1 + 5 / 6 + 1) / 3);
    close(r.rocAucMacro, (1 + 7 / 8 + 1) / 3);
    assert.deepEqual(Object.keys(r.topK), ['1', '3']);
  });

  const cases: [string, Synthetic][] = [
    ['two balanced classes, float64', { n: 500, k: 2, seed: 1 }],
    ['four imbalanced classes, float32', { n: 500, k: 4, seed: 2, float32: true, weights: [70, 20, 8, 2] }],
    [
      'ten classes, one never predicted, float32',
      { n: 500, k: 10, seed: 3, float32: true, neverPredicted: 7 },
    ],
    ['four classes, one without items', { n: 500, k: 4, seed: 4, weights: [3, 2, 1, 0] }],
    ['four classes with tied scores', { n: 500, k: 4, seed: 5, quantized: true }],
  ];
  for (const [name, spec] of cases) {
    it(`agrees with scikit-learn: ${name}`, { skip: skipWithoutReference }, () => {
      const { probs, labels } = synthetic(spec);
      const k = spec.k;
      // The rarest class that has items: scikit-learn draws no curve without positives, and a rare
      // class's curve is the most jagged.
      const curveClass = [...Array(k).keys()]
        .filter((c) => labels.includes(c))
        .sort((a, b) => count(labels, a) - count(labels, b))[0]!;
      const r = classificationReport(
        probs,
        labels,
        Array.from({ length: k }, (_, c) => `c${c}`),
        { bins: 15 },
      );
      const ref = sklearnClassification(probs, labels, k, curveClass, 15);
      // The datasets must show what they are named for, or the comparison proves less than it says.
      if (spec.neverPredicted !== undefined)
        assert.ok(r.confusion.every((row) => row[spec.neverPredicted!] === 0));
      const empty = spec.weights?.indexOf(0) ?? -1;
      if (empty >= 0)
        assert.ok(r.perClass[empty]!.support === 0 && r.confusion.some((row) => row[empty]! > 0));
      assert.deepEqual(r.confusion, ref.confusion);
      close(r.accuracy, ref.accuracy, 1e-12, 'accuracy');
      for (const key of ['precision', 'recall', 'f1', 'support'] as const)
        closeAll(
          r.perClass.map((c) => c[key]),
          ref[key],
          1e-9,
          key,
        );
      closeAll([r.macro.precision, r.macro.recall, r.macro.f1], ref.macro, 1e-9, 'macro');
      closeAll([r.weighted.precision, r.weighted.recall, r.weighted.f1], ref.weighted, 1e-9, 'weighted');
      close(r.macro.f1, ref.f1Macro, 1e-9, 'f1 macro');
      close(r.weighted.f1, ref.f1Weighted, 1e-9, 'f1 weighted');
      r.pr.forEach((curve, c) => {
        const ap = ref.ap[c] ?? null;
        if (ap === null) assert.ok(Number.isNaN(curve.ap), `class ${c} has no positives`);
        else close(curve.ap, ap, 1e-9, `AP ${c}`);
      });
      r.roc.forEach((curve, c) => {
        const auc = ref.auc[c] ?? null;
        if (auc === null) assert.ok(Number.isNaN(curve.auc), `class ${c} has one side only`);
        else close(curve.auc, auc, 1e-9, `AUC ${c}`);
      });
      const definedAp = ref.ap.filter((v) => v !== null);
      close(r.mapMacro, definedAp.reduce((a, b) => a + b, 0) / definedAp.length, 1e-9, 'mAP');
      if (ref.rocAucOvr !== null) close(r.rocAucMacro, ref.rocAucOvr, 1e-9, 'ovr macro AUC');
      else {
        const defined = ref.auc.filter((v) => v !== null);
        close(r.rocAucMacro, defined.reduce((a, b) => a + b, 0) / defined.length, 1e-9, 'macro AUC');
      }
      // scikit-learn lists the curve from the lowest threshold up; the report from the highest down.
      const points = r.pr[curveClass]!.points;
      closeAll(
        points.map((p) => p.precision),
        [...ref.prCurve.precision].reverse(),
        1e-12,
        'PR precision',
      );
      closeAll(
        points.map((p) => p.recall),
        [...ref.prCurve.recall].reverse(),
        1e-12,
        'PR recall',
      );
      const roc = r.roc[curveClass]!.points;
      closeAll(
        roc.map((p) => p.fpr),
        ref.rocCurve.fpr,
        1e-12,
        'ROC fpr',
      );
      closeAll(
        roc.map((p) => p.tpr),
        ref.rocCurve.tpr,
        1e-12,
        'ROC tpr',
      );
      // scikit-learn breaks top-k ties towards the higher index, so only tie-free data compares.
      if (!spec.quantized) {
        assert.deepEqual(Object.keys(r.topK), k > 2 ? Object.keys(ref.topK) : ['1']);
        for (const [t, v] of Object.entries(ref.topK)) close(r.topK[t]!, v, 1e-12, `top-${t}`);
      }
      close(r.topK['1']!, ref.accuracy, 1e-12, 'top-1');
      // log_loss renormalises each row, which moves float32 rows by their rounding.
      close(r.nll, ref.logLoss, spec.float32 ? 1e-6 : 1e-9, 'NLL');
      close(r.brier, ref.brier, 1e-9, 'Brier');
      close(r.ece, ref.ece, 1e-9, 'ECE');
    });
  }

  it('reports 100k items × 10 classes in O(n·k·log n) time', () => {
    const k = 10;
    const random = seededRandom(9);
    const classes = Array.from({ length: k }, (_, c) => `c${c}`);
    const timed = (n: number) => {
      const probs = new Float32Array(n * k);
      const labels = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        labels[i] = Math.floor(random() * k);
        let sum = 0;
        for (let c = 0; c < k; c++) sum += probs[i * k + c] = random() + (c === labels[i] ? 1 : 0);
        for (let c = 0; c < k; c++) probs[i * k + c]! /= sum;
      }
      const started = performance.now();
      assert.equal(classificationReport(probs, labels, classes).n, n);
      return performance.now() - started;
    };
    timed(10_000); // warms the JIT, so the comparison is between compiled code
    const small = timed(10_000);
    const large = timed(100_000);
    // Ten times the items should cost about 12× (n log n); a quadratic step would cost 100×.
    // A ratio rather than a wall-clock bound, so a busy machine slows both sides alike.
    assert.ok(large / small < 40, `10k: ${small.toFixed(0)} ms, 100k: ${large.toFixed(0)} ms`);
  });
});

describe('temperature scaling', () => {
  it('computes a stable softmax at a temperature', () => {
    closeAll(
      [...softmaxWithTemperature(Float64Array.from([0, Math.log(3)]), 2, 1)],
      [0.25, 0.75],
      1e-7,
      'T=1',
    );
    // T = 2 halves the log-odds: e^(ln 3 / 2) = √3.
    closeAll(
      [...softmaxWithTemperature(Float64Array.from([0, Math.log(3)]), 2, 2)],
      [1 / (1 + Math.sqrt(3)), Math.sqrt(3) / (1 + Math.sqrt(3))],
      1e-7,
      'T=2',
    );
    assert.deepEqual(
      [...softmaxWithTemperature(Float32Array.from([1000, 0, -1000, 0]), 2, 0.5)],
      [1, 0, 0, 1],
    );
  });

  it('recovers the temperature labels were drawn at', () => {
    const random = seededRandom(11);
    const n = 4000;
    const k = 5;
    const logits = new Float64Array(n * k).map(() => 3 * gaussian(random));
    const labels = new Int32Array(n);
    const drawn = softmaxWithTemperature(logits, k, 2);
    for (let i = 0; i < n; i++) {
      let u = random();
      let c = 0;
      while (c < k - 1 && u >= drawn[i * k + c]!) u -= drawn[i * k + c++]!;
      labels[i] = c;
    }
    close(fitTemperature(logits, labels, k), 2, 0.15, 'T');
  });

  it('handles degenerate inputs', () => {
    assert.equal(fitTemperature(new Float32Array(0), new Int32Array(0), 3), 1);
    // Equal logits give the same NLL at every temperature.
    assert.equal(fitTemperature(Float32Array.from([2, 2, 2, 2]), Int32Array.from([0, 1]), 2), 1);
    // Perfectly separated: sharper is always better, down to the bound.
    assert.equal(fitTemperature(Float32Array.from([3, 0, 0, 3]), Int32Array.from([0, 1]), 2), 0.01);
    // Always wrong: flatter is always better, up to the bound.
    assert.equal(fitTemperature(Float32Array.from([3, 0, 0, 3]), Int32Array.from([1, 0]), 2), 100);
  });

  it('agrees with scipy', { skip: skipWithoutReference }, () => {
    for (const [seed, scale, k] of [
      [12, 4, 10],
      [13, 0.5, 3],
      [14, 8, 2],
    ] as const) {
      const { labels } = synthetic({ n: 600, k, seed });
      const random = seededRandom(seed + 100);
      // Logits that favour the label, scaled so the best temperature is well away from 1.
      const logits = Float32Array.from({ length: 600 * k }, (_, at) => {
        const bonus = labels[Math.floor(at / k)] === at % k ? 1 : 0;
        return scale * (gaussian(random) + bonus);
      });
      const t = fitTemperature(logits, labels, k);
      const expected = scipyTemperature(logits, labels, k);
      close(t, expected, 1e-4 * expected, `T (seed ${seed})`);
    }
  });
});

describe('paired significance tests', () => {
  const outcomes = (pairs: [number, number, number][]) => {
    const a: number[] = [];
    const b: number[] = [];
    for (const [x, y, times] of pairs) {
      a.push(...new Array<number>(times).fill(x));
      b.push(...new Array<number>(times).fill(y));
    }
    return [Uint8Array.from(a), Uint8Array.from(b)] as const;
  };

  it('computes McNemar by hand', () => {
    // b = 3, c = 1: p = 2·(C(4,0) + C(4,1)) / 2⁴ = 10/16.
    const exact = mcnemar(
      ...outcomes([
        [1, 1, 20],
        [1, 0, 3],
        [0, 1, 1],
        [0, 0, 5],
      ]),
    );
    assert.deepEqual({ ...exact, pValue: 0 }, { b: 3, c: 1, statistic: 1, pValue: 0, method: 'exact' });
    close(exact.pValue, 0.625);
    // b = 30, c = 10: (|30 − 10| − 1)² / 40.
    const chi2 = mcnemar(
      ...outcomes([
        [1, 0, 30],
        [0, 1, 10],
      ]),
    );
    assert.equal(chi2.method, 'chi2');
    close(chi2.statistic, 361 / 40);
    assert.equal(mcnemar(new Uint8Array(3), new Uint8Array(3)).pValue, 1);
  });

  it('agrees with scipy on McNemar p-values', { skip: skipWithoutReference }, () => {
    const pairs: [number, number][] = [
      [0, 0],
      [1, 0],
      [5, 5],
      [3, 12],
      [0, 24],
      [10, 14],
      [12, 13],
      [30, 10],
      [100, 60],
      [380, 500],
      [1000, 0],
    ];
    const expected = scipyMcnemar(pairs);
    pairs.forEach(([b, c], i) => {
      const r = mcnemar(
        ...outcomes([
          [1, 0, b],
          [0, 1, c],
          [1, 1, 7],
        ]),
      );
      assert.equal(r.method, b + c < 25 ? 'exact' : 'chi2');
      close(r.pValue, expected[i]!, 1e-9 * expected[i]!, `p(${b}, ${c})`);
    });
  });

  it('bootstraps the accuracy difference reproducibly', () => {
    const random = seededRandom(21);
    const n = 500;
    const better = Uint8Array.from({ length: n }, () => (random() < 0.9 ? 1 : 0));
    const worse = Uint8Array.from({ length: n }, () => (random() < 0.75 ? 1 : 0));
    const r = pairedBootstrap(better, worse, { seed: 5 });
    assert.deepEqual(pairedBootstrap(better, worse, { seed: 5 }), r);
    assert.notDeepEqual(pairedBootstrap(better, worse, { seed: 6 }).ci, r.ci);
    const mean = (v: Uint8Array) => v.reduce((a, b) => a + b, 0) / v.length;
    close(r.delta, mean(better) - mean(worse));
    assert.ok(r.ci[0] < r.delta && r.delta < r.ci[1], `${r.delta} in ${r.ci}`);
    assert.ok(r.ci[0] > 0 && r.pValue < 0.01, `p ${r.pValue}`);
    const reversed = pairedBootstrap(worse, better, { seed: 5, iterations: 500 });
    assert.ok(reversed.delta < 0 && reversed.pValue < 0.01);
    const same = pairedBootstrap(better, better);
    assert.deepEqual(same, { delta: 0, ci: [0, 0], pValue: 1 });
  });
});

describe('label issues', () => {
  it('finds the one mislabelled item of a hand case, with a class that has no items', () => {
    // Class thresholds: t0 = mean p0 over items labelled 0 = (.9 + .8 + .1)/3 = .6,
    // t1 = (.8 + .7 + .95)/3 ≈ .817, t2 = none. Confident joint: items 0, 1 → (0, 0); item 2
    // (p1 = .9) → (0, 1); item 5 → (1, 1); items 3 and 4 reach no threshold. Calibrated rows:
    // [2, 1, 0] and [0, 3, 0]; so one item labelled 0 is pruned: the largest p1 − p0, item 2.
    const probs = Float64Array.from([
      ...[0.9, 0.1, 0],
      ...[0.8, 0.2, 0],
      ...[0.1, 0.9, 0],
      ...[0.2, 0.8, 0],
      ...[0.3, 0.7, 0],
      ...[0.05, 0.95, 0],
    ]);
    const issues = findLabelIssues(probs, Int32Array.from([0, 0, 0, 1, 1, 1]), 3);
    assert.equal(issues.length, 1);
    const [issue] = issues;
    assert.deepEqual(
      { ...issue!, margin: 0 },
      { index: 2, given: 0, suggested: 1, selfConfidence: 0.1, margin: 0 },
    );
    close(issue!.margin, 0.8);
  });

  it('recovers flipped labels of a well-separated model', () => {
    const random = seededRandom(31);
    const n = 2000;
    const k = 4;
    const probs = new Float64Array(n * k);
    const labels = new Int32Array(n);
    const flipped = new Set<number>();
    for (let i = 0; i < n; i++) {
      const truth = i % k;
      const own = 0.6 + 0.35 * random();
      const rest = Array.from({ length: k - 1 }, () => random());
      const restSum = rest.reduce((a, b) => a + b, 0);
      for (let c = 0, r = 0; c < k; c++)
        probs[i * k + c] = c === truth ? own : ((1 - own) * rest[r++]!) / restSum;
      labels[i] = truth;
      if (random() < 0.05) {
        labels[i] = (truth + 1 + Math.floor(random() * (k - 1))) % k;
        flipped.add(i);
      }
    }
    const issues = findLabelIssues(probs, labels, k);
    const found = issues.filter((issue) => flipped.has(issue.index)).length;
    assert.ok(found / issues.length >= 0.8, `precision ${found}/${issues.length}`);
    assert.ok(found / flipped.size >= 0.8, `recall ${found}/${flipped.size}`);
    for (let i = 1; i < issues.length; i++)
      assert.ok(issues[i - 1]!.selfConfidence <= issues[i]!.selfConfidence);
    assert.equal(findLabelIssues(probs, labels, k, { maxIssues: 5 }).length, 5);
  });
});

describe('hardestMistakes', () => {
  it('lists confident wrong predictions, most confident first', () => {
    const probs = Float64Array.from([0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.3, 0.7]);
    const mistakes = hardestMistakes(probs, Int32Array.from([0, 0, 1, 1]), 2, 5);
    assert.deepEqual(mistakes, [
      { index: 1, predicted: 1, confidence: 0.8, givenProbability: 0.2 },
      { index: 2, predicted: 0, confidence: 0.6, givenProbability: 0.4 },
    ]);
    assert.equal(hardestMistakes(probs, Int32Array.from([0, 0, 1, 1]), 2, 1).length, 1);
  });
});

describe('argument checks', () => {
  const probs = Float32Array.from([0.5, 0.5, 0.2, 0.8]);
  const labels = Int32Array.from([0, 1]);

  it('refuse malformed probabilities and labels', () => {
    assert.throws(
      () => classificationReport(probs, Int32Array.from([0]), ['a', 'b']),
      invalidArgument(/4 probabilities do not form 1 items × 2 classes/),
    );
    assert.throws(
      () => classificationReport(probs, Int32Array.from([0, 2]), ['a', 'b']),
      invalidArgument(/label 2 of item 1/),
    );
    assert.throws(
      () => classificationReport(probs, Int32Array.from([-1, 0]), ['a', 'b']),
      invalidArgument(/label -1 of item 0/),
    );
    assert.throws(
      () => classificationReport(Float32Array.from([0.5, NaN, 0.2, 0.8]), labels, ['a', 'b']),
      invalidArgument(/non-finite probability NaN at item 0, class 1/),
    );
    assert.throws(
      () => classificationReport(Float32Array.from([3, -2, 0.2, 0.8]), labels, ['a', 'b']),
      invalidArgument(/outside \[0, 1\]/),
    );
    assert.throws(
      () => classificationReport(new Float32Array(0), new Int32Array(0), ['a', 'b']),
      invalidArgument(/no items/),
    );
    assert.throws(
      () => classificationReport(probs, labels, ['a', 'b'], { bins: 0 }),
      invalidArgument(/bins/),
    );
    assert.throws(() => findLabelIssues(probs, labels, 3), invalidArgument(/do not form/));
    assert.throws(() => hardestMistakes(probs, labels, 2, -1), invalidArgument(/limit/));
  });

  it('refuse malformed logits and temperatures', () => {
    assert.throws(
      () => fitTemperature(Float32Array.from([0, Infinity]), Int32Array.from([0]), 2),
      invalidArgument(/non-finite logit/),
    );
    assert.throws(
      () => softmaxWithTemperature(Float32Array.from([0, 1, 2]), 2, 1),
      invalidArgument(/rows of 2/),
    );
    assert.throws(
      () => softmaxWithTemperature(Float32Array.from([0, 1]), 2, 0),
      invalidArgument(/temperature/),
    );
  });

  it('refuse outcome vectors of different items', () => {
    assert.throws(() => mcnemar(new Uint8Array(3), new Uint8Array(2)), invalidArgument(/3 and 2 outcomes/));
    assert.throws(
      () => pairedBootstrap(Uint8Array.from([2]), Uint8Array.from([1])),
      invalidArgument(/not 0 \(wrong\) or 1/),
    );
    assert.throws(() => pairedBootstrap(new Uint8Array(0), new Uint8Array(0)), invalidArgument(/no items/));
  });
});
