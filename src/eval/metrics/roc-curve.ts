import type { RocCurve } from '../evaluation.js';
import type { RankingCounts } from './ranking-counts.js';

/**
 * The ROC curve of one class against the rest, as scikit-learn 1.2's roc_curve with its default
 * drop_intermediate=True: (0, 0), then one point per distinct threshold, highest first, leaving
 * out a point that continues its neighbours' step exactly (the same line, so the curve is
 * unchanged, in a fraction of the points). The AUC is the trapezoidal area over every threshold,
 * as roc_auc_score. A class with no positives or no negatives has no curve and a NaN AUC, where
 * scikit-learn would raise.
 */
export function rocCurve(counts: RankingCounts, label: string): RocCurve {
  const { truePositives: tp, falsePositives: fp, positives, negatives } = counts;
  if (!positives || !negatives) return { label, auc: NaN, points: [] };
  const points = [{ fpr: 0, tpr: 0 }];
  const last = tp.length - 1;
  let auc = 0;
  for (let t = 0; t <= last; t++) {
    const fpr = fp[t]! / negatives;
    const tpr = tp[t]! / positives;
    const fprBefore = t ? fp[t - 1]! / negatives : 0;
    const tprBefore = t ? tp[t - 1]! / positives : 0;
    auc += ((fpr - fprBefore) * (tpr + tprBefore)) / 2;
    const bend =
      t === 0 ||
      t === last ||
      fp[t + 1]! - 2 * fp[t]! + fp[t - 1]! !== 0 ||
      tp[t + 1]! - 2 * tp[t]! + tp[t - 1]! !== 0;
    if (bend) points.push({ fpr, tpr });
  }
  return { label, auc, points };
}
