/**
 * Runs `count` workers that each take the next item and await its work, until `next` has none.
 * The first error stops every worker from taking more; in-flight work still settles before it is
 * rethrown, so nothing keeps writing after the caller has been told the run is over.
 */
export async function runWorkers<T>(
  count: number,
  next: () => T | undefined,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure) {
      const item = next();
      if (item === undefined) return;
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: count }, worker));
  if (failure) throw failure.error;
}
