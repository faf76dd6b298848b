import { createHash } from 'node:crypto';
import { LoupeError, isErrorCode, isLoupeError } from '../errors/loupe-error.js';
import { topK, type LabelProbability } from '../inference/top-k.js';
import { parseModelRef } from '../registry/model-ref.js';
import type { ModelHost } from './model-host.js';
import type { PredictionEntry, PredictionLog } from './prediction-log.js';
import type { ServeMetrics } from './serve-metrics.js';
import { fetchImageUrl, type UrlPolicy } from './url-input.js';

/** One input as a client sent it, before it is fetched or decoded. */
export type ClientInput = { url: string } | { image_base64: string } | { bytes: Uint8Array };

export type ItemOutcome = { predictions: LabelProbability[] } | { error: LoupeError };

export interface PredictContext {
  topK: number;
  /** The API key's id, for the prediction log. */
  caller?: string;
  requestId: string;
  signal?: AbortSignal;
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** An image sent as base64 (standard or URL-safe; a data: URL prefix and whitespace are fine). */
export function decodeImageBase64(value: string): Uint8Array {
  const text = value.replace(/^data:[^,]*;base64,/, '').replace(/\s+/g, '');
  if (!BASE64.test(text)) throw new LoupeError('INVALID_ARGUMENT', 'image_base64 is not valid base64');
  return Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
}

/**
 * What every prediction route does once it has the client's inputs: fetch URLs (through the
 * SSRF guard) and decode base64, hand the bytes to the model's micro-batcher, turn probabilities
 * into top-k labels, and count and log each prediction. Inputs fail one by one: in a batch, a bad
 * image is an error item, not a failed request.
 */
export class PredictService {
  constructor(
    private readonly host: ModelHost,
    private readonly metrics: ServeMetrics,
    private readonly log: PredictionLog | undefined,
    private readonly urlPolicy: UrlPolicy,
  ) {}

  private async bytesOf(
    input: ClientInput,
    signal?: AbortSignal,
  ): Promise<{ bytes: Uint8Array; source: PredictionEntry['source'] }> {
    if ('bytes' in input) return { bytes: input.bytes, source: 'upload' };
    if ('url' in input)
      return {
        bytes: (await fetchImageUrl(input.url, this.urlPolicy, signal ? { signal } : {})).bytes,
        source: 'url',
      };
    return { bytes: decodeImageBase64(input.image_base64), source: 'base64' };
  }

  /** Classifies inputs with the version a model reference names now; the version is in the answer. */
  async predict(
    modelText: string,
    inputs: ClientInput[],
    ctx: PredictContext,
  ): Promise<{ model: string; results: ItemOutcome[] }> {
    if (!inputs.length) throw new LoupeError('INVALID_ARGUMENT', 'no image in the request');
    const ref = parseModelRef(modelText);
    // An unknown model fails before any URL is fetched.
    await this.host.get(ref);
    const received = await Promise.all(
      inputs.map((input) => {
        const started = performance.now();
        return this.bytesOf(input, ctx.signal).then(
          (got) => ({ ...got, started }),
          (e: unknown) => {
            if (isLoupeError(e)) return { error: e };
            throw e;
          },
        );
      }),
    );
    // The version is taken only now that the bytes are here, and used at once (predict() counts
    // it in flight synchronously): a version swapped out while URLs were being fetched would
    // have been retired, its worker stopped, under a request still holding it.
    const served = await this.host.get(ref);
    const classes = served.info.classes;
    const results = await Promise.all(
      received.map(async (got): Promise<ItemOutcome> => {
        if ('error' in got) return { error: got.error };
        const { bytes, source, started } = got;
        try {
          const result = await served.predict(bytes);
          if ('error' in result)
            return {
              error: new LoupeError(
                isErrorCode(result.error.code) ? result.error.code : 'INTERNAL',
                result.error.message,
              ),
            };
          const predictions = topK(result.probs, classes, ctx.topK);
          const best = predictions[0]!;
          this.metrics.predictions.inc({
            model: served.model,
            version: String(served.version),
            class: best.label,
          });
          this.metrics.confidence.observe({ model: served.model }, best.probability);
          if (this.log) {
            this.log.record({
              model: served.model,
              version: served.version,
              input: bytes,
              inputHash: createHash('sha256').update(bytes).digest('hex'),
              source: inputs.length > 1 ? 'batch' : source,
              topK: predictions,
              embedding: result.embedding ?? null,
              latencyMs: performance.now() - started,
              ...(ctx.caller ? { caller: ctx.caller } : {}),
              requestId: ctx.requestId,
            });
          }
          return { predictions };
        } catch (e) {
          if (isLoupeError(e)) return { error: e };
          throw e;
        }
      }),
    );
    return { model: served.ref, results };
  }
}
