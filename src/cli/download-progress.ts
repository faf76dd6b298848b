import type { DownloadProgress } from '../data/download/download-report.js';
import { progressBar } from './progress.js';

export interface DownloadProgressBar {
  /** Pass as downloadAll's `onProgress`. */
  onProgress: (p: DownloadProgress) => void;
  stop(): void;
}

/**
 * The terminal bar for downloadAll: URLs settled with rate and ETA, plus megabytes fetched and
 * failures so far. Silent off a terminal, like every bar (see progressBar).
 */
export function downloadProgressBar(total: number): DownloadProgressBar {
  const bar = progressBar(total, 'URLs', ' | {mb} MB | {cached} cached | {failed} failed');
  bar.update(0, { mb: '0.0', cached: 0, failed: 0 });
  return {
    onProgress: (p) =>
      bar.update(p.done, {
        mb: (p.bytesDownloaded / 2 ** 20).toFixed(1),
        cached: p.cached,
        failed: p.failed,
      }),
    stop: () => bar.stop(),
  };
}
