import { LoupeError } from '../../../errors/loupe-error.js';
import type { AudioSpan } from './audio-items.js';
import type { ResampleQuality } from './resample.js';
import { readWav, readWavInfo, type DecodedAudio } from './wav-decode.js';

export interface SpanReadOptions {
  /** Rate (Hz) of the returned samples; default each recording's own. A dataset needs one. */
  sampleRate?: number;
  /** Channel to keep (0-based) instead of the mean of all channels. */
  channel?: number;
  quality?: ResampleQuality;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * Cuts a span out of a recording decoded at `rate`, whose first sample is frame `offset` of the
 * whole recording at that rate. The result always has round(span.duration × rate) samples: the
 * span's audio after round(padBefore × rate) zeros, zeros after it.
 */
export function cutSpan(samples: Float32Array, rate: number, span: AudioSpan, offset = 0): Float32Array {
  const out = new Float32Array(Math.round(span.duration * rate));
  const before = Math.min(out.length, Math.round(span.padBefore * rate));
  const first = Math.round(span.start * rate);
  const from = Math.max(0, first - offset);
  const take = Math.max(
    0,
    Math.min(Math.round(span.end * rate) - first, out.length - before, samples.length - from),
  );
  out.set(samples.subarray(from, from + take), before);
  return out;
}

function checkUnchanged(decoded: DecodedAudio, span: AudioSpan): void {
  if (decoded.info.sampleRate !== span.sampleRate)
    throw new LoupeError(
      'CORRUPT_FILE',
      `${span.recording}: the file changed since it was scanned (now ${decoded.info.sampleRate} Hz, was ${span.sampleRate} Hz)`,
      { file: span.recording },
    );
}

/**
 * Reads one span, decoding only the frames it needs. When resampling, a margin of audio on both
 * sides goes through the converter so the span's samples equal those of a whole-file decode
 * (up to float rounding), and the read starts on a frame that falls exactly on a sample of the
 * new rate, so no fractional shift creeps in.
 */
export async function readSpan(span: AudioSpan, options: SpanReadOptions = {}): Promise<Float32Array> {
  const native = span.sampleRate;
  const rate = options.sampleRate ?? native;
  if (!Number.isInteger(rate) || rate <= 0)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `sample rate must be a positive whole number of Hz, got ${rate}`,
    );
  const info = await readWavInfo(span.recording);
  if (rate === native) {
    const first = Math.round(span.start * native);
    const end = Math.min(info.frames, Math.round(span.end * native));
    const decoded = await readWav(span.recording, {
      ...options,
      startFrame: Math.min(first, end),
      endFrame: end,
    });
    checkUnchanged(decoded, span);
    return cutSpan(decoded.samples, native, span, first);
  }
  // The converter's filter reaches a few hundred input samples around each output sample.
  const margin = Math.ceil(Math.max(0.05 * native, 256 * Math.max(1, native / rate)));
  const unit = native / gcd(native, rate);
  const startFrame = Math.max(0, Math.floor((Math.floor(span.start * native) - margin) / unit) * unit);
  const endFrame = Math.min(info.frames, Math.ceil(span.end * native) + margin);
  const decoded = await readWav(span.recording, {
    ...options,
    startFrame,
    endFrame: Math.max(startFrame, endFrame),
  });
  checkUnchanged(decoded, span);
  return cutSpan(decoded.samples, rate, span, Math.round((startFrame * rate) / native));
}

/**
 * Reads many spans, decoding (and resampling) each recording once and cutting all its spans from
 * it; results are in the order of `spans`. Holds one decoded recording in memory at a time.
 */
export async function loadSpans(
  spans: readonly AudioSpan[],
  options: SpanReadOptions = {},
  onProgress?: (done: number, total: number) => void,
): Promise<Float32Array[]> {
  const byRecording = new Map<string, number[]>();
  spans.forEach((s, i) => {
    const list = byRecording.get(s.recording);
    if (list) list.push(i);
    else byRecording.set(s.recording, [i]);
  });
  const out = new Array<Float32Array>(spans.length);
  let done = 0;
  for (const [file, indices] of byRecording) {
    const decoded = await readWav(file, options);
    for (const i of indices) {
      const span = spans[i]!;
      checkUnchanged(decoded, span);
      out[i] = cutSpan(decoded.samples, decoded.sampleRate, span);
    }
    done += indices.length;
    onProgress?.(done, spans.length);
  }
  return out;
}
