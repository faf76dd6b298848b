import { LoupeError } from '../../../errors/loupe-error.js';
import { bufferSource, withFileSource, type ByteSource } from './byte-source.js';
import { resample, type ResampleQuality } from './resample.js';
import { parseWavHeader, type WavInfo } from './wav-header.js';

/** Mono audio, the form every later step (segments, log-mel features) works on. */
export interface DecodedAudio {
  /** Samples in [-1, 1] (float WAVs are passed through and may exceed it if they clipped). */
  samples: Float32Array;
  /** Rate of `samples`: the file's own, or the requested one after resampling. */
  sampleRate: number;
  /** The header of the file as read (its own sample rate and channel count). */
  info: WavInfo;
}

export interface WavReadOptions {
  /**
   * Which channel to keep (0-based). By default all channels are mixed down to mono by their
   * mean: equal weights keep the level of a sound present on every channel, while a sound on
   * one channel only is attenuated by 1/channels, and out-of-phase channels can cancel. Pick
   * a channel when the recorder has one microphone per channel.
   */
  channel?: number;
  /** Resample to this rate (Hz) with libsamplerate's band-limited sinc converter. */
  sampleRate?: number;
  /** Converter quality when resampling; default 'medium'. */
  quality?: ResampleQuality;
  /** First frame to read (at the file's own rate); default 0. */
  startFrame?: number;
  /** Frame after the last to read (at the file's own rate); default the end of the audio. */
  endFrame?: number;
}

/**
 * Integer PCM is scaled by 2^(bits-1) (so -32768 maps to exactly -1 and 32767 to just under 1,
 * the convention of libsndfile and sox); 8-bit PCM is unsigned around 128 as the format defines.
 */
function readerFor(info: WavInfo, dv: DataView): (byteOffset: number) => number {
  if (info.encoding === 'float')
    return info.bitsPerSample === 64 ? (o) => dv.getFloat64(o, true) : (o) => dv.getFloat32(o, true);
  switch (info.bitsPerSample) {
    case 8:
      return (o) => (dv.getUint8(o) - 128) / 128;
    case 16:
      return (o) => dv.getInt16(o, true) / 32768;
    case 24:
      return (o) => (dv.getUint8(o) | (dv.getUint8(o + 1) << 8) | (dv.getInt8(o + 2) << 16)) / 8388608;
    default:
      return (o) => dv.getInt32(o, true) / 2147483648;
  }
}

/** Interleaved frames → one mono channel (mean of channels, or the chosen one). */
function toMono(info: WavInfo, bytes: Uint8Array, frames: number, channel: number | undefined): Float32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read = readerFor(info, dv);
  const step = info.bitsPerSample / 8;
  const out = new Float32Array(frames);
  const channels = info.channels;
  for (let f = 0, o = 0; f < frames; f++, o += info.blockAlign) {
    if (channel !== undefined) {
      out[f] = read(o + channel * step);
    } else {
      let sum = 0;
      for (let c = 0; c < channels; c++) sum += read(o + c * step);
      out[f] = sum / channels;
    }
  }
  if (info.encoding === 'float') {
    const bad = out.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0)
      throw new LoupeError('CORRUPT_FILE', `${info.file}: sample frame ${bad} is not a finite number`, {
        file: info.file,
        frame: bad,
      });
  }
  return out;
}

async function decodeFrom(source: ByteSource, options: WavReadOptions): Promise<DecodedAudio> {
  const info = await parseWavHeader(source);
  const { channel } = options;
  if (channel !== undefined && (!Number.isInteger(channel) || channel < 0 || channel >= info.channels))
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `${info.file}: channel ${channel} requested but the file has ${info.channels} channel(s) (0-based)`,
    );
  const start = options.startFrame ?? 0;
  const end = Math.min(options.endFrame ?? info.frames, info.frames);
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || start > end)
    throw new LoupeError('INVALID_ARGUMENT', `${info.file}: invalid frame range [${start}, ${end})`);
  const frames = end - start;
  const bytes = await source.read(info.dataOffset + start * info.blockAlign, frames * info.blockAlign);
  // The header was checked against the file size, so a short read means it changed under us.
  if (bytes.byteLength < frames * info.blockAlign)
    throw new LoupeError('CORRUPT_FILE', `${info.file}: the file ended early while reading its audio`, {
      file: info.file,
    });
  let samples = toMono(info, bytes, frames, channel);
  let sampleRate = info.sampleRate;
  if (options.sampleRate !== undefined && options.sampleRate !== info.sampleRate) {
    samples = await resample(samples, info.sampleRate, options.sampleRate, options.quality);
    sampleRate = options.sampleRate;
  }
  return { samples, sampleRate, info };
}

/** Decodes a whole WAV held in memory (`name` appears in error messages). */
export function decodeWav(
  bytes: Uint8Array,
  name: string,
  options: WavReadOptions = {},
): Promise<DecodedAudio> {
  return decodeFrom(bufferSource(bytes, name), options);
}

/** Decodes a WAV file, or the frame range of it given in `options`, reading only those bytes. */
export function readWav(file: string, options: WavReadOptions = {}): Promise<DecodedAudio> {
  return withFileSource(file, (source) => decodeFrom(source, options));
}

/** Reads only the header: format, channels, rate, frames and duration, without the audio. */
export function readWavInfo(file: string): Promise<WavInfo> {
  return withFileSource(file, parseWavHeader);
}
