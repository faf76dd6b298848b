/**
 * Runs fn over items with at most `limit` calls in flight. A hand-written pool: the few lines
 * here do not justify a dependency, and callers need nothing fancier (no priorities, no retries).
 */
export async function mapConcurrent<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) await fn(items[i]!, i);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
