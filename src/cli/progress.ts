import cliProgress from 'cli-progress';

export interface ProgressBar {
  update(done: number, fields?: Record<string, string | number>): void;
  stop(): void;
}

/**
 * A terminal progress bar with rate and ETA. When output is not a terminal (CI, pipes) it stays
 * silent and callers print one line per milestone instead, so logs are not flooded.
 */
export function progressBar(total: number, unit: string, extra = ''): ProgressBar {
  if (!process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    {
      format: `  {bar} {percentage}% | {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted}${extra}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = performance.now();
  bar.start(total, 0, { rate: '-', loss: '-' });
  return {
    update(done, fields = {}) {
      const seconds = (performance.now() - started) / 1000;
      bar.update(done, {
        rate: seconds > 0 ? Math.round(done / seconds).toLocaleString('en') : '-',
        ...fields,
      });
    },
    stop: () => bar.stop(),
  };
}
