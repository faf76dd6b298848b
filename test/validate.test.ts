import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { seededRandom } from '../src/train/random.js';
import { inspectImage, type InspectOptions } from '../src/data/validate/inspect-image.js';
import { nearDuplicateGroups } from '../src/data/validate/near-duplicate-groups.js';
import { NearDuplicateIndex } from '../src/data/validate/near-duplicate-index.js';
import {
  hammingDistance,
  perceptualHashFromHex,
  perceptualHashToHex,
  type PerceptualHash,
} from '../src/data/validate/perceptual-hash.js';
import { renderValidationTable } from '../src/data/validate/render-validation-table.js';
import { validateItems, type ValidationProgress } from '../src/data/validate/validate-items.js';
import type { ValidationItem } from '../src/data/validate/validation-item.js';
import {
  CHECK_NAMES,
  validationPolicySchema,
  type ValidationPolicyInput,
} from '../src/data/validate/validation-policy.js';
import type { ValidationReport } from '../src/data/validate/validation-report.js';

const PHOTOS = '/usr/share/darknet/data';
const DOG = `${PHOTOS}/dog.jpg`;
const skipPhotos = existsSync(DOG) ? false : `${DOG} is not installed (Debian package darknet)`;
const POLICY = validationPolicySchema.parse({});
const DEFAULTS: InspectOptions = POLICY;

let dir: string;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'loupe-validate-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A 96×96 image of seeded noise: every seed a different picture, far apart perceptually. */
function noise(seed: number, width = 96, height = 96, channels: 3 | 4 = 3): Buffer {
  const random = seededRandom(seed);
  // Blocks of 8×8 pixels, so the picture has the low frequencies a pHash looks at.
  const blocks = Array.from({ length: 144 * channels }, () => Math.floor(random() * 256));
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < channels; c++) {
        const block = (Math.floor(y / 8) % 12) * 12 + (Math.floor(x / 8) % 12);
        data[(y * width + x) * channels + c] = blocks[block * channels + c]!;
      }
  return data;
}

const png = (seed: number) =>
  sharp(noise(seed), { raw: { width: 96, height: 96, channels: 3 } })
    .png()
    .toBuffer();

async function write(name: string, bytes: Uint8Array): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return file;
}

async function inspectFile(name: string, bytes: Uint8Array, o: Partial<InspectOptions> = {}) {
  const file = await write(name, bytes);
  return inspectImage({ file }, sha(bytes), { ...DEFAULTS, ...o });
}

const checksOf = (r: { reasons: { check: string }[] }) => r.reasons.map((x) => x.check);

