import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot, runLoupe } from './helpers/run-cli.js';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';

const root = repoRoot;
const sample = path.join(root, 'samples/fashion-mnist');
const loupe = (cwd: string, ...args: string[]) => runLoupe(cwd, args);
const json = async <T>(cwd: string, ...args: string[]): Promise<T> => {
  const r = await loupe(cwd, ...args, '--json');
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
};

interface Report {
  version: string;
  created: boolean;
  parent: string | null;
  items: { before: number; added: number; alreadyPresent: number; after: number };
  rejectedBySource: { count: number; byReason: Record<string, number> };
  validation?: {
    skipped: number;
    moved: number;
    checks: Record<string, { found: number; skipped: number; moved: number }>;
  };
}
interface Shown {
  summary: { classes: Record<string, Record<string, number>> };
  sheet?: string;
}

let dir: string;
let server: Server;
let base: string;
const photo = (i: number) =>
  sharp({
    create: {
      width: 96,
      height: 80,
      channels: 3,
      background: { r: (i * 53) % 256, g: (i * 97) % 256, b: (i * 29) % 256 },
    },
  })
    .composite([
      {
        input: Buffer.from(
          `<svg width="96" height="80"><circle cx="${20 + (i % 5) * 12}" cy="${20 + (i % 3) * 15}" r="${8 + (i % 4) * 3}" fill="white"/></svg>`,
        ),
      },
    ])
    .jpeg()
    .toBuffer();

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'loupe-ingest-'));
  server = createServer((req, res) => {
    const m = /^\/img\/(\d+)\.jpg$/.exec(req.url ?? '');
    if (req.url === '/broken.jpg')
      return res.writeHead(200, { 'content-type': 'image/jpeg' }).end('<!DOCTYPE html><html>login</html>');
    if (!m) return res.writeHead(404).end();
    void photo(Number(m[1])).then((b) => res.writeHead(200, { 'content-type': 'image/jpeg' }).end(b));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('loupe ingest and loupe data, end to end', () => {
  it('ingests class folders with predefined splits into a version, then shows, diffs and exports it', async () => {
    const ws = path.join(dir, 'folders');
    assert.equal((await loupe(dir, 'init', ws)).code, 0);
    const r = await json<Report>(ws, 'ingest', 'folder', sample, '--dataset', 'fashion');
    assert.equal(r.created, true);
    assert.equal(r.items.after, 3600);
    const shown = await json<Shown>(ws, 'data', 'show', 'fashion');
    const shirts = shown.summary.classes.Shirt!;
    assert.deepEqual(
      [shirts.train, shirts.val, shirts.test],
      [270, 30, 60],
      'test/ kept; val carved from train/',
    );
    assert.ok((await readFile(shown.sheet!)).subarray(1, 4).toString() === 'PNG');

    const again = await json<Report>(ws, 'ingest', 'folder', sample, '--dataset', 'fashion');
    assert.equal(again.created, false, 'the same items are the same version');
    assert.equal(again.items.alreadyPresent, 3600);

    // A second source: one new image, and a copy of a test image filed under another class in train.
    const extra = path.join(dir, 'extra');
    const testShirt = (await readdir(path.join(sample, 'test/Shirt')))[0]!;
    await mkdir(path.join(extra, 'Coat'), { recursive: true });
    await cp(path.join(sample, 'test/Shirt', testShirt), path.join(extra, 'Coat', 'copy.png'));
    await writeFile(
      path.join(extra, 'Coat', 'new.png'),
      await sharp({ create: { width: 28, height: 28, channels: 3, background: { r: 90, g: 90, b: 90 } } })
        .greyscale()
        .png()
        .toBuffer(),
    );
    const v2 = await json<Report>(ws, 'ingest', 'folder', extra, '--dataset', 'fashion');
    assert.equal(v2.parent, r.version);
    assert.equal(v2.items.added, 1, 'the relabelled copy of a test image did not get in');
    assert.equal(
      v2.rejectedBySource.byReason['label conflicts with the dataset'],
      1,
      'the label conflict is reported',
    );

    const diff = await json<{ added: unknown[]; removed: unknown[]; relabeled: unknown[] }>(
      ws,
      'data',
      'diff',
      r.version.slice(0, 12),
      'fashion',
    );
    assert.equal(diff.added.length, 1);
    const ls = await loupe(ws, 'data', 'ls');
    assert.match(ls.stdout, new RegExp(v2.version.slice(0, 12)));

    const out = path.join(dir, 'exported');
    assert.equal((await loupe(ws, 'data', 'export', 'fashion', '--out', out)).code, 0);
    assert.equal((await readdir(path.join(out, 'test', 'Shirt'))).length, 60);
    assert.equal(
      (await loupe(ws, 'data', 'export', 'fashion', '--format', 'csv', '--out', path.join(dir, 'm.csv')))
        .code,
      0,
    );
    assert.equal((await readFile(path.join(dir, 'm.csv'), 'utf8')).trim().split('\n').length, 3602);
  });

  it('catches a near copy of a test photo arriving in train, and moves it to test', async () => {
    const ws = path.join(dir, 'leak');
    await loupe(dir, 'init', ws);
    await writeFile(path.join(ws, 'loupe.yaml'), 'data:\n  validation:\n    minPerClass: 1\n');
    const photos = path.join(dir, 'photos');
    const names = ['dog', 'eagle', 'giraffe', 'horses', 'kite', 'person', 'scream'];
    for (const [i, n] of names.entries()) {
      const split = i < 2 ? 'test' : 'train';
      for (const cls of ['animal', 'other']) await mkdir(path.join(photos, split, cls), { recursive: true });
      await cp(
        `/usr/share/darknet/data/${n}.jpg`,
        path.join(photos, split, i % 2 ? 'animal' : 'other', `${n}.jpg`),
      );
    }
    const first = await json<Report>(ws, 'ingest', 'folder', photos, '--dataset', 'photos');
    const later = path.join(dir, 'later', 'train', 'other');
    await mkdir(later, { recursive: true });
    await writeFile(
      path.join(later, 'dog-small.jpg'),
      await sharp('/usr/share/darknet/data/dog.jpg').resize(300).jpeg({ quality: 40 }).toBuffer(),
    );
    const v2 = await json<Report>(
      ws,
      'ingest',
      'folder',
      path.dirname(path.dirname(later)),
      '--dataset',
      'photos',
    );
    assert.equal(v2.parent, first.version);
    assert.equal(
      v2.validation!.checks.nearLeakage!.moved,
      1,
      'the resized copy moved to where the original is',
    );
    const diff = await json<{ added: { split: string; source: string }[] }>(
      ws,
      'data',
      'diff',
      first.version.slice(0, 12),
      v2.version.slice(0, 12),
    );
    assert.deepEqual(
      diff.added.map((a) => a.split),
      ['test'],
    );
  });

  it('gives the same version id for the same data in another workspace', async () => {
    const a = path.join(dir, 'same-a');
    const b = path.join(dir, 'same-b');
    await loupe(dir, 'init', a);
    await loupe(dir, 'init', b);
    const audio = path.join(root, 'samples/audio');
    const ra = await json<Report>(a, 'ingest', 'audio', audio);
    const rb = await json<Report>(b, 'ingest', 'audio', audio);
    assert.equal(ra.version, rb.version);
    assert.equal(ra.items.after, 36);
  });

  it('ingests an IDX pair with class names and a predefined split', async () => {
    const ws = path.join(dir, 'idx');
    await loupe(dir, 'init', ws);
    const n = 60;
    const header = (magic: number, dims: number[]) => {
      const b = Buffer.alloc(4 + 4 * dims.length);
      b.writeUInt32BE(magic, 0);
      dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
      return b;
    };
    const pixels = Buffer.from(
      Array.from({ length: n * 28 * 28 }, (_, i) => (i * 7 + Math.floor(i / 784) * 31) % 256),
    );
    await writeFile(path.join(dir, 'imgs.gz'), gzipSync(Buffer.concat([header(0x803, [n, 28, 28]), pixels])));
    await writeFile(
      path.join(dir, 'lbls'),
      Buffer.concat([header(0x801, [n]), Buffer.from(Array.from({ length: n }, (_, i) => i % 3))]),
    );
    const r = await json<Report>(
      ws,
      'ingest',
      'idx',
      '--images',
      path.join(dir, 'imgs.gz'),
      '--labels',
      path.join(dir, 'lbls'),
      '--class-names',
      'a,b,c',
      '--split',
      'test',
    );
    assert.equal(r.items.after, 60);
    const shown = await json<Shown>(ws, 'data', 'show', r.version.slice(0, 12), '--no-sheet');
    assert.deepEqual(Object.keys(shown.summary.classes).sort(), ['a', 'b', 'c']);
    assert.equal(shown.summary.classes.a!.test, 20);
    const bad = await loupe(
      ws,
      'ingest',
      'idx',
      '--images',
      path.join(dir, 'imgs.gz'),
      '--labels',
      path.join(dir, 'lbls'),
      '--class-names',
      'a,b',
    );
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /only 2 class names/);
  });

  it('ingests a CSV of image URLs: downloads, reports failures, and downloads nothing twice', async () => {
    const ws = path.join(dir, 'csv');
    await loupe(dir, 'init', ws);
    const rows = ['id,user_login,quality_grade,license,image_url,scientific_name'];
    for (let i = 0; i < 24; i++)
      rows.push(
        `${i},u${i % 4},research,cc-by,${base}/img/${i}.jpg,${['Parus major', 'Pica pica', 'Corvus corax'][i % 3]}`,
      );
    rows.push(
      `90,u1,research,cc-by,${base}/missing.jpg,Pica pica`,
      `91,u1,research,cc-by,${base}/broken.jpg,Pica pica`,
      '92,u2,research,cc-by,,Pica pica',
    );
    const csv = path.join(dir, 'observations.csv');
    await writeFile(csv, rows.join('\n'));
    const r = await json<
      Report & { sourceDetails: { downloads: { counts: { ok: number; cached: number; failed: number } } } }
    >(ws, 'ingest', 'csv', csv, '--dataset', 'birds');
    assert.equal(r.items.after, 24);
    assert.equal(r.rejectedBySource.byReason['no image URL'], 1);
    assert.equal(r.rejectedBySource.byReason['download: http_status'], 1);
    assert.equal(r.rejectedBySource.byReason['download: not_an_image'], 1);
    assert.equal(r.sourceDetails.downloads.counts.ok, 24);
    const again = await json<typeof r>(ws, 'ingest', 'csv', csv, '--dataset', 'birds');
    assert.equal(again.sourceDetails.downloads.counts.cached, 24);
    assert.equal(again.created, false);
  });

  it('explains what is wrong instead of failing obscurely', async () => {
    const none = await loupe(dir, 'ingest', 'folder', sample);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no Loupe workspace.*loupe init/);
    const ws = path.join(dir, 'errors');
    await loupe(dir, 'init', ws);
    const missing = await loupe(ws, 'ingest', 'folder', path.join(dir, 'nope'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read the image folder/);
    const tooFew = path.join(dir, 'few');
    await mkdir(path.join(tooFew, 'lonely'), { recursive: true });
    await cp(
      path.join(sample, 'test/Bag', (await readdir(path.join(sample, 'test/Bag')))[0]!),
      path.join(tooFew, 'lonely', 'a.png'),
    );
    const r = await loupe(ws, 'ingest', 'folder', tooFew);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /VALIDATION_FAILED|fewer than|classMinimum/);
    const noVersion = await loupe(ws, 'data', 'show', 'nothing');
    assert.equal(noVersion.code, 2);
    assert.match(noVersion.stderr, /no dataset or version "nothing"/);
  });
});
