/**
 * The RIFF/WAVE container: walks the chunks, checks the `fmt ` chunk and locates the audio data.
 *
 * Written here rather than taken from npm on purpose. The maintained ESM decoder
 * (`@audio/decode-wav` 1.5) steps over chunks without the pad byte that follows an odd-sized one
 * (so a file with an odd LIST or bext chunk before its audio loses the data chunk), decodes a
 * truncated data chunk silently and does not check the block size against channels × bits;
 * `wavefile`, the most complete, has had no release since January 2020. Uncompressed WAV is
 * small enough to parse carefully in one file, with an error for every way a header can lie.
 */
import { LoupeError } from '../../../errors/loupe-error.js';
import type { ByteSource } from './byte-source.js';

export type WavEncoding = 'pcm' | 'float';

export interface WavInfo {
  /** The file (or buffer name) the header was read from. */
  file: string;
  /** Signed integer PCM (unsigned for 8-bit, as the format defines) or IEEE float. */
  encoding: WavEncoding;
  /** Whether the header is WAVE_FORMAT_EXTENSIBLE (the codec is then its sub-format). */
  extensible: boolean;
  /** Bits per sample of the container: 8, 16, 24 or 32 for PCM; 32 or 64 for float. */
  bitsPerSample: number;
  /** Bits that carry signal (WAVE_FORMAT_EXTENSIBLE may declare fewer than the container). */
  validBitsPerSample: number;
  channels: number;
  sampleRate: number;
  /** Sample frames (one sample per channel) in the data chunk. */
  frames: number;
  /** Seconds: frames / sampleRate. */
  duration: number;
  /** Byte offset of the first frame in the file. */
  dataOffset: number;
  /** Bytes per frame. */
  blockAlign: number;
}

const WAVE_FORMAT_PCM = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** Bytes 2..15 of every KSDATAFORMAT_SUBTYPE_* GUID whose first two bytes are a format tag. */
const KSDATAFORMAT_SUFFIX = [
  0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71,
];

/** Names for the compressed codecs people most often meet inside a .wav, for the error message. */
const CODEC_NAMES: Record<number, string> = {
  0x0002: 'Microsoft ADPCM',
  0x0006: 'G.711 A-law',
  0x0007: 'G.711 µ-law',
  0x0011: 'IMA ADPCM',
  0x0031: 'GSM 6.10',
  0x0050: 'MPEG audio',
  0x0055: 'MP3',
  0x00ff: 'AAC',
  0x0161: 'Windows Media Audio',
  0x2000: 'AC-3',
  0xf1ac: 'FLAC',
};

// Limits beyond which a header field is taken as a lie rather than a recording: ultrasonic
// recorders reach 768 kHz and arrays a few dozen channels, far below these.
const MAX_CHANNELS = 1024;
const MAX_SAMPLE_RATE = 10_000_000;
const MAX_FMT_BYTES = 64 * 1024;
/** Streaming writers that cannot seek back leave this in the data size: "to the end of the file". */
const SIZE_UNKNOWN = 0xffffffff;

const CONVERT_HINT = 'convert it to PCM WAV first, e.g. `sox in.wav -e signed-integer -b 16 out.wav`';

function corrupt(source: ByteSource, message: string, details: Record<string, unknown> = {}): LoupeError {
  return new LoupeError('CORRUPT_FILE', `${source.name}: ${message}`, { file: source.name, ...details });
}

function fourCC(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
}

function printable(id: string): string {
  return /^[\x20-\x7e]{4}$/.test(id)
    ? `'${id}'`
    : `bytes ${[...id].map((c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join(' ')}`;
}

interface FmtFields {
  encoding: WavEncoding;
  extensible: boolean;
  channels: number;
  sampleRate: number;
  blockAlign: number;
  bitsPerSample: number;
  validBitsPerSample: number;
}

function parseFmt(source: ByteSource, b: Uint8Array): FmtFields {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const tag = dv.getUint16(0, true);
  const channels = dv.getUint16(2, true);
  const sampleRate = dv.getUint32(4, true);
  const blockAlign = dv.getUint16(12, true);
  const bitsPerSample = dv.getUint16(14, true);
  let codec = tag;
  let validBitsPerSample = bitsPerSample;
  const extensible = tag === WAVE_FORMAT_EXTENSIBLE;
  if (extensible) {
    // cbSize (2) + valid bits (2) + channel mask (4) + sub-format GUID (16) follow the basic 16 bytes.
    if (b.byteLength < 40 || dv.getUint16(16, true) < 22)
      throw corrupt(
        source,
        `WAVE_FORMAT_EXTENSIBLE fmt chunk is too short (${b.byteLength} bytes, needs 40)`,
      );
    validBitsPerSample = dv.getUint16(18, true) || bitsPerSample;
    codec = dv.getUint16(24, true);
    if (!KSDATAFORMAT_SUFFIX.every((v, i) => b[26 + i] === v))
      throw corrupt(
        source,
        `unsupported WAVE_FORMAT_EXTENSIBLE sub-format (not a standard format GUID); ${CONVERT_HINT}`,
      );
  }
  let encoding: WavEncoding;
  if (codec === WAVE_FORMAT_PCM) encoding = 'pcm';
  else if (codec === WAVE_FORMAT_IEEE_FLOAT) encoding = 'float';
  else {
    const name = CODEC_NAMES[codec] ?? 'an unknown codec';
    throw corrupt(
      source,
      `unsupported WAV codec ${name} (format tag 0x${codec.toString(16).padStart(4, '0')}); only uncompressed PCM and IEEE float are read: ${CONVERT_HINT}`,
      { formatTag: codec },
    );
  }
  if (channels === 0 || channels > MAX_CHANNELS)
    throw corrupt(source, `implausible channel count ${channels} in the fmt chunk`);
  if (sampleRate === 0 || sampleRate > MAX_SAMPLE_RATE)
    throw corrupt(source, `implausible sample rate ${sampleRate} Hz in the fmt chunk`);
  const allowed = encoding === 'pcm' ? [8, 16, 24, 32] : [32, 64];
  if (!allowed.includes(bitsPerSample))
    throw corrupt(
      source,
      `unsupported ${encoding === 'pcm' ? 'PCM' : 'float'} sample size of ${bitsPerSample} bits (supported: ${allowed.join(', ')}); ${CONVERT_HINT}`,
    );
  if (validBitsPerSample > bitsPerSample)
    throw corrupt(source, `${validBitsPerSample} valid bits declared in a ${bitsPerSample}-bit container`);
  const expected = (channels * bitsPerSample) / 8;
  if (blockAlign !== expected)
    throw corrupt(
      source,
      `block align of ${blockAlign} bytes does not match ${channels} channel(s) × ${bitsPerSample} bits (${expected} bytes)`,
    );
  return { encoding, extensible, channels, sampleRate, blockAlign, bitsPerSample, validBitsPerSample };
}

