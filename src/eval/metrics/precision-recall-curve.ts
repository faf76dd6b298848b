import type { PrCurve } from '../evaluation.js';
import type { RankingCounts } from './ranking-counts.js';

/**
 * The precision–recall curve and average precision of one class against the rest, as
 * scikit-learn 1.2's precision_recall_curve and average_precision_score: AP is the step-wise
 * sum of (R_n − R_(n−1))·P_n over distinct thresholds, without interpolation. The points are
 * scikit-learn's arrays reversed, so they run from the extra (recall 0, precision 1) point
 * through decreasing thresholds to recall 1.
 *
 * Without positives recall is undefined: scikit-learn then reports recall 1 everywhere and an
 * AP of 0 with a warning; here AP is NaN and there are no points, so the class cannot pass for
 * a failure and a chart draws nothing.
 */
export function precisionRecallCurve(counts: RankingCounts, label: string): PrCurve {
  const { truePositives, falsePositives, positives } = counts;
  if (!positives) return { label, ap: NaN, points: [] };
  const points = [{ recall: 0, precision: 1 }];
  let ap = 0;
  let previousRecall = 0;
  for (let t = 0; t < truePositives.length; t++) {
    const tp = truePositives[t]!;
    const recall = tp / positives;
    const precision = tp / (tp + falsePositives[t]!);
    ap += (recall - previousRecall) * precision;
    previousRecall = recall;
    points.push({ recall, precision });
  }
  return { label, ap, points };
}
