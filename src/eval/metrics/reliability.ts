import type { ReliabilityBin } from '../evaluation.js';
import type { ScoreMatrix } from './check-inputs.js';
import { rowArgmax } from './row-argmax.js';

/**
 * Expected calibration error of the top-1 probability and the reliability diagram behind it:
 * `bins` equal-width bins over [0, 1], an item going to bin ⌊conf·bins⌋ (1 itself to the last),
 * and ECE = Σ |accuracy − confidence| · count / n over non-empty bins.
 */
export function reliability(
  probs: ScoreMatrix,
  labels: Int32Array,
  k: number,
  bins: number,
): { ece: number; bins: ReliabilityBin[] } {
  const n = labels.length;
  const count = new Float64Array(bins);
  const confidence = new Float64Array(bins);
  const correct = new Float64Array(bins);
  for (let i = 0; i < n; i++) {
    const top = rowArgmax(probs, k, i);
    const p = probs[i * k + top]!;
    const b = Math.min(Math.floor(p * bins), bins - 1);
    count[b]!++;
    confidence[b]! += p;
    if (top === labels[i]) correct[b]!++;
  }
  let ece = 0;
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < bins; b++) {
    const m = count[b]!;
    const accuracy = m ? correct[b]! / m : NaN;
    const meanConfidence = m ? confidence[b]! / m : NaN;
    if (m) ece += (Math.abs(accuracy - meanConfidence) * m) / n;
    out.push({ lo: b / bins, hi: (b + 1) / bins, count: m, confidence: meanConfidence, accuracy });
  }
  return { ece, bins: out };
}
