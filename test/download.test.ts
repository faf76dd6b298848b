import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { downloadProgressBar } from '../src/cli/download-progress.js';
import { downloadAll } from '../src/data/download/download-all.js';
import type { DownloadOptions } from '../src/data/download/download-options.js';
import type { DownloadReport, DownloadResult } from '../src/data/download/download-report.js';
import { parseRetryAfter } from '../src/data/download/retry-policy.js';
import { sniffImage } from '../src/data/content/sniff-image.js';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { FsBlobStore } from '../src/store/blob-store.js';
import { openDatabase, type Database } from '../src/store/database.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DOG = '/usr/share/darknet/data/dog.jpg';
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A real photo when Debian's darknet package is there, else a JPEG made by sharp. */
async function photo(): Promise<Buffer> {
  if (existsSync(DOG)) return readFile(DOG);
  return sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 40, g: 120, b: 200 } } })
    .jpeg()
    .toBuffer();
}

/** A small PNG whose pixels encode `i`, so every index gives different bytes. */
async function distinctPng(i: number): Promise<Buffer> {
  const raw = Buffer.alloc(8 * 8 * 3);
  for (let p = 0; p < raw.length; p++) raw[p] = (i * 7 + p * (1 + (i % 13))) & 0xff;
  raw.writeUInt32BE(i, 0);
  return sharp(raw, { raw: { width: 8, height: 8, channels: 3 } })
    .png()
    .toBuffer();
}

type Handler = (req: IncomingMessage, res: ServerResponse, path: string) => unknown;

interface TestServer {
  base: string;
  hits: Map<string, number>;
  userAgents: Set<string>;
  maxActive: number;
  hitsOf(p: string): number;
  totalHits(): number;
  resetHits(): void;
  close(): Promise<void>;
}