/**
 * Reads and checks a WAV header. Chunks other than `fmt ` and `data` (LIST, bext, cue, fact,
 * JUNK, ...) are skipped, honouring the pad byte after odd-sized chunks. The RIFF size field is
 * not trusted (streaming writers leave it 0 or wrong); every chunk is checked against the real
 * file size instead, and a data chunk running past the end of the file is reported as truncated.
 * Throws LoupeError CORRUPT_FILE, naming the file, for anything it cannot read.
 */
export async function parseWavHeader(source: ByteSource): Promise<WavInfo> {
  const size = source.size;
  if (size < 12) throw corrupt(source, `not a WAV file: only ${size} bytes`);
  const head = await source.read(0, 12);
  const riff = fourCC(head, 0);
  if (riff === 'RF64') throw corrupt(source, `RF64 (64-bit WAV) is not supported; ${CONVERT_HINT}`);
  if (riff === 'RIFX') throw corrupt(source, `big-endian WAV (RIFX) is not supported; ${CONVERT_HINT}`);
  if (riff !== 'RIFF') throw corrupt(source, `not a WAV file: it starts with ${printable(riff)}, not 'RIFF'`);
  const form = fourCC(head, 8);
  if (form !== 'WAVE') throw corrupt(source, `a RIFF file but not WAVE audio (form type ${printable(form)})`);

  let fmt: FmtFields | undefined;
  let data: { offset: number; bytes: number } | undefined;
  let pos = 12;
  while (pos + 8 <= size && !(fmt && data)) {
    const header = await source.read(pos, 8);
    const id = fourCC(header, 0);
    const declared = new DataView(header.buffer, header.byteOffset, 8).getUint32(4, true);
    const body = pos + 8;
    if (!/^[\x20-\x7e]{4}$/.test(id))
      throw corrupt(source, `invalid chunk id (${printable(id)}) at byte ${pos}: the file is damaged`);
    if (id === 'data') {
      const bytes = declared === SIZE_UNKNOWN ? size - body : declared;
      if (body + bytes > size)
        throw corrupt(
          source,
          `the data chunk declares ${bytes} bytes but only ${size - body} remain: the file is truncated (re-save it with sox or Audacity if the audio up to the cut is wanted)`,
          { declared: bytes, available: size - body },
        );
      data = { offset: body, bytes };
    } else if (id === 'fmt ') {
      if (declared < 16 || declared > MAX_FMT_BYTES)
        throw corrupt(source, `implausible fmt chunk size of ${declared} bytes`);
      if (body + declared > size) throw corrupt(source, `the fmt chunk runs past the end of the file`);
      fmt = parseFmt(source, await source.read(body, declared));
    } else if (body + declared > size) {
      throw corrupt(
        source,
        `chunk ${printable(id)} at byte ${pos} declares ${declared} bytes, past the end of the file (${size} bytes)`,
      );
    }
    // RIFF chunks are word-aligned: an odd-sized chunk is followed by one pad byte.
    pos = body + declared + (declared & 1);
  }
  if (!fmt) throw corrupt(source, `no fmt chunk: the file does not say how its audio is encoded`);
  if (!data) throw corrupt(source, `no data chunk: the file holds no audio`);
  // A trailing partial frame is a writer's rounding, not audio: it is left out.
  const frames = Math.floor(data.bytes / fmt.blockAlign);
  if (frames === 0) throw corrupt(source, `zero-length audio: the data chunk holds no complete sample frame`);
  return {
    file: source.name,
    encoding: fmt.encoding,
    extensible: fmt.extensible,
    bitsPerSample: fmt.bitsPerSample,
    validBitsPerSample: fmt.validBitsPerSample,
    channels: fmt.channels,
    sampleRate: fmt.sampleRate,
    frames,
    duration: frames / fmt.sampleRate,
    dataOffset: data.offset,
    blockAlign: fmt.blockAlign,
  };
}
