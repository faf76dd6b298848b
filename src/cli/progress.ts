import cliProgress from 'cli-progress';

export interface ProgressBar {
  update(done: number, fields?: Record<string, string | number>): void;
  stop(): void;
}

/**
 * One line of `LOUPE_PROGRESS=json` output: where a bar stands, for a parent process (the web
 * app's jobs) to read from stderr instead of scraping a drawn bar.
 */
export interface ProgressLine {
  stage: string;
  unit: string;
  done: number;
  total: number;
  /** Units per second since the bar started; null before any time has passed. */
  rate: number | null;
  /** Seconds left at that rate; null while the rate is unknown or zero. */
  eta: number | null;
  /** The bar's other figures (loss, MB, failures, ...), when it has any. */
  fields?: Record<string, string | number>;
}

/** At most this often per bar, so a bar updated per item does not flood the reader. */
const JSON_EVERY_MS = 250;

/** Whether bars print JSON lines: read at each bar's start, so a test can set it in-process. */
const jsonProgress = () => process.env.LOUPE_PROGRESS === 'json';

/**
 * A bar's stage name from what it shows: the first plain segment of `extra` (" | embed",
 * " | epoch 3/10 | loss {loss}"), else a stage the unit names in parentheses ("items (copy)"),
 * else the unit itself. Segments with {placeholders} are figures, not names.
 */
function stageOf(unit: string, extra: string): { stage: string; unit: string } {
  const named = extra
    .split('|')
    .map((s) => s.trim())
    .find((s) => s && !s.includes('{'));
  const inUnit = /^(.+?) \((.+)\)$/.exec(unit);
  if (named) return { stage: named, unit: inUnit?.[1] ?? unit };
  return inUnit ? { stage: inUnit[2]!, unit: inUnit[1]! } : { stage: unit, unit };
}

function jsonBar(total: number, unit: string, extra: string): ProgressBar {
  const label = stageOf(unit, extra);
  const started = performance.now();
  let written = -Infinity;
  let last: { done: number; fields: Record<string, string | number> } | undefined;
  let shown: typeof last;
  const write = () => {
    if (!last || last === shown) return;
    shown = last;
    written = performance.now();
    const seconds = (written - started) / 1000;
    const rate = seconds > 0 ? last.done / seconds : null;
    const line: ProgressLine = {
      ...label,
      done: last.done,
      total,
      rate: rate === null ? null : Math.round(rate * 100) / 100,
      eta: rate ? Math.round(((total - last.done) / rate) * 10) / 10 : null,
      ...(Object.keys(last.fields).length ? { fields: last.fields } : {}),
    };
    process.stderr.write(`${JSON.stringify(line)}\n`);
  };
  return {
    update(done, fields = {}) {
      last = { done, fields: { ...last?.fields, ...fields } };
      // The first and the last update always go out: a reader learns a stage began and ended.
      if (shown === undefined || done >= total || performance.now() - written >= JSON_EVERY_MS) write();
    },
    stop: write,
  };
}

/**
 * A terminal progress bar with rate and ETA. When output is not a terminal (CI, pipes) it stays
 * silent and callers print one line per milestone instead, so logs are not flooded; with
 * LOUPE_PROGRESS=json it prints a ProgressLine to stderr at most every 250 ms instead.
 */
export function progressBar(total: number, unit: string, extra = ''): ProgressBar {
  if (jsonProgress()) return jsonBar(total, unit, extra);
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