describe('image checks', () => {
  test('a zero-byte file is invalid: empty', async () => {
    const r = await inspectFile('empty.jpg', new Uint8Array());
    assert.equal(r.status, 'invalid');
    assert.deepEqual(checksOf(r), ['empty']);
  });

  test('a missing file is invalid: unreadable', async () => {
    const r = await inspectImage({ file: path.join(dir, 'nope.jpg') }, 'x', DEFAULTS);
    assert.deepEqual(checksOf(r), ['unreadable']);
  });

  test('a JPEG cut in half is caught by the full decode, though its header reads', async () => {
    const jpeg = await sharp(noise(1), { raw: { width: 96, height: 96, channels: 3 } })
      .jpeg()
      .toBuffer();
    const half = jpeg.subarray(0, Math.floor(jpeg.length / 2));
    const meta = await sharp(half).metadata();
    assert.equal(meta.width, 96, 'the header alone does not reveal the truncation');
    const r = await inspectFile('half.jpg', half);
    assert.equal(r.status, 'invalid');
    assert.deepEqual(checksOf(r), ['undecodable']);
    assert.match(r.reasons[0]!.message, /truncated|premature/i);
    assert.equal(r.width, 96);
    assert.equal(r.phash, undefined);
    const unhashed = await inspectFile('half-unhashed.jpg', half, { hashMinSide: 1000 });
    assert.deepEqual(checksOf(unhashed), ['undecodable'], 'the plain decode of an image too small to hash');
  });

  test('a truncated PNG is undecodable too', async () => {
    const whole = await png(2);
    const r = await inspectFile('half.png', whole.subarray(0, Math.floor(whole.length * 0.6)));
    assert.deepEqual(checksOf(r), ['undecodable']);
  });

  test('an HTML page renamed .jpg and a text file are not images, and say what they are', async () => {
    const html = await inspectFile(
      'page.jpg',
      Buffer.from('<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>gone</body></html>'),
    );
    assert.deepEqual(checksOf(html), ['notImage']);
    assert.match(html.reasons[0]!.message, /HTML page/);
    const text = await inspectFile('notes.png', Buffer.from('species,url\nbee,http://example.org/bee.jpg\n'));
    assert.deepEqual(checksOf(text), ['notImage']);
    assert.match(text.reasons[0]!.message, /text/);
  });

  test('an image below the minimum size is invalid: tooSmall (and still decoded)', async () => {
    const tiny = await sharp(noise(3, 8, 8), { raw: { width: 8, height: 8, channels: 3 } })
      .png()
      .toBuffer();
    const r = await inspectFile('tiny.png', tiny);
    assert.deepEqual(checksOf(r), ['tooSmall']);
    assert.match(r.reasons[0]!.message, /8×8 is below the minimum 16×16/);
    assert.ok(r.phash, 'decoded, so a kept tiny image is known to be whole');
  });

  test('an image over the pixel limit is invalid: tooLarge, refused from its header', async () => {
    const big = await sharp({ create: { width: 2000, height: 1500, channels: 3, background: '#888' } })
      .png()
      .toBuffer();
    const r = await inspectFile('big.png', big, { maxPixels: 1_000_000 });
    assert.deepEqual(checksOf(r), ['tooLarge']);
    assert.match(r.reasons[0]!.message, /3,000,000 pixels, above the limit of 1,000,000/);
    assert.equal(r.phash, undefined);
  });

  test('conversions are recognised and the image is kept as normalised', async () => {
    const rgb = { raw: { width: 96, height: 96, channels: 3 as const } };
    const cases: [string, Promise<Buffer>, string, RegExp?][] = [
      ['cmyk.jpg', sharp(noise(4), rgb).toColourspace('cmyk').jpeg().toBuffer(), 'cmyk'],
      ['deep.png', sharp(noise(5), rgb).toColourspace('rgb16').png().toBuffer(), 'highBitDepth', /16 bits/],
      [
        'rgba.png',
        sharp(noise(6, 96, 96, 4), { raw: { width: 96, height: 96, channels: 4 } })
          .png()
          .toBuffer(),
        'alpha',
      ],
      ['palette.png', sharp(noise(7), rgb).png({ palette: true }).toBuffer(), 'palette'],
      ['grey.png', sharp(noise(8), rgb).toColourspace('b-w').png().toBuffer(), 'greyscale'],
      [
        'rotated.jpg',
        sharp(noise(9), rgb).withMetadata({ orientation: 6 }).jpeg().toBuffer(),
        'rotated',
        /6/,
      ],
    ];
    for (const [name, bytes, check, message] of cases) {
      const r = await inspectFile(name, await bytes);
      assert.equal(r.status, 'normalised', name);
      assert.ok(checksOf(r).includes(check), `${name}: ${checksOf(r).join(', ')}`);
      if (message) assert.match(r.reasons.find((x) => x.check === check)!.message, message);
      assert.match(r.phash!, /^[0-9a-f]{16}$/);
    }
  });

  test('EXIF rotation is applied to the size and does not change the perceptual hash', async () => {
    const raw = noise(10, 96, 64);
    const upright = await sharp(raw, { raw: { width: 96, height: 64, channels: 3 } })
      .jpeg({ quality: 95 })
      .toBuffer();
    // Stored turned 90° anticlockwise, with orientation 6 telling viewers to turn it back.
    const stored = await sharp(upright)
      .rotate(-90)
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 95 })
      .toBuffer();
    const a = await inspectFile('upright.jpg', upright);
    const b = await inspectFile('stored-rotated.jpg', stored);
    assert.deepEqual([b.width, b.height], [96, 64]);
    assert.ok(hammingDistance(perceptualHashFromHex(a.phash!), perceptualHashFromHex(b.phash!)) <= 4);
  });

  test('an animated GIF is normalised to its first frame', async () => {
    const frames = noise(11, 32, 96, 4);
    const gif = await sharp(frames, { raw: { width: 32, height: 96, channels: 4, pageHeight: 32 } as never })
      .gif({ loop: 0 })
      .toBuffer();
    const r = await inspectFile('anim.gif', gif);
    assert.equal(r.status, 'normalised');
    assert.ok(checksOf(r).includes('animated'));
    assert.match(r.reasons.find((x) => x.check === 'animated')!.message, /3 frames/);
    assert.deepEqual([r.width, r.height, r.format], [32, 32, 'gif']);
  });

  test('a plain RGB image is ok, from a file or from bytes alike', async () => {
    const bytes = await png(12);
    const fromFile = await inspectFile('plain.png', bytes);
    const fromBytes = await inspectImage({ bytes }, sha(bytes), DEFAULTS);
    assert.equal(fromFile.status, 'ok');
    assert.deepEqual(fromFile.reasons, []);
    assert.deepEqual(fromBytes, fromFile);
    assert.deepEqual([fromFile.width, fromFile.height, fromFile.format], [96, 96, 'png']);
  });
});

