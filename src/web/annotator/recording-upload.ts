import type { FastifyRequest } from 'fastify';
import { describeContent, sniffImage } from '../../data/content/sniff-image.js';
import { bufferSource } from '../../data/sources/audio/byte-source.js';
import { parseWavHeader, type WavInfo } from '../../data/sources/audio/wav-header.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { baseName, safeSegment } from '../organiser/safe-names.js';
import type { RecordingLimits } from './annotator-config.js';

const mebibytes = (n: number) =>
  `${(n / (1024 * 1024)).toLocaleString('en', { maximumFractionDigits: 2 })} MiB`;

export interface UploadedRecording {
  bytes: Buffer;
  /** The file name as uploaded, made safe to show. */
  name: string;
  info: WavInfo;
}

const ascii = (b: Uint8Array, at: number, s: string) =>
  b.length >= at + s.length && Buffer.from(b.subarray(at, at + s.length)).toString('latin1') === s;

/** Audio in another container: converting it is the way forward. */
function otherAudio(head: Uint8Array): string | undefined {
  if (ascii(head, 0, 'ID3') || (head[0] === 0xff && ((head[1] ?? 0) & 0xe0) === 0xe0)) return 'MP3 audio';
  if (ascii(head, 0, 'OggS')) return 'Ogg audio (Vorbis or Opus)';
  if (ascii(head, 0, 'fLaC')) return 'FLAC audio';
  if (ascii(head, 4, 'ftyp')) return 'an MP4/M4A file';
  if (ascii(head, 0, 'FORM') && (ascii(head, 8, 'AIFF') || ascii(head, 8, 'AIFC'))) return 'AIFF audio';
  return undefined;
}

/** Why an upload that is not a WAV file is refused: what it holds, and what to do. */
function notWav(head: Uint8Array, name: string): string {
  const audio = otherAudio(head);
  if (audio)
    return `${name} is ${audio}, not a WAV recording: convert it first, e.g. \`ffmpeg -i ${name} recording.wav\``;
  const image = sniffImage(head);
  const what = image ? `a ${image.ext.toUpperCase()} image` : describeContent(head);
  // describeContent speaks of images; here any unknown binary is simply unknown.
  const shown = what.startsWith('data of no known') ? 'data of no known format' : what;
  return `${name} is ${shown}, not a WAV recording: the annotator takes WAV files (PCM or float samples)`;
}

/**
 * Checks that bytes are a WAV recording the annotator can take, from the content (never the name
 * or the Content-Type): a RIFF/WAVE container whose header the WAV reader accepts (it names what
 * is wrong with a damaged one), holding audio, and not longer than the limit.
 */
export async function checkRecording(
  bytes: Uint8Array,
  name: string,
  limits: RecordingLimits,
): Promise<WavInfo> {
  if (bytes.length === 0) throw new LoupeError('INVALID_ARGUMENT', `${name} is empty (0 bytes)`);
  if (!(ascii(bytes, 0, 'RIFF') && ascii(bytes, 8, 'WAVE')))
    throw new LoupeError('UNSUPPORTED_MEDIA', notWav(bytes.subarray(0, 512), name));
  // The WAV reader names what is wrong with a damaged header (422).
  const info = await parseWavHeader(bufferSource(bytes, name));
  if (info.duration > limits.maxSeconds)
    throw new LoupeError(
      'TOO_LARGE',
      `${name} lasts ${Math.round(info.duration)} s; the annotator takes recordings of at most ${limits.maxSeconds} s: ` +
        `cut it into parts first, e.g. \`sox ${name} part.wav trim 0 ${limits.maxSeconds} : newfile : restart\``,
    );
  return info;
}

/** The recording of a multipart/form-data upload (its first file), read within the size limit and checked. */
export async function readRecordingUpload(
  request: FastifyRequest,
  limits: RecordingLimits,
): Promise<UploadedRecording> {
  if (!request.isMultipart())
    throw new LoupeError(
      'UNSUPPORTED_MEDIA',
      'send the recording as multipart/form-data, in a file field (e.g. curl -F file=@rec.wav)',
    );
  const tooLarge = () =>
    new LoupeError(
      'TOO_LARGE',
      `the recording is larger than the ${mebibytes(limits.maxBytes)} the annotator takes; cut it into parts first`,
    );
  let bytes: Buffer;
  let filename: string;
  try {
    const file = await request.file({ limits: { fileSize: limits.maxBytes, files: 1 } });
    if (!file)
      throw new LoupeError('INVALID_ARGUMENT', 'the upload has no file: send the recording in a file field');
    filename = file.filename;
    bytes = await file.toBuffer();
  } catch (e) {
    if ((e as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') throw tooLarge();
    throw e;
  }
  const base = baseName(filename);
  const name = base ? safeSegment(base).slice(0, 200) : 'recording.wav';
  return { bytes, name, info: await checkRecording(bytes, name, limits) };
}
