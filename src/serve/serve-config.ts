import { z } from 'zod';

/**
 * The `serve:` section of loupe.yaml: how `loupe serve` listens, who may call it, and how much
 * any one request may cost. Every limit has a default so an empty section serves safely on
 * localhost; each is documented in the loupe.yaml template and docs/serving-admin.md.
 */

const MiB = 1024 * 1024;

const authSchema = z.strictObject({
  /** When true every /v1 route needs a key; when false a key is optional (and still scoped). */
  required: z.boolean().default(false),
  /** What a new key gets unless `keys create --rate` says otherwise. */
  ratePerMinute: z.number().int().positive().default(600),
});

const batchingSchema = z.strictObject({
  maxBatch: z.number().int().positive().default(32),
  /** How long the first request of a batch waits for company before the batch runs. */
  maxWaitMs: z.number().nonnegative().default(3),
  /** Requests waiting for the model beyond this are refused (503) rather than queued. */
  queueLimit: z.number().int().positive().default(512),
});

const limitsSchema = z.strictObject({
  bodyBytes: z
    .number()
    .int()
    .positive()
    .default(20 * MiB),
  /** Decompression bombs: a tiny PNG can claim gigapixels. */
  maxPixels: z.number().int().positive().default(40_000_000),
  decodeTimeoutMs: z.number().int().positive().default(5000),
  batchItems: z.number().int().positive().default(64),
});

const urlSchema = z.strictObject({
  /** Fetching loopback, link-local and private addresses lets a caller probe the server's network. */
  allowPrivate: z.boolean().default(false),
  /**
   * Always allowed, whatever they resolve to: exact host names (`images.internal`) and IP
   * addresses or CIDRs (`10.1.0.0/16`), for images on an internal network.
   */
  allow: z.array(z.string().min(1)).default([]),
  maxBytes: z
    .number()
    .int()
    .positive()
    .default(20 * MiB),
  timeoutMs: z.number().int().positive().default(10_000),
  maxRedirects: z.number().int().nonnegative().default(3),
});

export const predictionLogConfigSchema = z.strictObject({
  /** The fraction of predictions recorded, 0..1. */
  sample: z.number().min(0).max(1).default(1),
  /** Keep each recorded input in the blob store (for labelling later); costs disk. */
  storeInputs: z.boolean().default(false),
  retentionDays: z.number().positive().default(30),
  maxRows: z.number().int().positive().default(1_000_000),
});

const reloadSchema = z.strictObject({
  /** How often the server checks the registry for moved aliases. */
  intervalMs: z.number().int().positive().default(1000),
});

export const serveConfigSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8080),
  auth: authSchema.default(authSchema.parse({})),
  batching: batchingSchema.default(batchingSchema.parse({})),
  limits: limitsSchema.default(limitsSchema.parse({})),
  url: urlSchema.default(urlSchema.parse({})),
  predictionLog: predictionLogConfigSchema.default(predictionLogConfigSchema.parse({})),
  reload: reloadSchema.default(reloadSchema.parse({})),
  /** Classes returned per prediction unless the request asks for fewer or more. */
  topK: z.number().int().positive().default(5),
});

export type ServeConfig = z.output<typeof serveConfigSchema>;
export type PredictionLogConfig = z.output<typeof predictionLogConfigSchema>;
