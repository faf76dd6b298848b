import { z } from 'zod';

const MiB = 1024 * 1024;

/**
 * `web.annotator` in loupe.yaml: what one recording uploaded to the audio annotator may be.
 * The defaults: 64 MiB holds 33 minutes of 16 kHz mono 16-bit audio, or 6 minutes of 48 kHz
 * stereo; 10 minutes keeps pre-labelling to seconds and the page's waveform responsive (the
 * browser decodes the whole recording). The bounds: the server holds an upload in memory while
 * it checks and stores it, and an hour of 48 kHz stereo already takes the browser over a GiB
 * to decode, while the spectrogram (at most 8,192 columns) shows it a column per 0.44 s.
 */
export const annotatorConfigSchema = z.strictObject({
  /** The largest upload, in bytes. */
  maxBytes: z
    .number()
    .int('a whole number of bytes')
    .positive()
    .max(1024 * MiB, 'at most 1073741824 (1 GiB): the server holds each upload in memory')
    .default(64 * MiB),
  /** The longest recording, in seconds. */
  maxSeconds: z
    .number()
    .positive()
    .max(3600, 'at most 3600 (an hour): the page decodes the whole recording')
    .default(600),
});

export type AnnotatorConfig = z.output<typeof annotatorConfigSchema>;

/** What one upload may be (the page is told them too). */
export type RecordingLimits = Pick<AnnotatorConfig, 'maxBytes' | 'maxSeconds'>;
