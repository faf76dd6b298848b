import sharp from 'sharp';
import { createLogMel, type LogMelInput } from '../../features/audio/log-mel.js';

/**
 * Viridis (matplotlib's perceptually uniform map, readable in greyscale and by most colour-blind
 * people) at nine evenly spaced stops; colours between them are interpolated. Nine stops are
 * within a couple of levels of the 256-entry table, and no colour-map package is a dependency.
 */
const VIRIDIS = [
  [0x44, 0x01, 0x54],
  [0x47, 0x2d, 0x7b],
  [0x3b, 0x52, 0x8b],
  [0x2c, 0x72, 0x8e],
  [0x21, 0x91, 0x8c],
  [0x28, 0xae, 0x80],
  [0x5e, 0xc9, 0x62],
  [0xad, 0xdc, 0x30],
  [0xfd, 0xe7, 0x25],
] as const;

function colour(t: number, out: Uint8Array, at: number): void {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const [a, b] = [VIRIDIS[i]!, VIRIDIS[i + 1]!];
  for (let c = 0; c < 3; c++) out[at + c] = Math.round(a[c]! + (b[c]! - a[c]!) * f);
}

export interface SpectrogramImage {
  png: Uint8Array;
  /** Pixel columns; each spans duration / columns seconds. */
  columns: number;
  /** One row per mel band, the lowest at the bottom. */
  rows: number;
}

/** Wider images gain nothing on screen and cost memory in the browser. */
export const MAX_COLUMNS = 8192;

/**
 * A recording's log-mel spectrogram as a PNG, computed with the model's own front end (its
 * sample rate, FFT, hop and mel bands), so the picture shows what the model hears. Colours span
 * the loudest 80 dB of the whole recording. Long recordings are narrowed to at most MAX_COLUMNS
 * by keeping each column's loudest frame, so a short burst never averages away.
 */
export async function spectrogramPng(samples: Float32Array, logMel: LogMelInput): Promise<SpectrogramImage> {
  const { data, mels, frames } = createLogMel({ ...logMel, topDb: null })(samples);
  const columns = Math.max(1, Math.min(frames, MAX_COLUMNS));
  const pooled = new Float32Array(mels * columns).fill(-Infinity);
  let peak = -Infinity;
  for (let m = 0; m < mels; m++)
    for (let t = 0; t < frames; t++) {
      const v = data[m * frames + t]!;
      const at = m * columns + Math.min(columns - 1, Math.floor((t * columns) / frames));
      if (v > pooled[at]!) pooled[at] = v;
      if (v > peak) peak = v;
    }
  const floor = peak - 80;
  // All silence (-100 dB, log-mel's floor) is dark, not the top of an 80 dB range.
  const scale = peak > -100 + 1e-3 ? 1 / 80 : 0;
  const rgb = new Uint8Array(mels * columns * 3);
  for (let m = 0; m < mels; m++) {
    const row = mels - 1 - m;
    for (let c = 0; c < columns; c++)
      colour((pooled[m * columns + c]! - floor) * scale, rgb, (row * columns + c) * 3);
  }
  const png = await sharp(rgb, { raw: { width: columns, height: mels, channels: 3 } })
    .png({ compressionLevel: 6 })
    .toBuffer();
  return { png, columns, rows: mels };
}
