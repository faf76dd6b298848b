import { classificationMetrics } from '../classification-metrics.js';
import type { Averages, ClassReport } from '../evaluation.js';

export interface ClassScores {
  accuracy: number;
  perClass: ClassReport[];
  macro: Averages;
  weighted: Averages;
  confusion: number[][];
  confusionNormalized: number[][];
}

/**
 * Precision, recall and F1 per class with their macro and support-weighted means, as
 * scikit-learn 1.2's precision_recall_fscore_support with zero_division=0: the macro mean runs
 * over the classes that occur in the labels or the predictions, and a class with a zero
 * denominator scores 0. Builds on the training metrics so the two never disagree.
 */
export function classScores(predicted: Int32Array, labels: Int32Array, classes: string[]): ClassScores {
  const k = classes.length;
  const base = classificationMetrics(predicted, labels, k);
  const n = labels.length;
  const predictedCount = new Array<number>(k).fill(0);
  for (const row of base.confusion) row.forEach((count, c) => (predictedCount[c]! += count));
  const perClass = base.perClass.map((m, c) => ({ label: classes[c]!, ...m }));
  const present = perClass.filter((m, c) => m.support > 0 || predictedCount[c]! > 0);
  const mean = (of: (m: ClassReport) => number) => present.reduce((a, m) => a + of(m), 0) / present.length;
  const weightedMean = (of: (m: ClassReport) => number) =>
    perClass.reduce((a, m) => a + of(m) * m.support, 0) / n;
  return {
    accuracy: base.accuracy,
    perClass,
    macro: { precision: mean((m) => m.precision), recall: mean((m) => m.recall), f1: mean((m) => m.f1) },
    weighted: {
      precision: weightedMean((m) => m.precision),
      recall: weightedMean((m) => m.recall),
      f1: weightedMean((m) => m.f1),
    },
    confusion: base.confusion,
    confusionNormalized: base.confusion.map((row) => {
      const total = row.reduce((a, b) => a + b, 0);
      return row.map((count) => (total ? count / total : 0));
    }),
  };
}
