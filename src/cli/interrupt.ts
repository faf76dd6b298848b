import { LoupeError } from '../errors/loupe-error.js';

/**
 * Runs long work with an AbortSignal that the first Ctrl-C (SIGINT) or SIGTERM aborts, so the
 * work can stop at a safe point; a second Ctrl-C falls through to Node's default and exits now.
 */
export async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    controller.abort(new LoupeError('INTERRUPTED', `stopped by ${name === 'SIGINT' ? 'Ctrl-C' : name}`));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
