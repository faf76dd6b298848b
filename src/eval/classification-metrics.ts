import { LoupeError } from '../errors/loupe-error.js';

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface ClassificationMetrics {
  accuracy: number;
  /** Unweighted mean F1 over the classes present in the labels or the predictions. */
  macroF1: number;
  /** F1 weighted by each class's support. */
  weightedF1: number;
  perClass: ClassMetrics[];
  /** confusion[true][predicted] counts. */
  confusion: number[][];
}

/**
 * Accuracy, per-class precision/recall/F1 and the confusion matrix of predicted against true
 * class indices. Precision or recall with a zero denominator is 0, as scikit-learn's
 * `zero_division=0`; macro-F1 averages over classes that occur in either labels or
 * predictions (scikit-learn's default label set), so a class absent from a small validation
 * split does not count as a perfect or a failed class.
 */
export function classificationMetrics(
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
): ClassificationMetrics {
  if (predictions.length !== labels.length)
    throw new LoupeError('INVALID_ARGUMENT', `${predictions.length} predictions for ${labels.length} labels`);
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i]!;
    const p = predictions[i]!;
    if (t < 0 || t >= numClasses || p < 0 || p >= numClasses)
      throw new LoupeError('INVALID_ARGUMENT', `class index out of range at ${i}: true ${t}, predicted ${p}`);
    confusion[t]![p]!++;
    if (t === p) correct++;
  }
  const ratio = (a: number, b: number) => (b ? a / b : 0);
  const perClass = confusion.map((row, c) => {
    const tp = row[c]!;
    const support = row.reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, r) => a + r[c]!, 0);
    const precision = ratio(tp, predicted);
    const recall = ratio(tp, support);
    return { precision, recall, f1: ratio(2 * precision * recall, precision + recall), support, predicted };
  });
  const present = perClass.filter((c) => c.support > 0 || c.predicted > 0);
  const total = labels.length;
  return {
    accuracy: ratio(correct, total),
    macroF1: ratio(
      present.reduce((a, c) => a + c.f1, 0),
      present.length,
    ),
    weightedF1: ratio(
      perClass.reduce((a, c) => a + c.f1 * c.support, 0),
      total,
    ),
    perClass: perClass.map(({ precision, recall, f1, support }) => ({ precision, recall, f1, support })),
    confusion,
  };
}

/** Index of the largest of each row of `n` rows of scores. */
export function argmaxRows(scores: Float32Array, n: number): Int32Array {
  const classes = scores.length / n;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (scores[i * classes + c]! > scores[i * classes + best]!) best = c;
    out[i] = best;
  }
  return out;
}

/** Mean cross-entropy of logits against labels (log-sum-exp for stability). */
export function crossEntropy(logits: Float32Array, labels: ArrayLike<number>): number {
  const n = labels.length;
  if (!n) return 0;
  const classes = logits.length / n;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const row = logits.subarray(i * classes, (i + 1) * classes);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let exp = 0;
    for (const v of row) exp += Math.exp(v - max);
    sum += max + Math.log(exp) - row[labels[i]!]!;
  }
  return sum / n;
}
