import { useCallback, useEffect, useRef } from 'react';

/**
 * For a page that loads the same view again and again (after each change, on each filter or
 * tab): `next()` aborts the previous load and returns the signal of the new one. Answers can
 * come back in any order, and without this an older one arriving last would replace the newer
 * view with a stale one (a class tab showing another tab's images, a queue still holding the
 * item just decided). A load still running when the page goes away is aborted too.
 *
 * Pass the signal to every request of the load, and ignore errors once it is aborted.
 */
export function useLatestRequest(): () => AbortSignal {
  const current = useRef<AbortController | null>(null);
  useEffect(() => () => current.current?.abort(), []);
  return useCallback(() => {
    current.current?.abort();
    current.current = new AbortController();
    return current.current.signal;
  }, []);
}
