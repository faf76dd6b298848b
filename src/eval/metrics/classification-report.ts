import { LoupeError } from '../../errors/loupe-error.js';
import type { ClassificationReport } from '../evaluation.js';
import { checkCount, checkScoredItems, type ScoreMatrix } from './check-inputs.js';
import { classScores } from './class-scores.js';
import { precisionRecallCurve } from './precision-recall-curve.js';
import { brierScore, negativeLogLikelihood } from './proper-scores.js';
import { rankingCounts } from './ranking-counts.js';
import { reliability } from './reliability.js';
import { rocCurve } from './roc-curve.js';
import { predictedClasses } from './row-argmax.js';
import { topKAccuracy } from './top-k-accuracy.js';

export interface ClassificationReportOptions {
  /** Equal-width confidence bins for ECE and the reliability diagram. */
  bins?: number;
  /** Top-k accuracies to report; only k below the number of classes, and always k = 1. */
  topK?: number[];
}

const meanOfDefined = (values: number[]) => {
  const defined = values.filter((v) => !Number.isNaN(v));
  return defined.length ? defined.reduce((a, b) => a + b, 0) / defined.length : NaN;
};

/**
 * Every metric of a ClassificationReport from row-major n×k probabilities and true class
 * indices, with scikit-learn 1.2's conventions (see each metric's module). Each class's PR and
 * ROC curves come from one sort of its scores, so the whole report is O(n·k·log n).
 */
export function classificationReport(
  probs: ScoreMatrix,
  labels: Int32Array,
  classes: string[],
  o: ClassificationReportOptions = {},
): ClassificationReport {
  const k = classes.length;
  const n = checkScoredItems(probs, labels, k, 'probabilities');
  if (!n) throw new LoupeError('INVALID_ARGUMENT', 'no items to evaluate');
  const bins = o.bins ?? 15;
  checkCount('bins', bins, 1);
  const topKs = o.topK ?? [1, 3, 5];
  for (const t of topKs) checkCount('top-k', t, 1);

  const predicted = predictedClasses(probs, k, n);
  const scores = classScores(predicted, labels, classes);
  const topK: Record<string, number> = {};
  for (const t of [...new Set([1, ...topKs.filter((t) => t < k)])].sort((a, b) => a - b))
    topK[String(t)] = topKAccuracy(probs, labels, k, t);
  const pr = [];
  const roc = [];
  for (let c = 0; c < k; c++) {
    const counts = rankingCounts(probs, labels, k, c);
    pr.push(precisionRecallCurve(counts, classes[c]!));
    roc.push(rocCurve(counts, classes[c]!));
  }
  const calibration = reliability(probs, labels, k, bins);
  return {
    n,
    classes: [...classes],
    accuracy: scores.accuracy,
    topK,
    macro: scores.macro,
    weighted: scores.weighted,
    perClass: scores.perClass,
    confusion: scores.confusion,
    confusionNormalized: scores.confusionNormalized,
    pr,
    roc,
    mapMacro: meanOfDefined(pr.map((curve) => curve.ap)),
    rocAucMacro: meanOfDefined(roc.map((curve) => curve.auc)),
    ece: calibration.ece,
    reliability: calibration.bins,
    nll: negativeLogLikelihood(probs, labels, k),
    brier: brierScore(probs, labels, k),
  };
}
