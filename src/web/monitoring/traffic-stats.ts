import { z } from 'zod';
import { LoupeError } from '../../errors/loupe-error.js';
import type { Database } from '../../store/database.js';

export const BUCKETS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
export type Bucket = keyof typeof BUCKETS;

/** Beyond this many buckets a chart is a smear and the answer a megabyte: choose a larger bucket. */
const MAX_BUCKETS = 1500;
/** The automatic bucket is the smallest that keeps a range within this many. */
const AUTO_BUCKETS = 360;
const CONFIDENCE_BINS = 10;
const DEFAULT_RANGE_MS = BUCKETS.day;

const instant = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), { message: 'an ISO 8601 date and time' })
  .transform((s) => new Date(s));

export const trafficQuerySchema = z.strictObject({
  model: z.string().min(1).max(100),
  version: z.coerce.number().int().min(1).optional(),
  /** Default: a day before `to`. */
  from: instant.optional(),
  /** Default: now. */
  to: instant.optional(),
  /** Default: the smallest of minute, hour, day giving at most 360 buckets. */
  bucket: z.enum(['minute', 'hour', 'day']).optional(),
});
export type TrafficQuery = z.output<typeof trafficQuerySchema>;

export interface TrafficBucket {
  /** The bucket's start, ISO 8601 UTC. */
  t: string;
  requests: number;
  /** Milliseconds by nearest rank; null in a bucket without requests. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
  meanConfidence: number | null;
  /** Predictions per class in the bucket. */
  classes: Record<string, number>;
}

export interface TrafficStats {
  model: string;
  version: number | null;
  from: string;
  to: string;
  bucket: Bucket;
  total: number;
  buckets: TrafficBucket[];
  /** Predictions per class over the range, most frequent first. */
  classTotals: { label: string; count: number }[];
  /** Predictions per model version over the range. */
  versions: { version: number; count: number }[];
  /** Top-1 confidence in ten equal bins over [0, 1] (the last includes 1). */
  confidence: { lo: number; hi: number; count: number }[];
}

/** The value at quantile q of sorted numbers, by nearest rank (what an SLO's p99 means). */
const nearestRank = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;

function chooseBucket(spanMs: number, asked: Bucket | undefined): Bucket {
  if (asked) {
    const count = Math.ceil(spanMs / BUCKETS[asked]);
    if (count > MAX_BUCKETS)
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `${count} ${asked} buckets is more than ${MAX_BUCKETS}; choose a larger bucket or a shorter range`,
      );
    return asked;
  }
  return (Object.keys(BUCKETS) as Bucket[]).find((b) => spanMs / BUCKETS[b] <= AUTO_BUCKETS) ?? 'day';
}

/**
 * What a model's served predictions looked like over a time range, bucketed: requests, latency
 * percentiles, class mix and confidence. Read from the prediction log row by row (SQLite has no
 * percentile function, and a range's rows need not fit in memory at once).
 */
export async function trafficStats(db: Database, q: TrafficQuery): Promise<TrafficStats> {
  const to = q.to ?? new Date();
  const from = q.from ?? new Date(to.getTime() - DEFAULT_RANGE_MS);
  if (from >= to) throw new LoupeError('INVALID_ARGUMENT', '`from` must be before `to`');
  const bucket = chooseBucket(to.getTime() - from.getTime(), q.bucket);
  const size = BUCKETS[bucket];
  const first = Math.floor(from.getTime() / size) * size;
  const count = Math.ceil((to.getTime() - first) / size);

  const latencies: number[][] = Array.from({ length: count }, () => []);
  const confidenceSums = new Float64Array(count);
  const classes: Record<string, number>[] = Array.from({ length: count }, () => ({}));
  const classTotals = new Map<string, number>();
  const versions = new Map<number, number>();
  const bins = new Array<number>(CONFIDENCE_BINS).fill(0);
  let q0 = db
    .selectFrom('predictions')
    .select(['at', 'version', 'predicted', 'confidence', 'latency_ms'])
    .where('model', '=', q.model)
    .where('at', '>=', from.toISOString())
    .where('at', '<', to.toISOString());
  if (q.version !== undefined) q0 = q0.where('version', '=', q.version);
  for await (const r of q0.stream(1000)) {
    const i = Math.floor((Date.parse(r.at) - first) / size);
    if (i < 0 || i >= count) continue;
    latencies[i]!.push(r.latency_ms);
    confidenceSums[i]! += r.confidence;
    classes[i]![r.predicted] = (classes[i]![r.predicted] ?? 0) + 1;
    classTotals.set(r.predicted, (classTotals.get(r.predicted) ?? 0) + 1);
    versions.set(r.version, (versions.get(r.version) ?? 0) + 1);
    bins[Math.min(CONFIDENCE_BINS - 1, Math.max(0, Math.floor(r.confidence * CONFIDENCE_BINS)))]!++;
  }

  const buckets = latencies.map((l, i): TrafficBucket => {
    const sorted = l.sort((a, b) => a - b);
    const has = sorted.length > 0;
    return {
      t: new Date(first + i * size).toISOString(),
      requests: sorted.length,
      p50: has ? nearestRank(sorted, 0.5) : null,
      p95: has ? nearestRank(sorted, 0.95) : null,
      p99: has ? nearestRank(sorted, 0.99) : null,
      meanConfidence: has ? confidenceSums[i]! / sorted.length : null,
      classes: classes[i]!,
    };
  });
  return {
    model: q.model,
    version: q.version ?? null,
    from: from.toISOString(),
    to: to.toISOString(),
    bucket,
    total: buckets.reduce((a, b) => a + b.requests, 0),
    buckets,
    classTotals: [...classTotals]
      .map(([label, n]) => ({ label, count: n }))
      .sort((a, b) => b.count - a.count || a.label.localeCompare(b.label)),
    versions: [...versions]
      .map(([version, n]) => ({ version, count: n }))
      .sort((a, b) => a.version - b.version),
    confidence: bins.map((n, i) => ({ lo: i / CONFIDENCE_BINS, hi: (i + 1) / CONFIDENCE_BINS, count: n })),
  };
}

/** Models the prediction log has rows for, with their versions, most recent first. */
export async function monitoredModels(
  db: Database,
): Promise<{ model: string; versions: number[]; predictions: number; last: string }[]> {
  const rows = await db
    .selectFrom('predictions')
    .select([
      'model',
      'version',
      (eb) => eb.fn.countAll<number>().as('n'),
      (eb) => eb.fn.max('at').as('last'),
    ])
    .groupBy(['model', 'version'])
    .execute();
  const byModel = new Map<string, { model: string; versions: number[]; predictions: number; last: string }>();
  for (const r of rows) {
    const m = byModel.get(r.model) ?? { model: r.model, versions: [], predictions: 0, last: '' };
    m.versions.push(r.version);
    m.predictions += Number(r.n);
    if (r.last > m.last) m.last = r.last;
    byModel.set(r.model, m);
  }
  return [...byModel.values()]
    .map((m) => ({ ...m, versions: m.versions.sort((a, b) => a - b) }))
    .sort((a, b) => b.last.localeCompare(a.last));
}
