import { seededRandom, shuffledIndices } from '../../train/random.js';
import { confidenceDropTest } from './confidence-drop.js';
import { DRIFT_TESTS, type DriftConfig, type DriftTestName } from './drift-config.js';
import { domainClassifierTest } from './domain-classifier.js';
import { holm } from './holm.js';
import { mmdTest } from './mmd.js';
import { noveltyFractionTest } from './novelty-fraction.js';
import { predictionDriftTest } from './prediction-drift.js';
import { project, randomProjection } from './random-projection.js';

/** What a model said about a set of inputs: one row per input. */
export interface DriftSample {
  /** Row-major, `dim` values per row; null when the model exposes no embedding. */
  embedding: Float32Array | null;
  dim: number;
  /** Index of the predicted class. */
  predicted: Int32Array;
  /** Probability of the predicted class. */
  confidence: Float32Array;
}

export interface DriftTestResult {
  test: DriftTestName;
  /** What `statistic` is: MMD², AUC, outlier share or χ². */
  statisticName: string;
  statistic: number;
  pValue: number;
  /** The level this test's p-value was held to (Holm, within the family's alpha). */
  threshold: number;
  /** The statistic at which the p-value reaches the threshold, where that has a closed form. */
  critical: number | null;
  drift: boolean;
  /** Effect sizes and settings that explain the number (PSI, means, bandwidth, rows used). */
  detail: Record<string, number | string | string[]>;
}

export interface DriftVerdict {
  drift: boolean;
  tests: DriftTestResult[];
  /** Tests turned on that could not run here, and why. */
  skipped: { test: DriftTestName; reason: string }[];
}

export interface DriftTestsOutcome extends DriftVerdict {
  /** The MMD test's permutation statistics, for the report's chart. */
  mmdNull: Float64Array | null;
  /** The novelty test's scores and threshold, for the report's chart. */
  novelty: NoveltyScores | null;
}

/** Nearest-neighbour distances of held-out reference rows and of window rows, and the outlier threshold. */
export interface NoveltyScores {
  calibration: Float64Array;
  window: Float64Array;
  threshold: number;
}

export type DriftTestSettings = Pick<DriftConfig, 'alpha' | 'permutations' | 'seed' | 'tests'>;

/** Embeddings are projected to at most this many dimensions before the embedding tests. */
export const PROJECTED_DIM = 32;
/**
 * Rows per side the embedding tests use at most (a seeded subsample beyond): the MMD kernel
 * matrix grows with the square of the rows, and beyond a few thousand rows in all, power
 * gains little for the memory and time a check running beside a server should take.
 */
export const EMBEDDING_ROWS = 1000;
/** On standardised features: mild, it only stops a separable training half from diverging. */
const CLASSIFIER_L2 = 1;

type Measured = Omit<DriftTestResult, 'threshold' | 'drift' | 'critical'> & {
  criticalAt?: (level: number) => number | null;
};

/**
 * Runs the drift tests turned on in `s` on a reference and a window, then decides each verdict
 * with Holm's procedure across the tests that ran, so the chance of any false alarm in a check
 * stays at most `alpha`. Embedding tests are skipped (with the reason) when either side has no
 * embeddings.
 */