describe('perceptual hash on photos', { skip: skipPhotos }, () => {
  const names = ['dog', 'eagle', 'giraffe', 'horses', 'kite', 'person', 'scream'];
  const hashOf = async (bytes: Uint8Array) =>
    perceptualHashFromHex((await inspectImage({ bytes }, sha(bytes), DEFAULTS)).phash!);

  test('a resized, recompressed or brightened copy is near; different photos are far', async () => {
    const limit = POLICY.nearDuplicates.maxDistance;
    const originals: PerceptualHash[] = [];
    for (const name of names) {
      const file = `${PHOTOS}/${name}.jpg`;
      const original = await hashOf(await readFile(file));
      originals.push(original);
      const variants = {
        resized: await sharp(file).resize({ width: 200 }).jpeg({ quality: 90 }).toBuffer(),
        quality20: await sharp(file).jpeg({ quality: 20 }).toBuffer(),
        brightened: await sharp(file).modulate({ brightness: 1.15 }).jpeg().toBuffer(),
      };
      for (const [kind, bytes] of Object.entries(variants)) {
        const d = hammingDistance(original, await hashOf(bytes));
        assert.ok(d <= limit, `${name} ${kind}: distance ${d} > ${limit}`);
      }
    }
    for (let i = 0; i < originals.length; i++)
      for (let j = i + 1; j < originals.length; j++) {
        const d = hammingDistance(originals[i]!, originals[j]!);
        assert.ok(d > 2 * limit, `${names[i]} vs ${names[j]}: distance ${d}`);
      }
  });
});

/** Random 64-bit hashes, plus a planted copy at a known distance for every fifth one. */
function syntheticHashes(
  count: number,
  seed: number,
): { hashes: PerceptualHash[]; planted: [number, number][] } {
  const random = seededRandom(seed);
  const word = () => Math.floor(random() * 2 ** 32) >>> 0;
  const hashes: PerceptualHash[] = [];
  const planted: [number, number][] = [];
  while (hashes.length < count) {
    const h = { hi: word(), lo: word() };
    hashes.push(h);
    if (hashes.length % 5 === 0 && hashes.length < count) {
      let { hi, lo } = h;
      const flips = 1 + Math.floor(random() * 6);
      for (let f = 0; f < flips; f++) {
        const bit = Math.floor(random() * 64);
        if (bit < 32) hi = (hi ^ (1 << bit)) >>> 0;
        else lo = (lo ^ (1 << (bit - 32))) >>> 0;
      }
      planted.push([hashes.length - 1, hashes.length]);
      hashes.push({ hi, lo });
    }
  }
  return { hashes, planted };
}