/** A node:http server on 127.0.0.1 that counts hits per path and requests in flight. */
async function startServer(handler: Handler): Promise<TestServer> {
  let active = 0;
  const s: TestServer = {
    base: '',
    hits: new Map(),
    userAgents: new Set(),
    maxActive: 0,
    hitsOf: (p) => s.hits.get(p) ?? 0,
    totalHits: () => [...s.hits.values()].reduce((a, b) => a + b, 0),
    resetHits: () => s.hits.clear(),
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  const server: Server = createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    s.hits.set(p, s.hitsOf(p) + 1);
    s.userAgents.add(req.headers['user-agent'] ?? '');
    active++;
    s.maxActive = Math.max(s.maxActive, active);
    let counted = true;
    const done = () => {
      if (counted) active--;
      counted = false;
    };
    res.on('close', done);
    Promise.resolve(handler(req, res, p)).catch((e: unknown) => {
      res.destroy(e as Error);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  s.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return s;
}

async function workspace(): Promise<{
  dir: string;
  db: Database;
  blobs: FsBlobStore;
  dispose(): Promise<void>;
}> {
  const dir = await mkdtemp(path.join(tmpdir(), 'loupe-download-'));
  const db = await openDatabase(path.join(dir, 'loupe.db'));
  const blobs = new FsBlobStore(path.join(dir, 'blobs'));
  return {
    dir,
    db,
    blobs,
    dispose: async () => {
      await db.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function blobFiles(blobs: FsBlobStore): Promise<string[]> {
  if (!existsSync(blobs.root)) return [];
  const out: string[] = [];
  for (const shard of await readdir(blobs.root)) {
    if (shard.startsWith('.')) continue;
    for (const f of await readdir(path.join(blobs.root, shard))) if (/^[0-9a-f]{64}$/.test(f)) out.push(f);
  }
  return out;
}

const byUrl = (r: DownloadReport) => new Map<string, DownloadResult>(r.results.map((x) => [x.url, x]));

describe('sniffImage', () => {
  test('recognises the formats from their bytes', async () => {
    const base = sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } });
    const cases: Array<[string, Buffer]> = [
      ['image/jpeg', await base.clone().jpeg().toBuffer()],
      ['image/png', await base.clone().png().toBuffer()],
      ['image/gif', await base.clone().gif().toBuffer()],
      ['image/webp', await base.clone().webp().toBuffer()],
      ['image/tiff', await base.clone().tiff().toBuffer()],
      ['image/avif', await base.clone().avif().toBuffer()],
    ];
    for (const [mime, bytes] of cases) assert.equal(sniffImage(bytes)?.mime, mime, mime);

    const ftyp = (brand: string, ...compatible: string[]) => {
      const size = 16 + 4 * compatible.length;
      const b = Buffer.alloc(size);
      b.writeUInt32BE(size, 0);
      b.write(`ftyp${brand}`, 4, 'latin1');
      compatible.forEach((c, i) => b.write(c, 16 + 4 * i, 'latin1'));
      return b;
    };
    assert.equal(sniffImage(ftyp('heic', 'mif1', 'heic'))?.mime, 'image/heic');
    assert.equal(sniffImage(ftyp('mif1', 'mif1', 'miaf'))?.mime, 'image/heif');
    assert.equal(sniffImage(ftyp('mif1', 'avif'))?.mime, 'image/avif');
    assert.equal(sniffImage(ftyp('isom', 'iso2', 'mp41')), undefined, 'an MP4 is not an image');

    const bmp = Buffer.alloc(54);
    bmp.write('BM', 0, 'latin1');
    bmp.writeUInt32LE(40, 14); // BITMAPINFOHEADER
    assert.equal(sniffImage(bmp)?.mime, 'image/bmp');
    assert.equal(sniffImage(Buffer.from('BMW of North America, annual report 2024')), undefined);
    assert.equal(sniffImage(Buffer.from('<!DOCTYPE html><html><body>Not found</body></html>')), undefined);
    assert.equal(sniffImage(Buffer.alloc(0)), undefined);
    assert.equal(sniffImage(Buffer.from([0xff, 0xd8])), undefined, 'two bytes are not a JPEG');
  });
});

test('parseRetryAfter reads seconds and HTTP-dates and caps both', () => {
  const now = Date.parse('2024-05-01T12:00:00Z');
  assert.equal(parseRetryAfter('3', 60_000, now), 3000);
  assert.equal(parseRetryAfter('Wed, 01 May 2024 12:00:10 GMT', 60_000, now), 10_000);
  assert.equal(parseRetryAfter('Wed, 01 May 2024 11:00:00 GMT', 60_000, now), 0, 'a past date means now');
  assert.equal(parseRetryAfter('86400', 60_000, now), 60_000, 'capped');
  assert.equal(parseRetryAfter('soon', 60_000, now), undefined);
  assert.equal(parseRetryAfter(null, 60_000, now), undefined);
});

describe('downloadAll against a local server', () => {
  let server: TestServer;
  let dog: Buffer;
  const flaky = new Map<string, number>();

  before(async () => {
    dog = await photo();
    const big = Buffer.concat([dog, Buffer.alloc(300_000)]);
    server = await startServer(async (req, res, p) => {
      const n = (flaky.get(p) ?? 0) + 1;
      flaky.set(p, n);
      const image = (bytes: Buffer, type = 'image/jpeg') => {
        res.writeHead(200, { 'content-type': type, 'content-length': bytes.length });
        res.end(bytes);
      };
      const redirect = (to: string) => {
        res.writeHead(302, { location: to });
        res.end();
      };
      if (p === '/dog.jpg' || p === '/copy/of/dog.jpg') return image(dog);
      if (p === '/missing.jpg') {
        res.writeHead(404, { 'content-type': 'text/html' });
        return res.end('<h1>Not Found</h1>');
      }
      if (p === '/flaky.jpg') {
        if (n === 1) {
          res.writeHead(500);
          return res.end('oops');
        }
        return image(await distinctPng(1), 'image/png');
      }
      if (p === '/throttled.jpg') {
        if (n === 1) {
          res.writeHead(429, { 'retry-after': '1' });
          return res.end();
        }
        return image(await distinctPng(2), 'image/png');
      }
      if (p === '/slow.jpg') {
        // Headers and the first bytes at once, then nothing: only the timeout ends it.
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': dog.length });
        res.write(dog.subarray(0, 1000));
        return;
      }
      if (p === '/truncated.jpg') {
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': dog.length });
        res.write(dog.subarray(0, dog.length >> 1));
        await delay(20);
        res.socket?.destroy();
        return;
      }
      if (p === '/loop/a') return redirect('/loop/b');
      if (p === '/loop/b') return redirect(`${server.base}/loop/a`);
      const chain = /^\/chain\/(\d+)$/.exec(p);
      if (chain) {
        const k = Number(chain[1]);
        return k === 0 ? image(await distinctPng(3), 'image/png') : redirect(`/chain/${k - 1}`);
      }
      if (p === '/to-ftp') return redirect('ftp://127.0.0.1/dog.jpg');
      if (p === '/error-page.jpg') {
        const html = `<!DOCTYPE html><html><head><title>Rate limited</title></head><body>${'x'.repeat(500)}</body></html>`;
        return image(Buffer.from(html));
      }
      if (p === '/big-stream.jpg') {
        // No Content-Length: only counting while streaming can catch it.
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        for (let at = 0; at < big.length; at += 16_384) {
          if (!res.write(big.subarray(at, at + 16_384))) await new Promise((r) => res.once('drain', r));
        }
        return res.end();
      }
      if (p === '/big-declared.jpg') {
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': 50_000_000 });
        res.write(dog.subarray(0, 1000));
        return; // never finishes: the declared size alone must fail it
      }
      res.writeHead(404);
      res.end();
    });
  });

  after(async () => {
    await server.close();
  });

  test('every outcome, with reasons; a second run downloads nothing', { timeout: 60_000 }, async () => {
    const ws = await workspace();
    const closed = await startServer(() => undefined);
    const refused = `${closed.base}/dog.jpg`;
    await closed.close();
    try {
      const u = (p: string) => `${server.base}${p}`;
      const urls = [
        u('/dog.jpg'),
        u('/copy/of/dog.jpg'),
        u('/missing.jpg'),
        u('/flaky.jpg'),
        u('/throttled.jpg'),
        u('/slow.jpg'),
        u('/truncated.jpg'),
        u('/loop/a'),
        u('/chain/3'),
        u('/chain/9'),
        u('/to-ftp'),
        u('/error-page.jpg'),
        u('/big-stream.jpg'),
        u('/big-declared.jpg'),
        'ftp://127.0.0.1/dog.jpg',
        'not a url',
        refused,
        u('/dog.jpg'), // listed twice: one result, one request
      ];
      const options: DownloadOptions = {
        blobs: ws.blobs,
        db: ws.db,
        ratePerHost: Infinity,
        timeoutMs: 400,
        retries: 2,
        retryBaseMs: 10,
        maxBytes: 250_000,
      };
      const progress: number[] = [];
      const t0 = performance.now();
      const report = await downloadAll(urls, { ...options, onProgress: (p) => progress.push(p.done) });
      const seconds = (performance.now() - t0) / 1000;
      const r = byUrl(report);
      const get = (url: string) => r.get(url) ?? assert.fail(`no result for ${url}`);

      assert.equal(report.results.length, urls.length - 1, 'duplicates collapse');
      assert.deepEqual(
        progress,
        Array.from({ length: urls.length - 1 }, (_, i) => i + 1),
      );

      const ok = ['/dog.jpg', '/copy/of/dog.jpg', '/flaky.jpg', '/throttled.jpg', '/chain/3'];
      for (const p of ok) assert.equal(get(u(p)).status, 'ok', `${p}: ${get(u(p)).reason}`);
      assert.equal(get(u('/dog.jpg')).contentType, 'image/jpeg');
      assert.equal(get(u('/dog.jpg')).bytes, dog.length);
      assert.equal(get(u('/flaky.jpg')).contentType, 'image/png', 'sniffed, not the header');
      assert.equal(get(u('/chain/3')).finalUrl, u('/chain/0'));
      assert.equal(get(u('/chain/3')).attempts, 4);

      const failures: Array<[string, string, RegExp]> = [
        [u('/missing.jpg'), 'http_status', /HTTP 404/],
        [u('/slow.jpg'), 'timeout', /timed out after 400 ms \(gave up after 3 attempts\)/],
        [u('/truncated.jpg'), 'truncated', new RegExp(`of ${dog.length} bytes`)],
        [u('/loop/a'), 'redirect_loop', /loop\/a → .*loop\/b → .*loop\/a/],
        [u('/chain/9'), 'redirect_limit', /more than 5 redirects/],
        [u('/to-ftp'), 'bad_scheme', /^redirect: unsupported scheme ftp: \(only http and https\)$/],
        [u('/error-page.jpg'), 'not_an_image', /not an image: an HTML page/],
        [u('/big-stream.jpg'), 'too_large', /the body exceeds the 250000-byte limit/],
        [u('/big-declared.jpg'), 'too_large', /Content-Length 50000000/],
        ['ftp://127.0.0.1/dog.jpg', 'bad_scheme', /^unsupported scheme ftp:/],
        ['not a url', 'invalid_url', /not a valid URL/],
        [refused, 'connection', /ECONNREFUSED/],
      ];
      for (const [url, kind, reason] of failures) {
        const x = get(url);
        assert.equal(x.status, 'failed', url);
        assert.equal(x.failure, kind, `${url}: ${x.reason}`);
        assert.match(x.reason ?? '', reason, url);
      }
      assert.deepEqual(report.counts, { total: 17, ok: 5, cached: 0, failed: 12 });
      assert.equal(report.failures.too_large, 2);

      // Retries only where they can help, each hit counted by the server.
      assert.equal(server.hitsOf('/dog.jpg'), 1);
      assert.equal(server.hitsOf('/missing.jpg'), 1, '4xx is not retried');
      assert.equal(server.hitsOf('/flaky.jpg'), 2, '500 then 200');
      assert.equal(server.hitsOf('/throttled.jpg'), 2, '429 then 200');
      assert.equal(server.hitsOf('/slow.jpg'), 3, 'timeouts are retried');
      assert.equal(server.hitsOf('/truncated.jpg'), 3, 'a cut-off body is retried');
      assert.equal(server.hitsOf('/error-page.jpg'), 1);
      assert.equal(server.hitsOf('/big-declared.jpg'), 1);
      assert.ok(seconds >= 0.95, `Retry-After: 1 was honoured (run took ${seconds.toFixed(2)} s)`);
      assert.ok(
        [...server.userAgents].every((ua) => ua.startsWith('Loupe/')),
        [...server.userAgents].join(),
      );

      // The same photo at two URLs is one blob; the table maps both URLs to it.
      assert.equal(get(u('/dog.jpg')).blobHash, get(u('/copy/of/dog.jpg')).blobHash);
      assert.equal((await blobFiles(ws.blobs)).length, 4);
      const rows = await ws.db.selectFrom('downloads').selectAll().execute();
      assert.equal(rows.length, 17);
      for (const row of rows.filter((x) => x.status === 'ok'))
        assert.ok(await ws.blobs.verify(row.blob_hash!));
      const missing = rows.find((x) => x.url === u('/missing.jpg'))!;
      assert.equal(missing.status, 'failed');
      assert.match(missing.error ?? '', /^http_status: HTTP 404/);

      // Second run: the downloaded URLs are cached; the failed ones are tried again.
      server.resetHits();
      const again = await downloadAll(urls, options);
      assert.equal(again.counts.cached, 5);
      assert.equal(again.counts.ok, 0);
      assert.equal(again.counts.failed, 12);
      for (const p of ok) assert.equal(server.hitsOf(p), 0, `${p} not fetched again`);
      assert.equal(server.hitsOf('/missing.jpg'), 1, 'failed URLs are retried by default');
      const cached = byUrl(again).get(u('/dog.jpg'))!;
      assert.equal(cached.blobHash, get(u('/dog.jpg')).blobHash);
      assert.equal(cached.contentType, 'image/jpeg');

      // Third run with retryFailed: false: no request at all, the stored reasons come back.
      server.resetHits();
      const third = await downloadAll(urls, { ...options, retryFailed: false });
      assert.equal(server.totalHits(), 0);
      assert.equal(third.counts.failed, 12);
      assert.equal(byUrl(third).get(u('/slow.jpg'))!.failure, 'timeout');
      assert.match(byUrl(third).get(u('/missing.jpg'))!.reason ?? '', /HTTP 404/);
      const attempts = await ws.db
        .selectFrom('downloads')
        .select('attempts')
        .where('url', '=', u('/slow.jpg'))
        .executeTakeFirstOrThrow();
      assert.equal(attempts.attempts, 6, 'attempts add up over runs');
    } finally {
      await ws.dispose();
    }
  });

  test('a cached URL whose blob was deleted or corrupted is fetched again', async () => {
    const ws = await workspace();
    try {
      const urls = [`${server.base}/dog.jpg`, `${server.base}/chain/0`];
      const o = { blobs: ws.blobs, db: ws.db, ratePerHost: Infinity };
      const first = await downloadAll(urls, o);
      const [dogHash, pngHash] = first.results.map((x) => x.blobHash!);
      await rm(ws.blobs.pathOf(dogHash!));
      await writeFile(ws.blobs.pathOf(pngHash!), 'not the bytes that were stored');
      server.resetHits();
      const second = await downloadAll(urls, o);
      assert.deepEqual(
        second.results.map((x) => x.status),
        ['ok', 'ok'],
      );
      assert.equal(server.hitsOf('/dog.jpg'), 1);
      assert.equal(server.hitsOf('/chain/0'), 1);
      assert.ok(await ws.blobs.verify(dogHash!));
      assert.ok(await ws.blobs.verify(pngHash!), 'the corrupt blob was replaced');

      // verify: 'size' catches a blob that changed length without re-hashing it.
      await writeFile(ws.blobs.pathOf(dogHash!), 'short');
      server.resetHits();
      const third = await downloadAll(urls, { ...o, verify: 'size' });
      assert.deepEqual(
        third.results.map((x) => x.status),
        ['ok', 'cached'],
      );
      assert.ok(await ws.blobs.verify(dogHash!));
    } finally {
      await ws.dispose();
    }
  });
});

describe('politeness', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer(async (_req, res, p) => {
      await delay(40);
      const bytes = await distinctPng(Number(p.slice(1)));
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': bytes.length });
      res.end(bytes);
    });
  });
  after(async () => {
    await server.close();
  });

  test('never more than perHost requests in flight to one host', async () => {
    const ws = await workspace();
    try {
      const urls = Array.from({ length: 30 }, (_, i) => `${server.base}/${i}`);
      server.maxActive = 0;
      const r = await downloadAll(urls, { blobs: ws.blobs, db: ws.db, perHost: 3, ratePerHost: Infinity });
      assert.equal(r.counts.ok, 30);
      assert.equal(server.maxActive, 3);
    } finally {
      await ws.dispose();
    }
  });

  test('nor more than concurrency in all', async () => {
    const ws = await workspace();
    try {
      const urls = Array.from({ length: 30 }, (_, i) => `${server.base}/${100 + i}`);
      server.maxActive = 0;
      const o = { blobs: ws.blobs, db: ws.db, concurrency: 5, perHost: 16, ratePerHost: Infinity };
      const r = await downloadAll(urls, o);
      assert.equal(r.counts.ok, 30);
      assert.equal(server.maxActive, 5);
    } finally {
      await ws.dispose();
    }
  });

  test('request starts to one host are paced by ratePerHost', async () => {
    const ws = await workspace();
    try {
      const urls = Array.from({ length: 6 }, (_, i) => `${server.base}/${200 + i}`);
      const t0 = performance.now();
      const r = await downloadAll(urls, { blobs: ws.blobs, db: ws.db, ratePerHost: 20 });
      const ms = performance.now() - t0;
      assert.equal(r.counts.ok, 6);
      assert.ok(ms >= 5 * 50 - 10, `6 starts at 20/s take at least 250 ms, took ${ms.toFixed(0)}`);
    } finally {
      await ws.dispose();
    }
  });

  test('hosts take turns: a slow host does not hold up the others', async () => {
    const slow = await startServer(async (_req, res, p) => {
      await delay(400);
      const bytes = await distinctPng(500 + Number(p.slice(1)));
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': bytes.length });
      res.end(bytes);
    });
    const ws = await workspace();
    try {
      server.maxActive = 0;
      const slowUrls = Array.from({ length: 8 }, (_, i) => `${slow.base}/${i}`);
      const fastUrls = Array.from({ length: 8 }, (_, i) => `${server.base}/${400 + i}`);
      const order: string[] = [];
      const o = { blobs: ws.blobs, db: ws.db, concurrency: 4, perHost: 2, ratePerHost: Infinity };
      const r = await downloadAll([...slowUrls, ...fastUrls], {
        ...o,
        onProgress: (p) => order.push(p.last.url),
      });
      assert.equal(r.counts.ok, 16);
      assert.ok(slow.maxActive <= 2 && server.maxActive <= 2);
      // In one FIFO the fast URLs would wait behind six slow ones (two at a time, 400 ms each).
      const lastFast = Math.max(...fastUrls.map((u) => order.indexOf(u)));
      const slowBefore = order.slice(0, lastFast).filter((u) => slowUrls.includes(u)).length;
      assert.ok(slowBefore <= 2, `${slowBefore} slow URLs settled before the fast host was done`);
    } finally {
      await ws.dispose();
      await slow.close();
    }
  });

  test('the progress bar adapter follows onProgress (silent off a terminal)', async () => {
    const ws = await workspace();
    try {
      const urls = Array.from({ length: 3 }, (_, i) => `${server.base}/${450 + i}`);
      const bar = downloadProgressBar(urls.length);
      const r = await downloadAll(urls, {
        blobs: ws.blobs,
        db: ws.db,
        ratePerHost: Infinity,
        onProgress: bar.onProgress,
      });
      bar.stop();
      assert.equal(r.counts.ok, 3);
    } finally {
      await ws.dispose();
    }
  });

  test('aborting stops the run and records only what finished', async () => {
    const ws = await workspace();
    try {
      const urls = Array.from({ length: 40 }, (_, i) => `${server.base}/${300 + i}`);
      const controller = new AbortController();
      const o = { blobs: ws.blobs, db: ws.db, concurrency: 2, perHost: 2, ratePerHost: Infinity };
      let seen = 0;
      await assert.rejects(
        downloadAll(urls, {
          ...o,
          signal: controller.signal,
          onProgress: (p) => {
            seen = p.done;
            if (p.done === 5) controller.abort();
          },
        }),
        (e) => isLoupeError(e, 'INTERRUPTED'),
      );
      const rows = await ws.db.selectFrom('downloads').selectAll().execute();
      assert.ok(rows.length >= 5 && rows.length < 40, `${rows.length} recorded`);
      assert.ok(
        rows.every((x) => x.status === 'ok'),
        'an aborted request is not a failure',
      );
      assert.equal(rows.length, seen);
    } finally {
      await ws.dispose();
    }
  });

  test('rejects nonsense options before any request', async () => {
    const ws = await workspace();
    try {
      for (const bad of [{ concurrency: 0 }, { perHost: 1.5 }, { ratePerHost: 0 }, { maxBytes: -1 }]) {
        await assert.rejects(downloadAll([`${server.base}/1`], { blobs: ws.blobs, db: ws.db, ...bad }), (e) =>
          isLoupeError(e, 'INVALID_ARGUMENT'),
        );
      }
    } finally {
      await ws.dispose();
    }
  });
});