export function runDriftTests(
  classes: readonly string[],
  reference: DriftSample,
  window: DriftSample,
  s: DriftTestSettings,
): DriftTestsOutcome {
  const measured: Measured[] = [];
  const skipped: DriftVerdict['skipped'] = [];
  let mmdNull: Float64Array | null = null;
  let novelty: NoveltyScores | null = null;
  const wanted = DRIFT_TESTS.filter((t) => s.tests[t]);
  const embeddingTests = wanted.filter((t) => t === 'mmd' || t === 'classifier' || t === 'novelty');

  if (embeddingTests.length) {
    const ready = embeddingsOf(reference, window, s.seed);
    if (typeof ready === 'string') for (const test of embeddingTests) skipped.push({ test, reason: ready });
    else {
      const rows = { reference: ready.reference.length / ready.dim, window: ready.window.length / ready.dim };
      if (s.tests.mmd) {
        const r = mmdTest(ready.reference, ready.window, ready.dim, {
          permutations: s.permutations,
          seed: s.seed,
        });
        mmdNull = r.null;
        measured.push({
          test: 'mmd',
          statisticName: 'MMD²',
          statistic: r.statistic,
          pValue: r.pValue,
          detail: {
            bandwidth: r.bandwidth,
            permutations: s.permutations,
            dimensions: ready.dim,
            referenceRows: rows.reference,
            windowRows: rows.window,
          },
        });
      }
      if (s.tests.classifier) {
        const r = domainClassifierTest(ready.reference, ready.window, ready.dim, {
          seed: s.seed + 1,
          l2: CLASSIFIER_L2,
        });
        measured.push({
          test: 'classifier',
          statisticName: 'AUC',
          statistic: r.auc,
          pValue: r.pValue,
          criticalAt: r.aucAt,
          detail: {
            dimensions: ready.dim,
            scoredReference: r.scored.reference,
            scoredWindow: r.scored.window,
          },
        });
      }
      if (s.tests.novelty) {
        const r = noveltyFractionTest(ready.reference, ready.window, ready.dim, { seed: s.seed + 4 });
        novelty = { ...r.scores, threshold: r.threshold };
        measured.push({
          test: 'novelty',
          statisticName: 'outlier share',
          statistic: r.share,
          pValue: r.pValue,
          criticalAt: r.shareAt,
          detail: {
            outliers: r.exceedances,
            expectedShare: r.expectedShare,
            excessShare: r.excessShare,
            distanceThreshold: r.threshold,
            dimensions: ready.dim,
            calibrationRows: r.calibrationRows,
            fitRows: r.fitRows,
            windowRows: r.windowRows,
          },
        });
      }
    }
  }
  if (s.tests.predictions) {
    const count = (sample: DriftSample) => {
      const counts = new Array<number>(classes.length).fill(0);
      for (const c of sample.predicted) counts[c]!++;
      return counts;
    };
    const r = predictionDriftTest(classes, count(reference), count(window));
    measured.push({
      test: 'predictions',
      statisticName: 'χ²',
      statistic: r.chiSquare,
      pValue: r.pValue,
      detail: { psi: r.psi, dof: r.dof, ...(r.pooled.length ? { pooled: r.pooled } : {}) },
    });
  }
  if (s.tests.confidence) {
    const r = confidenceDropTest(reference.confidence, window.confidence);
    measured.push({
      test: 'confidence',
      statisticName: 'AUC',
      statistic: r.auc,
      pValue: r.pValue,
      criticalAt: r.aucAt,
      detail: { referenceMean: r.referenceMean, windowMean: r.windowMean },
    });
  }

  const decision = holm(
    measured.map((m) => m.pValue),
    s.alpha,
  );
  const tests = measured.map(({ criticalAt, ...m }, i): DriftTestResult => {
    const threshold = decision.thresholds[i]!;
    return {
      ...m,
      threshold,
      critical: criticalAt?.(threshold) ?? null,
      drift: decision.rejected[i]!,
    };
  });
  return { drift: tests.some((t) => t.drift), tests, skipped, mmdNull, novelty };
}

/**
 * Both sides' embeddings as the embedding tests see them: capped at EMBEDDING_ROWS rows each and
 * projected to PROJECTED_DIM; or why the embedding tests cannot run.
 */
export function embeddingsOf(
  reference: DriftSample,
  window: DriftSample,
  seed: number,
): { reference: Float32Array; window: Float32Array; dim: number } | string {
  if (!reference.embedding || !window.embedding || !reference.dim)
    return 'no embeddings: the model has no embedding output, or the predictions were logged without them';
  if (reference.dim !== window.dim)
    return `the window's embeddings have ${window.dim} values, the reference's ${reference.dim}`;
  const random = seededRandom(seed + 3);
  const capped = (x: Float32Array) => {
    const n = x.length / reference.dim;
    if (n <= EMBEDDING_ROWS) return x;
    const keep = shuffledIndices(n, random).subarray(0, EMBEDDING_ROWS).sort();
    const out = new Float32Array(EMBEDDING_ROWS * reference.dim);
    keep.forEach((r, i) =>
      out.set(x.subarray(r * reference.dim, (r + 1) * reference.dim), i * reference.dim),
    );
    return out;
  };
  const p = randomProjection(reference.dim, PROJECTED_DIM, seed + 2);
  return {
    reference: project(p, capped(reference.embedding)),
    window: project(p, capped(window.embedding)),
    dim: p.to,
  };
}