describe('near-duplicate grouping', () => {
  test('finds exactly the pairs a brute-force scan finds', () => {
    const { hashes } = syntheticHashes(1500, 3);
    for (const maxDistance of [0, 3, 8, 12]) {
      const expected = new Set<string>();
      for (let a = 0; a < hashes.length; a++)
        for (let b = a + 1; b < hashes.length; b++)
          if (hammingDistance(hashes[a]!, hashes[b]!) <= maxDistance) expected.add(`${a},${b}`);
      const found = new Set<string>();
      new NearDuplicateIndex(hashes, maxDistance).forEachPair((a, b, d) => {
        assert.ok(a < b && d <= maxDistance);
        found.add(`${a},${b}`);
      });
      assert.deepEqual(found, expected, `distance ${maxDistance}`);
    }
  });

  test('groups are transitive and come out sorted by first member', () => {
    const base = { hi: 0x12345678, lo: 0x9abcdef0 };
    const far = { hi: ~base.hi >>> 0, lo: ~base.lo >>> 0 };
    const flip = (h: PerceptualHash, bits: number) => ({ hi: (h.hi ^ ((1 << bits) - 1)) >>> 0, lo: h.lo });
    // 0 ~ 2 (5 bits), 2 ~ 3 (5 more bits), 0 and 3 are 10 apart: one group at distance 8.
    const hashes = [base, far, flip(base, 5), { hi: (flip(base, 5).hi ^ 0x3e0) >>> 0, lo: base.lo }, far];
    const { groups, pairs } = nearDuplicateGroups(hashes, 8);
    assert.deepEqual(groups, [
      [0, 2, 3],
      [1, 4],
    ]);
    assert.equal(pairs, 3);
  });

  test('groups 5,000 hashes in well under a second', () => {
    const { hashes, planted } = syntheticHashes(5000, 4);
    const started = performance.now();
    const { groups } = nearDuplicateGroups(hashes, 8);
    const ms = performance.now() - started;
    assert.ok(ms < 1000, `${ms.toFixed(0)} ms`);
    const inGroup = new Set(groups.flatMap((g) => (g.length === 2 ? [`${g[0]},${g[1]}`] : [])));
    for (const [a, b] of planted) assert.ok(inGroup.has(`${a},${b}`), `planted pair ${a},${b}`);
  });

  test('hex form round-trips', () => {
    const h = { hi: 0x00ff00ff, lo: 0xdeadbeef };
    assert.equal(perceptualHashToHex(h), '00ff00ffdeadbeef');
    assert.deepEqual(perceptualHashFromHex('00ff00ffdeadbeef'), h);
  });
});

interface Item extends ValidationItem {
  note?: string;
}

/** An item from bytes written to a file under the temp dir. */
async function item(name: string, bytes: Uint8Array, label: string, split?: Item['split']): Promise<Item> {
  const file = await write(name.replace(/\//g, '_'), bytes);
  return { id: name, hash: sha(bytes), label, file, source: name, ...(split ? { split } : {}) };
}

/** `count` distinct, clean images of one class. */
async function cleanClass(
  label: string,
  count: number,
  seed: number,
  split?: Item['split'],
): Promise<Item[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) =>
      item(`${label}/${seed + i}.png`, await png(seed + i), label, split),
    ),
  );
}

function kept(result: { kept: Item[] }): string[] {
  return result.kept.map((i) => i.id);
}

