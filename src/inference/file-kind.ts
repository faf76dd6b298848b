import { open } from 'node:fs/promises';
import path from 'node:path';
import { describeContent, SNIFF_BYTES, sniffImage } from '../data/content/sniff-image.js';

export type FileKind =
  | { kind: 'image' }
  | { kind: 'audio' }
  /** Neither: `what` names what it holds ("text", "a PDF document", "a .jpg holding an HTML page"). */
  | { kind: 'other'; what: string };

const IMAGE_EXTENSION = /\.(png|jpe?g|webp|gif|tiff?|avif|bmp|heic|heif)$/i;
const WAV_EXTENSION = /\.wav$/i;

async function readHead(file: string): Promise<Uint8Array> {
  const fh = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(SNIFF_BYTES), 0, SNIFF_BYTES, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

const isWave = (head: Uint8Array) =>
  Buffer.from(head.subarray(0, 4)).toString('latin1') === 'RIFF' &&
  Buffer.from(head.subarray(8, 12)).toString('latin1') === 'WAVE';

/**
 * What a file is, from its first bytes: the content decides, the extension only explains. A .wav
 * counts as audio whatever it holds so the WAV decoder, not this guess, gives the reason it cannot
 * be read; an image extension on something else is reported as the mismatch it is.
 */
export async function fileKind(file: string): Promise<FileKind> {
  const head = await readHead(file);
  if (sniffImage(head)) return { kind: 'image' };
  if (isWave(head) || WAV_EXTENSION.test(file)) return { kind: 'audio' };
  const what = describeContent(head);
  return IMAGE_EXTENSION.test(file)
    ? { kind: 'other', what: `named ${path.extname(file)} but holds ${what}` }
    : { kind: 'other', what };
}
