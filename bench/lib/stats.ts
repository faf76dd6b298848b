/** Median of a non-empty list; robust to the odd slow repeat a shared machine produces. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Seconds elapsed since `start` (a value of performance.now()). */
export const secondsSince = (start: number): number => (performance.now() - start) / 1000;
