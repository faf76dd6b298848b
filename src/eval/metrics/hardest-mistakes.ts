import { checkCount, checkScoredItems, type ScoreMatrix } from './check-inputs.js';
import { rowArgmax } from './row-argmax.js';

export interface Mistake {
  /** Row of the item in the inputs. */
  index: number;
  predicted: number;
  /** Probability of the predicted class. */
  confidence: number;
  /** Probability of the item's own label. */
  givenProbability: number;
}

/**
 * The `limit` wrong top-1 predictions made with the highest confidence, most confident first
 * (ties by index): the items most worth a person's look, as either model failures or bad labels.
 */
export function hardestMistakes(probs: ScoreMatrix, labels: Int32Array, k: number, limit: number): Mistake[] {
  const n = checkScoredItems(probs, labels, k, 'probabilities');
  checkCount('limit', limit, 0);
  const mistakes: Mistake[] = [];
  for (let i = 0; i < n; i++) {
    const predicted = rowArgmax(probs, k, i);
    if (predicted === labels[i]) continue;
    mistakes.push({
      index: i,
      predicted,
      confidence: probs[i * k + predicted]!,
      givenProbability: probs[i * k + labels[i]!]!,
    });
  }
  mistakes.sort((a, b) => b.confidence - a.confidence || a.index - b.index);
  return mistakes.slice(0, limit);
}
