import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { readIdxImages, readIdxLabels, readIdxPair, streamIdxImages } from '../src/data/sources/idx.js';
import { isLoupeError } from '../src/errors/loupe-error.js';

const FASHION = '/usr/share/datasets/fashion-mnist';
const haveFashion = existsSync(path.join(FASHION, 't10k-images-idx3-ubyte.gz'));

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'loupe-idx-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function idx(ndims: number, dims: number[], data: Uint8Array, type = 0x08): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt8(type, 2);
  header.writeUInt8(ndims, 3);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

async function fixture(name: string, bytes: Uint8Array): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return file;
}

/** Asserts a CORRUPT_FILE error whose message names the file and matches the given pattern. */
async function rejectsCorrupt(p: Promise<unknown>, file: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isLoupeError(e, 'CORRUPT_FILE'), `expected CORRUPT_FILE, got ${String(e)}`);
    assert.ok(e.message.includes(file), `message should name ${file}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test(
  'reads real Fashion-MNIST test images and labels',
  { skip: !haveFashion && 'Debian Fashion-MNIST not installed' },
  async () => {
    const set = await readIdxPair(
      path.join(FASHION, 't10k-images-idx3-ubyte.gz'),
      path.join(FASHION, 't10k-labels-idx1-ubyte.gz'),
    );
    assert.equal(set.count, 10_000);
    assert.equal(set.rows, 28);
    assert.equal(set.cols, 28);
    assert.equal(set.pixels.length, 10_000 * 28 * 28);
    assert.equal(set.labels.length, 10_000);
    // The published test split is balanced: 1,000 of each of the ten classes.
    const perClass = new Array<number>(10).fill(0);
    for (const l of set.labels) perClass[l]!++;
    assert.deepEqual(perClass, new Array<number>(10).fill(1000));
    // Known first label of the t10k split is 9 (ankle boot).
    assert.equal(set.labels[0], 9);
  },
);

test(
  'reads real Fashion-MNIST training labels',
  { skip: !haveFashion && 'Debian Fashion-MNIST not installed' },
  async () => {
    const labels = await readIdxLabels(path.join(FASHION, 'train-labels-idx1-ubyte.gz'));
    assert.equal(labels.length, 60_000);
    assert.ok(labels.every((l) => l < 10));
  },
);

test('reads uncompressed and gzipped files alike, whatever their names', async () => {
  const pixels = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i);
  const raw = idx(3, [2, 3, 4], pixels);
  const plain = await fixture('plain.gz', raw); // misleading extension on purpose
  const packed = await fixture('packed.idx', gzipSync(raw));
  for (const file of [plain, packed]) {
    const images = await readIdxImages(file);
    assert.deepEqual([images.count, images.rows, images.cols], [2, 3, 4]);
    assert.deepEqual(Array.from(images.pixels), Array.from(pixels));
  }
  const labels = await readIdxLabels(
    await fixture('labels.gz', gzipSync(idx(1, [3], Uint8Array.of(7, 0, 9)))),
  );
  assert.deepEqual(Array.from(labels), [7, 0, 9]);
});

test('reads an empty but well-formed file', async () => {
  const labels = await readIdxLabels(await fixture('empty-labels', idx(1, [0], new Uint8Array())));
  assert.equal(labels.length, 0);
});

test('rejects wrong magic bytes', async () => {
  const png = await fixture('not-idx.png', Buffer.from('\x89PNG\r\n\x1a\n0000000000', 'latin1'));
  await rejectsCorrupt(readIdxImages(png), png, /not an IDX file/);
  const floats = await fixture('floats.idx', idx(1, [1], new Uint8Array(4), 0x0d));
  await rejectsCorrupt(readIdxLabels(floats), floats, /value type 0xd/);
});

test('rejects images given as labels and the other way round', async () => {
  const images = await fixture('images.idx', idx(3, [1, 2, 2], new Uint8Array(4)));
  const labels = await fixture('labels.idx', idx(1, [4], new Uint8Array(4)));
  await rejectsCorrupt(readIdxLabels(images), images, /3 dimensions, expected 1/);
  await rejectsCorrupt(readIdxImages(labels), labels, /1 dimensions, expected 3/);
});

test('rejects dimensions that do not match the data', async () => {
  const short = await fixture('short.idx', idx(3, [10, 28, 28], new Uint8Array(28 * 28 * 9)));
  await rejectsCorrupt(readIdxImages(short), short, /need 7840 bytes of data but the file holds 7056/);
  const long = await fixture('long.idx', idx(1, [2], new Uint8Array(3)));
  await rejectsCorrupt(readIdxLabels(long), long, /need 2 bytes .* holds 3/);
  // 2^32-1 cubed must not wrap around to something small.
  const huge = await fixture('huge.idx', idx(3, [0xffffffff, 0xffffffff, 0xffffffff], new Uint8Array(8)));
  await rejectsCorrupt(readIdxImages(huge), huge, /need .* bytes/);
  const cut = await fixture('cut-header.idx', idx(3, [1, 2, 2], new Uint8Array()).subarray(0, 9));
  await rejectsCorrupt(readIdxImages(cut), cut, /header is cut short/);
  const tiny = await fixture('tiny.idx', Uint8Array.of(0, 0));
  await rejectsCorrupt(readIdxLabels(tiny), tiny, /too short/);
});

test('rejects a truncated gzip stream', async () => {
  const packed = gzipSync(
    idx(
      3,
      [20, 28, 28],
      new Uint8Array(20 * 28 * 28).map((_, i) => (i * 31) % 256),
    ),
  );
  const file = await fixture('truncated.gz', packed.subarray(0, Math.floor(packed.length / 2)));
  await rejectsCorrupt(readIdxImages(file), file, /gzip.*truncated/);
});

test('rejects a label file whose count differs from the images', async () => {
  const images = await fixture('pair-images', idx(3, [3, 1, 1], new Uint8Array(3)));
  const labels = await fixture('pair-labels', idx(1, [2], new Uint8Array(2)));
  await rejectsCorrupt(readIdxPair(images, labels), labels, /2 labels for the 3 images/);
});

test('a missing file is reported as such, not as corruption', async () => {
  await assert.rejects(readIdxLabels(path.join(dir, 'nope')), (e: unknown) => isLoupeError(e, 'NOT_FOUND'));
});

async function drain(file: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const image of streamIdxImages(file)) out.push(image.pixels);
  return out;
}

test('streams images one at a time, identical to reading the whole file', async () => {
  const pixels = new Uint8Array(7 * 3 * 4).map((_, i) => (i * 37) % 256);
  const file = await fixture('stream.idx.gz', gzipSync(idx(3, [7, 3, 4], pixels)));
  const whole = await readIdxImages(file);
  const streamed = await drain(file);
  assert.equal(streamed.length, 7);
  assert.deepEqual(Buffer.concat(streamed), Buffer.from(whole.pixels));
  if (haveFashion) {
    let n = 0;
    for await (const image of streamIdxImages(path.join(FASHION, 't10k-images-idx3-ubyte.gz')))
      n = image.index + 1;
    assert.equal(n, 10_000);
  }
});

test('a streamed file that is truncated, overlong or missing is a clear error', async () => {
  const packed = gzipSync(
    idx(
      3,
      [20, 28, 28],
      new Uint8Array(20 * 28 * 28).map((_, i) => (i * 31) % 256),
    ),
  );
  const cut = await fixture('stream-cut.gz', packed.subarray(0, Math.floor(packed.length / 2)));
  await rejectsCorrupt(drain(cut), cut, /truncated/);
  const short = await fixture('stream-short.idx', idx(3, [10, 28, 28], new Uint8Array(28 * 28 * 9)));
  await rejectsCorrupt(drain(short), short, /declares 10 images of 28 × 28 but it holds 9/);
  const long = await fixture('stream-long.idx', idx(3, [1, 2, 2], new Uint8Array(9)));
  await rejectsCorrupt(drain(long), long, /more data than the 1 images/);
  await assert.rejects(drain(path.join(dir, 'nope')), (e: unknown) => isLoupeError(e, 'NOT_FOUND'));
});
