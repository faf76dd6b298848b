import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { createGunzip, gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { fsError } from '../../errors/fs-error.js';
import { LoupeError } from '../../errors/loupe-error.js';

/**
 * IDX, the container of MNIST and Fashion-MNIST: a 4-byte magic (two zero bytes, a type code,
 * the number of dimensions), one big-endian uint32 per dimension, then the values. The files
 * are usually shipped gzipped; we recognise gzip by its own magic rather than by file name so
 * a renamed or already-decompressed file still reads.
 */

export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  /** count × rows × cols bytes, row-major, 0 = background. */
  pixels: Uint8Array;
}

const GZIP_MAGIC = [0x1f, 0x8b] as const;
const UBYTE = 0x08;
/** MNIST-sized files are ~50 MB unpacked; anything far beyond that is not a dataset we read. */
const MAX_UNPACKED_BYTES = 2 ** 31 - 1;

const gunzipAsync = promisify(gunzip);

function corrupt(file: string, message: string, cause?: unknown): LoupeError {
  return new LoupeError(
    'CORRUPT_FILE',
    `${file}: ${message}`,
    { file },
    cause === undefined ? undefined : { cause },
  );
}

async function load(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (e) {
    throw fsError(e, file);
  }
}

async function unpack(bytes: Uint8Array, file: string): Promise<Uint8Array> {
  if (bytes.length < 2 || bytes[0] !== GZIP_MAGIC[0] || bytes[1] !== GZIP_MAGIC[1]) return bytes;
  try {
    return await gunzipAsync(bytes, { maxOutputLength: MAX_UNPACKED_BYTES });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw corrupt(file, `the gzip stream cannot be decompressed (${why}); the download may be truncated`, e);
  }
}

/** Checks an IDX header of unsigned bytes with the expected number of dimensions. */
function parseHeader(
  bytes: Uint8Array,
  file: string,
  ndims: number,
): { dims: number[]; headerLength: number } {
  if (bytes.length < 4) throw corrupt(file, `${bytes.length} bytes is too short for an IDX header`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw corrupt(file, `not an IDX file (magic bytes ${head}, expected 00 00 08 0${ndims})`);
  }
  if (bytes[2] !== UBYTE)
    throw corrupt(file, `IDX value type 0x${bytes[2]!.toString(16)} is not unsigned bytes (0x08)`);
  if (bytes[3] !== ndims) throw corrupt(file, `IDX file has ${bytes[3]} dimensions, expected ${ndims}`);
  const headerLength = 4 + 4 * ndims;
  if (bytes.length < headerLength)
    throw corrupt(file, `the header is cut short (${bytes.length} of ${headerLength} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { dims: Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i, false)), headerLength };
}

/** Parses an unpacked IDX buffer of unsigned bytes with the expected number of dimensions. */
function parseUbyte(bytes: Uint8Array, file: string, ndims: number): { dims: number[]; data: Uint8Array } {
  const { dims, headerLength } = parseHeader(bytes, file, ndims);
  // Multiply in floating point: a hostile header must not wrap around to a plausible size.
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = bytes.length - headerLength;
  if (actual !== expected) {
    throw corrupt(
      file,
      `dimensions ${dims.join(' × ')} need ${expected} bytes of data but the file holds ${actual}`,
    );
  }
  return { dims, data: bytes.subarray(headerLength) };
}

/** One image of a streamed IDX file, with the file's dimensions. */
export interface IdxImage {
  count: number;
  rows: number;
  cols: number;
  index: number;
  pixels: Uint8Array;
}

/**
 * Streams an IDX image file one image at a time, so ingesting it never holds the whole dataset
 * in memory (the unpacked Fashion-MNIST training file alone is 47 MB). Truncated or overlong
 * files fail when the stream ends, naming what was expected.
 */
export async function* streamIdxImages(file: string): AsyncGenerator<IdxImage> {
  let first: Uint8Array;
  try {
    const fh = await open(file, 'r');
    first = (await fh.read(Buffer.alloc(2), 0, 2, 0)).buffer;
    await fh.close();
  } catch (e) {
    throw fsError(e, file);
  }
  const raw = createReadStream(file);
  const gzipped = first[0] === GZIP_MAGIC[0] && first[1] === GZIP_MAGIC[1];
  const stream: AsyncIterable<Buffer> = gzipped ? raw.pipe(createGunzip()) : raw;
  if (gzipped) raw.on('error', (e) => (stream as ReturnType<typeof createGunzip>).destroy(e));

  let pending: Buffer = Buffer.alloc(0);
  let header: { count: number; rows: number; cols: number; size: number } | undefined;
  let index = 0;
  try {
    for await (const chunk of stream) {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      if (!header) {
        if (pending.length < 16) continue;
        const { dims, headerLength } = parseHeader(pending, file, 3);
        const [count, rows, cols] = dims as [number, number, number];
        if (rows === 0 || cols === 0) throw corrupt(file, `images of ${rows} × ${cols} pixels`);
        header = { count, rows, cols, size: rows * cols };
        pending = pending.subarray(headerLength);
      }
      let offset = 0;
      for (; pending.length - offset >= header.size; offset += header.size) {
        if (index >= header.count)
          throw corrupt(file, `more data than the ${header.count} images its header declares`);
        // A copy: the chunk's memory must not stay alive for as long as one image is referenced.
        yield {
          ...header,
          index: index++,
          pixels: Uint8Array.from(pending.subarray(offset, offset + header.size)),
        };
      }
      pending = pending.subarray(offset);
    }
  } catch (e) {
    if (e instanceof LoupeError) throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw corrupt(file, `cannot be read to the end (${why}); the file may be truncated`, e);
  }
  if (!header) throw corrupt(file, `${pending.length} bytes is too short for an IDX header`);
  if (index !== header.count || pending.length) {
    throw corrupt(
      file,
      `its header declares ${header.count} images of ${header.rows} × ${header.cols} but it holds ${index}${pending.length ? ` and ${pending.length} stray bytes` : ''}`,
    );
  }
}

/** Reads an IDX image file (magic 0x00000803), gzipped or not. */
export async function readIdxImages(file: string): Promise<IdxImages> {
  const { dims, data } = parseUbyte(await unpack(await load(file), file), file, 3);
  const [count, rows, cols] = dims as [number, number, number];
  if (rows === 0 || cols === 0) throw corrupt(file, `images of ${rows} × ${cols} pixels`);
  return { count, rows, cols, pixels: data };
}

/** Reads an IDX label file (magic 0x00000801), gzipped or not. */
export async function readIdxLabels(file: string): Promise<Uint8Array> {
  return parseUbyte(await unpack(await load(file), file), file, 1).data;
}

/** Reads a matching pair of image and label files, checking that they describe the same samples. */
export async function readIdxPair(
  imagesFile: string,
  labelsFile: string,
): Promise<IdxImages & { labels: Uint8Array }> {
  const [images, labels] = await Promise.all([readIdxImages(imagesFile), readIdxLabels(labelsFile)]);
  if (labels.length !== images.count) {
    throw corrupt(labelsFile, `${labels.length} labels for the ${images.count} images of ${imagesFile}`);
  }
  return { ...images, labels };
}
