import type { TopLevelSpec } from 'vega-lite';
import { embeddingMapSpec, noveltyScoresSpec, permutationNullSpec, sharesChartSpec } from './drift-charts.js';
import type { DriftCheckOutcome } from './drift-check.js';
import type { DriftCheck } from './drift-store.js';
import { embeddingsOf, type DriftSample } from './drift-tests.js';
import { embeddingMap, type EmbeddingMap } from './embedding-map.js';

/** drift_report.json: the check as recorded, and the data behind each chart of the HTML page. */
export interface DriftReport {
  check: DriftCheck;
  reference: (SideSummary & { split: string; datasetVersion: string }) | null;
  window: (SideSummary & { from: string | null; to: string | null; withoutEmbedding: number }) | null;
  classes: string[];
  /** Top-1 confidence in CONFIDENCE_BINS equal bins over [0, 1]: counts per bin. */
  confidence: { edges: number[]; reference: number[]; window: number[] } | null;
  /** The MMD test's permutation statistics. */
  mmdNull: number[] | null;
  /** The novelty test's nearest-neighbour distances: held-out reference rows, window rows, the outlier threshold. */
  novelty: { calibration: number[]; window: number[]; threshold: number } | null;
  embeddingMap: EmbeddingMap | null;
}

interface SideSummary {
  size: number;
  /** Predictions per class, in `classes` order. */
  classCounts: number[];
  meanConfidence: number;
}

export type DriftChartName =
  'class_frequencies' | 'confidence' | 'mmd_null' | 'novelty_scores' | 'embedding_map';

const CONFIDENCE_BINS = 20;

function summary(s: DriftSample, classes: number): SideSummary {
  const classCounts = new Array<number>(classes).fill(0);
  for (const c of s.predicted) classCounts[c]!++;
  const n = s.predicted.length;
  return {
    size: n,
    classCounts,
    meanConfidence: n ? s.confidence.reduce((a, b) => a + b, 0) / n : Number.NaN,
  };
}

function histogram(values: Float32Array): number[] {
  const counts = new Array<number>(CONFIDENCE_BINS).fill(0);
  for (const v of values)
    counts[Math.min(CONFIDENCE_BINS - 1, Math.max(0, Math.floor(v * CONFIDENCE_BINS)))]!++;
  return counts;
}

/** The report's data from a check's outcome; `seed` is the config's, so the map uses the tests' projection. */
export function buildDriftReport(outcome: DriftCheckOutcome, seed: number): DriftReport {
  const { check, reference, window } = outcome;
  const classes = reference?.classes ?? [];
  const bothSides = reference && window && window.size;
  const embeddings = bothSides ? embeddingsOf(reference, window, seed) : undefined;
  return {
    check,
    classes,
    reference: reference
      ? {
          ...summary(reference, classes.length),
          split: reference.split,
          datasetVersion: reference.datasetVersion,
        }
      : null,
    window:
      window && reference
        ? {
            ...summary(window, classes.length),
            from: window.from,
            to: window.to,
            withoutEmbedding: window.withoutEmbedding,
          }
        : null,
    confidence: bothSides
      ? {
          edges: Array.from({ length: CONFIDENCE_BINS + 1 }, (_, i) => i / CONFIDENCE_BINS),
          reference: histogram(reference.confidence),
          window: histogram(window.confidence),
        }
      : null,
    mmdNull: outcome.mmdNull ? [...outcome.mmdNull] : null,
    novelty: outcome.novelty
      ? {
          calibration: [...outcome.novelty.calibration],
          window: [...outcome.novelty.window],
          threshold: outcome.novelty.threshold,
        }
      : null,
    embeddingMap:
      embeddings && typeof embeddings !== 'string'
        ? embeddingMap(embeddings.reference, embeddings.window, embeddings.dim, seed)
        : null,
  };
}

/** The charts a report has data for, as Vega-Lite specs. */
export function driftCharts(r: DriftReport): Partial<Record<DriftChartName, TopLevelSpec>> {
  const charts: Partial<Record<DriftChartName, TopLevelSpec>> = {};
  if (r.reference && r.window) {
    const predictions = r.check.tests.find((t) => t.test === 'predictions');
    charts.class_frequencies = sharesChartSpec({
      title: 'Predicted classes',
      subtitle: `reference ${r.reference.size}, window ${r.window.size} predictions${predictions ? `; PSI ${Number(predictions.detail.psi).toFixed(3)}` : ''}`,
      categories: r.classes,
      reference: r.reference.classCounts,
      window: r.window.classCounts,
      xTitle: 'predicted class',
    });
  }
  if (r.confidence && r.reference && r.window)
    charts.confidence = sharesChartSpec({
      title: 'Top-1 confidence',
      subtitle: `mean: reference ${r.reference.meanConfidence.toFixed(3)}, window ${r.window.meanConfidence.toFixed(3)}`,
      categories: r.confidence.edges.slice(0, -1).map((e) => e.toFixed(2)),
      reference: r.confidence.reference,
      window: r.confidence.window,
      xTitle: 'probability of the predicted class (bins of 0.05, by lower edge)',
    });
  const mmd = r.check.tests.find((t) => t.test === 'mmd');
  if (r.mmdNull && mmd) charts.mmd_null = permutationNullSpec(r.mmdNull, mmd.statistic, mmd.pValue);
  const novelty = r.check.tests.find((t) => t.test === 'novelty');
  if (r.novelty && novelty) charts.novelty_scores = noveltyScoresSpec(r.novelty, novelty.pValue);
  if (r.embeddingMap) charts.embedding_map = embeddingMapSpec(r.embeddingMap);
  return charts;
}