describe('validateItems', () => {
  test('default policy: bad images skipped, conversions kept, all counted per check and class', async () => {
    const jpeg = await sharp(noise(100), { raw: { width: 96, height: 96, channels: 3 } })
      .jpeg()
      .toBuffer();
    const items = [
      ...(await cleanClass('cat', 5, 200)),
      ...(await cleanClass('dog', 5, 300)),
      await item('cat/empty.jpg', new Uint8Array(), 'cat'),
      await item('cat/half.jpg', jpeg.subarray(0, jpeg.length >> 1), 'cat'),
      await item('dog/page.jpg', Buffer.from('<html><body>Forbidden</body></html>'), 'dog'),
      await item(
        'dog/cmyk.jpg',
        await sharp(noise(101), { raw: { width: 96, height: 96, channels: 3 } })
          .toColourspace('cmyk')
          .jpeg()
          .toBuffer(),
        'dog',
      ),
    ];
    const progress: ValidationProgress[] = [];
    const { kept: out, report } = await validateItems(items, {}, { onProgress: (p) => progress.push(p) });
    assert.equal(report.items, 14);
    assert.equal(report.kept, 11);
    assert.equal(report.skipped, 3);
    assert.equal(report.normalised, 1);
    assert.deepEqual(
      out.map((i) => i.id),
      items.map((i) => i.id).filter((id) => !/empty|half|page/.test(id)),
    );
    for (const check of ['empty', 'undecodable', 'notImage'] as const) {
      assert.equal(report.checks[check].found, 1, check);
      assert.equal(report.checks[check].skipped, 1, check);
      assert.equal(report.checks[check].examples.length, 1);
    }
    assert.equal(report.checks.cmyk.found, 1);
    assert.equal(report.checks.cmyk.skipped, 0);
    assert.equal(out.find((i) => i.id === 'dog/cmyk.jpg')!.image.status, 'normalised');
    assert.deepEqual(report.classes.cat, {
      items: 7,
      kept: 5,
      skipped: 2,
      moved: 0,
      normalised: 0,
      checks: { empty: 1, undecodable: 1 },
    });
    assert.equal(report.checks.undecodable.examples[0]!.source, 'cat/half.jpg');
    assert.equal(report.failed.length, 0);
    assert.deepEqual(progress.filter((p) => p.phase === 'inspect').at(-1), {
      phase: 'inspect',
      done: 14,
      total: 14,
    });
    assert.deepEqual(JSON.parse(JSON.stringify(report)), report, 'the report is plain JSON data');

    const table = renderValidationTable(report);
    assert.match(table, /14 items: 11 kept \(1 to be converted\), 3 skipped/);
    assert.match(table, /^undecodable +skip +1 +1 +0/m);
    assert.match(table, /^cat +7 +5 +2 +0 +0 +empty 1, undecodable 1/m);
    assert.match(table, /cat\/half\.jpg: truncated or corrupt/);
  });

  test('exact duplicates: extra copies skipped, conflicting labels skipped whole, leaks moved', async () => {
    const same = await png(400);
    const conflict = await png(401);
    const leak = await png(402);
    const items = [
      ...(await cleanClass('cat', 5, 500, 'train')),
      ...(await cleanClass('dog', 5, 600, 'train')),
      ...(await cleanClass('cat', 2, 700, 'test')),
      await item('train/cat/a.png', same, 'cat', 'train'),
      await item('train/cat/a-copy.png', same, 'cat', 'train'),
      await item('train/cat/b.png', conflict, 'cat', 'train'),
      await item('train/dog/b.png', conflict, 'dog', 'train'),
      await item('train/dog/c.png', leak, 'dog', 'train'),
      await item('test/dog/c.png', leak, 'dog', 'test'),
    ];
    const { kept: out, report } = await validateItems(items);
    const ids = kept({ kept: out });
    assert.ok(ids.includes('train/cat/a.png') && !ids.includes('train/cat/a-copy.png'));
    assert.ok(!ids.includes('train/cat/b.png') && !ids.includes('train/dog/b.png'));
    // The test copy moves into train, where it is then an extra copy of the same class.
    assert.ok(ids.includes('train/dog/c.png') && !ids.includes('test/dog/c.png'));
    assert.deepEqual(
      [
        report.checks.exactConflict.found,
        report.checks.exactConflict.skipped,
        report.checks.exactConflict.groups,
      ],
      [2, 2, 1],
    );
    assert.deepEqual([report.checks.exactLeakage.found, report.checks.exactLeakage.moved], [2, 1]);
    assert.deepEqual([report.checks.exactDuplicate.groups, report.checks.exactDuplicate.skipped], [2, 2]);
    const leakExample = report.checks.exactLeakage.examples.find((e) => e.source === 'test/dog/c.png')!;
    assert.equal(leakExample.split, 'test');
    assert.match(leakExample.message, /moved to train/);
    assert.deepEqual(
      leakExample.related?.map((r) => [r.source, r.split]),
      [['train/dog/c.png', 'train']],
    );
    assert.equal(report.skipped, 4);
    assert.match(renderValidationTable(report), /exactLeakage +move +2 +0 +1 +1 groups/);
  });

  test('a copy already in a version keeps its split and pulls new copies to it', async () => {
    const old = await png(1250);
    const items = [
      ...(await cleanClass('cat', 5, 1260, 'train')),
      { ...(await item('v1/test/cat/old.png', old, 'cat', 'test')), fixedSplit: true },
      await item('new/train/cat/old-again.png', old, 'cat', 'train'),
    ];
    const { kept: out, report } = await validateItems(items, { checks: { exactDuplicate: 'keep' } });
    const byId = new Map(out.map((i) => [i.id, i]));
    assert.equal(byId.get('v1/test/cat/old.png')!.split, 'test');
    assert.equal(byId.get('new/train/cat/old-again.png')!.split, 'test');
    assert.equal(byId.get('new/train/cat/old-again.png')!.movedFrom, 'train');
    assert.match(report.checks.exactLeakage.examples[0]!.message, /moved to test/);
    // With the default policy the new copy is the one skipped, even when it comes first.
    const deduplicated = await validateItems([items[6]!, ...items.slice(0, 6)]);
    assert.deepEqual(
      deduplicated.kept.filter((i) => i.id.includes('old')).map((i) => i.id),
      ['v1/test/cat/old.png'],
    );
  });

  test('keep and fail policies', async () => {
    const same = await png(800);
    const items = [
      ...(await cleanClass('cat', 5, 810)),
      await item('dog/x.png', same, 'dog'),
      await item('cat/x.png', same, 'cat'),
      ...(await cleanClass('dog', 5, 820)),
      await item('cat/empty.png', new Uint8Array(), 'cat'),
    ];
    const keepAll: ValidationPolicyInput = { checks: { exactConflict: 'keep', empty: 'keep' } };
    const { report } = await validateItems(items, keepAll);
    assert.equal(report.kept, items.length);
    assert.equal(report.checks.exactConflict.found, 2);
    assert.equal(report.checks.empty.found, 1);

    await assert.rejects(
      validateItems(items, { checks: { exactConflict: 'fail', empty: 'fail' } }),
      (e: unknown) => {
        assert.ok(isLoupeError(e, 'VALIDATION_FAILED'));
        assert.equal(e.httpStatus, 422);
        assert.equal(e.exitCode, 2);
        assert.match(e.message, /empty, exactConflict are set to fail/);
        assert.match(e.message, /cat\/empty\.png: the file is empty/);
        assert.match(e.message, /dog\/x\.png: 2 identical copies labelled dog, cat/);
        const report = e.details!.report as ValidationReport;
        assert.deepEqual(report.failed, ['empty', 'exactConflict']);
        return true;
      },
    );
  });

  test('a class under the minimum fails by default, or is left out with skip', async () => {
    const items = [...(await cleanClass('cat', 5, 900)), ...(await cleanClass('rare', 2, 910))];
    await assert.rejects(validateItems(items), (e: unknown) => {
      assert.ok(isLoupeError(e, 'VALIDATION_FAILED'));
      assert.match(e.message, /classMinimum/);
      assert.match(e.message, /rare: 2 usable of 2 items, fewer than the minimum of 5/);
      return true;
    });
    const { kept: out, report } = await validateItems(items, { checks: { classMinimum: 'skip' } });
    assert.deepEqual(new Set(out.map((i) => i.label)), new Set(['cat']));
    assert.deepEqual([report.checks.classMinimum.found, report.checks.classMinimum.skipped], [1, 2]);
    assert.equal(report.classes.rare!.skipped, 2);
    const ok = await validateItems(items, { minPerClass: 2 });
    assert.equal(ok.report.kept, 7);
  });

  test(
    'near duplicates of a photo are grouped; leaks across splits move; another photo does not',
    { skip: skipPhotos },
    async () => {
      const original = await readFile(DOG);
      const items = [
        ...(await cleanClass('dog', 5, 1000, 'train')),
        ...(await cleanClass('dog', 5, 1010, 'test')),
        await item('train/dog/original.jpg', original, 'dog', 'train'),
        await item(
          'train/dog/small.jpg',
          await sharp(original).resize({ width: 300 }).jpeg().toBuffer(),
          'dog',
          'train',
        ),
        await item('test/dog/q20.jpg', await sharp(original).jpeg({ quality: 20 }).toBuffer(), 'dog', 'test'),
        await item(
          'test/dog/bright.jpg',
          await sharp(original).modulate({ brightness: 1.15 }).jpeg().toBuffer(),
          'dog',
          'test',
        ),
        await item('test/dog/eagle.jpg', await readFile(`${PHOTOS}/eagle.jpg`), 'dog', 'test'),
      ];
      const { kept: out, report } = await validateItems(items);
      assert.equal(report.kept, items.length, 'near duplicates of one class are kept by default');
      assert.equal(report.checks.nearLeakage.groups, 1);
      assert.equal(report.checks.nearLeakage.found, 4);
      assert.equal(report.checks.nearLeakage.moved, 2);
      assert.equal(
        report.checks.nearDuplicate.found,
        4,
        'after the move all four are one class in one split',
      );
      const byId = new Map(out.map((i) => [i.id, i]));
      assert.equal(byId.get('test/dog/q20.jpg')!.split, 'train');
      assert.equal(byId.get('test/dog/q20.jpg')!.movedFrom, 'test');
      assert.equal(byId.get('test/dog/bright.jpg')!.split, 'train');
      assert.equal(byId.get('test/dog/eagle.jpg')!.split, 'test');
      assert.equal(byId.get('train/dog/original.jpg')!.movedFrom, undefined);
      assert.equal(report.moved, 2);
      assert.equal(report.nearDuplicates.groups, 1);
      assert.equal(report.nearDuplicates.largestGroup, 4);
      const example = report.checks.nearLeakage.examples[0]!;
      assert.ok(example.related!.every((r) => typeof r.distance === 'number' && r.distance <= 8));

      const skipAll = await validateItems(items, { checks: { nearDuplicate: 'skip', nearLeakage: 'keep' } });
      assert.equal(skipAll.report.checks.nearLeakage.moved, 0);
      // Train and test each keep their first near copy (the leak itself is only reported).
      const skipped = items.map((i) => i.id).filter((id) => !kept(skipAll).includes(id));
      assert.deepEqual(skipped, ['train/dog/small.jpg', 'test/dog/bright.jpg']);
      assert.deepEqual(
        skipAll.report.checks.nearDuplicate.examples.map((e) => e.source),
        skipped,
      );
      assert.match(skipAll.report.checks.nearDuplicate.examples[0]!.message, /this copy is skipped/);
    },
  );

  test(
    'near duplicates with conflicting labels are reported and kept by default',
    { skip: skipPhotos },
    async () => {
      const original = await readFile(DOG);
      const items = [
        ...(await cleanClass('dog', 5, 1100)),
        ...(await cleanClass('cat', 5, 1110)),
        await item('dog/original.jpg', original, 'dog'),
        await item('cat/small.jpg', await sharp(original).resize({ width: 256 }).jpeg().toBuffer(), 'cat'),
      ];
      const { report } = await validateItems(items);
      assert.equal(report.kept, 12);
      assert.deepEqual([report.checks.nearConflict.found, report.checks.nearConflict.skipped], [2, 0]);
      const strict = await validateItems(items, { checks: { nearConflict: 'skip' } });
      assert.equal(strict.report.kept, 10);
    },
  );

  test('copies without a split share a duplicateGroup for the splitter', async () => {
    const a = await png(1200);
    const items = [
      ...(await cleanClass('cat', 5, 1210)),
      await item('cat/a.png', a, 'cat'),
      await item('cat/a-again.png', a, 'cat'),
    ];
    const { kept: out } = await validateItems(items, { checks: { exactDuplicate: 'keep' } });
    const groups = out.filter((i) => i.duplicateGroup).map((i) => [i.id, i.duplicateGroup]);
    assert.equal(groups.length, 2);
    assert.equal(groups[0]![1], groups[1]![1]);
    assert.equal(out.filter((i) => !i.duplicateGroup).length, 5);
  });

  test('thumbnails are not compared perceptually, oversized groups are left alone', async () => {
    // Nine copies of one picture at different JPEG qualities: a near group of nine.
    const raw = noise(1300);
    const copies = await Promise.all(
      [95, 90, 85, 80, 75, 70, 65, 60, 55].map((q) =>
        sharp(raw, { raw: { width: 96, height: 96, channels: 3 } })
          .jpeg({ quality: q })
          .toBuffer(),
      ),
    );
    const items = await Promise.all(copies.map((b, i) => item(`cat/q${i}.jpg`, b, i % 2 ? 'cat' : 'dog')));
    const { report } = await validateItems(items, {
      minPerClass: 0,
      nearDuplicates: { maxGroupSize: 4 },
    });
    assert.equal(report.nearDuplicates.oversizedGroups, 1);
    assert.equal(report.nearDuplicates.largestGroup, 9);
    assert.equal(report.checks.nearConflict.found, 0, 'not acted on');
    assert.equal(report.kept, 9);
    assert.match(renderValidationTable(report), /1 groups larger than allowed/);

    const small = await validateItems(items, { minPerClass: 0, nearDuplicates: { minSide: 100 } });
    assert.equal(small.report.nearDuplicates.tooSmallToCompare, 9);
    assert.equal(small.report.nearDuplicates.compared, 0);
  });

  test('the policy schema has documented defaults and rejects unknown checks', () => {
    const p = validationPolicySchema.parse({});
    assert.equal(p.checks.undecodable, 'skip');
    assert.equal(p.checks.exactLeakage, 'move');
    assert.equal(p.checks.classMinimum, 'fail');
    assert.equal(p.nearDuplicates.maxDistance, 8);
    assert.deepEqual(Object.keys(p.checks).sort(), [...CHECK_NAMES].sort(), 'every check has a policy');
    assert.throws(() => validationPolicySchema.parse({ checks: { nope: 'skip' } }));
    assert.throws(() => validationPolicySchema.parse({ checks: { undecodable: 'move' } }));
    assert.throws(() => validationPolicySchema.parse({ nearDuplicates: { maxDistance: 20 } }));
  });
});