test(
  'resume after kill -9: the rerun fetches only what the first run had not finished',
  { timeout: 120_000 },
  async () => {
    const N = 40;
    const images = await Promise.all(Array.from({ length: N }, (_, i) => distinctPng(1000 + i)));
    // Every image arrives slowly and in two parts, so the kill lands with bodies half-read.
    const server = await startServer(async (_req, res, p) => {
      const bytes = images[Number(p.split('/')[2])]!;
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': bytes.length });
      res.write(bytes.subarray(0, bytes.length >> 1));
      await delay(150);
      res.end(bytes.subarray(bytes.length >> 1));
    });
    const ws = await workspace();
    try {
      const urls = Array.from({ length: N }, (_, i) => `${server.base}/k/${i}`);
      const urlFile = path.join(ws.dir, 'urls.txt');
      await writeFile(urlFile, urls.join('\n'));
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'test/fixtures/download-run.ts', ws.dir, urlFile, '4'],
        { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let settled = 0;
      let finished = false;
      child.stdout.setEncoding('utf8').on('data', (text: string) => {
        for (const line of text.split('\n')) {
          if (line.startsWith('ok ')) settled++;
          if (line === 'done') finished = true;
        }
        if (settled >= N / 4 && child.exitCode === null && !child.killed) child.kill('SIGKILL');
      });
      const [, signal] = (await new Promise((r) => child.on('exit', (...a) => r(a)))) as [
        number | null,
        string | null,
      ];
      assert.equal(signal, 'SIGKILL', 'the child was killed mid-way');
      assert.ok(!finished);

      // Everything the killed run recorded is there and whole.
      const recorded = await ws.db.selectFrom('downloads').selectAll().where('status', '=', 'ok').execute();
      const recordedUrls = new Set(recorded.map((row) => row.url));
      for (const row of recorded)
        assert.ok(await ws.blobs.verify(row.blob_hash!), `${row.url}'s blob verifies`);
      assert.ok(
        recordedUrls.size >= N / 4 && recordedUrls.size < N,
        `${recordedUrls.size} recorded before the kill`,
      );
      assert.ok(server.totalHits() > recordedUrls.size, 'some requests were in flight when it died');

      server.resetHits();
      const report = await downloadAll(urls, { blobs: ws.blobs, db: ws.db, ratePerHost: Infinity });
      assert.equal(report.counts.cached, recordedUrls.size);
      assert.equal(report.counts.ok, N - recordedUrls.size);
      assert.equal(report.counts.failed, 0);
      for (const [i, url] of urls.entries()) {
        assert.equal(server.hitsOf(`/k/${i}`), recordedUrls.has(url) ? 0 : 1, url);
      }
      const rows = await ws.db.selectFrom('downloads').selectAll().execute();
      assert.equal(rows.length, N);
      for (const row of rows) {
        assert.equal(row.status, 'ok');
        assert.ok(await ws.blobs.verify(row.blob_hash!));
      }
      assert.equal((await blobFiles(ws.blobs)).length, N);
    } finally {
      await ws.dispose();
      await server.close();
    }
  },
);
