export interface LabelProbability {
  label: string;
  probability: number;
}

/** The k most probable classes of one row of probabilities, most probable first; ties keep class order. */
export function topK(probs: ArrayLike<number>, classes: readonly string[], k: number): LabelProbability[] {
  return classes
    .map((label, i) => ({ label, probability: probs[i]! }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, Math.max(1, k));
}
