import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import sharp from 'sharp';
import { downloadProgressBar } from '../src/cli/download-progress.js';
import { downloadAll } from '../src/data/download/download-all.js';
import { FsBlobStore } from '../src/store/blob-store.js';
import { openDatabase } from '../src/store/database.js';
import type { BenchOptions } from './fashion-mnist.js';
import { runFacts, type BenchResult, type Side } from './lib/report.js';
import { median, secondsSince } from './lib/stats.js';

const PHOTO = '/usr/share/darknet/data/dog.jpg';

/**
 * The image server runs in a worker thread so its event loop does not share the downloader's:
 * what is measured is the client. Every image is answered after `latencyMs`, like a distant CDN.
 * Plain JavaScript because a worker's `eval` source is not compiled by tsx.
 */
const SERVER_SOURCE = `
const { createServer } = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const { photo, latencyMs } = workerData;
const body = Buffer.from(photo);
const server = createServer((req, res) => {
  const i = Number(req.url.split('/').pop());
  setTimeout(() => {
    // The index after the JPEG's end marker makes every URL a distinct blob of a real photo's size.
    const tail = Buffer.alloc(4);
    tail.writeUInt32BE(i);
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length + 4 });
    res.end(Buffer.concat([body, tail]));
  }, latencyMs);
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
parentPort.on('message', () => server.close(() => process.exit(0)));
`;

async function startServer(
  photo: Buffer,
  latencyMs: number,
): Promise<{ base: string; stop(): Promise<void> }> {
  const worker = new Worker(SERVER_SOURCE, { eval: true, workerData: { photo, latencyMs } });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    base: `http://127.0.0.1:${port}`,
    stop: async () => {
      worker.postMessage('stop');
      await new Promise((r) => worker.once('exit', r));
    },
  };
}

async function samplePhoto(): Promise<Buffer> {
  if (existsSync(PHOTO)) return readFile(PHOTO);
  return sharp({
    create: {
      width: 640,
      height: 480,
      channels: 3,
      background: '#777',
      noise: { type: 'gaussian', mean: 128, sigma: 40 },
    },
  })
    .jpeg({ quality: 85 })
    .toBuffer();
}

/**
 * Download throughput against a local server that holds every image for 50 ms, with 16 requests
 * in flight: the ideal is 16 / 0.05 s = 320 images/s, so the ratio shows what the downloader's
 * own work (parsing, sniffing, hashing, the atomic fsync'd write, the index row) costs.
 */
export async function benchDownload(o: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const cfg = {
    images: o.quick ? 160 : 1600,
    repeats: o.quick ? 1 : 3,
    latencyMs: 50,
    concurrency: 16,
    perHost: 16,
    ratePerHost: 'unlimited',
    server: 'node:http in a worker thread on 127.0.0.1, one JPEG per request after the latency',
  };
  const ideal = cfg.concurrency / (cfg.latencyMs / 1000);
  const photo = await samplePhoto();
  const server = await startServer(photo, cfg.latencyMs);
  const urls = Array.from({ length: cfg.images }, (_, i) => `${server.base}/img/${i}`);

  const cold: number[] = [];
  const rerun: number[] = [];
  const plain: number[] = [];
  try {
    for (let r = 0; r < cfg.repeats; r++) {
      // The floor under any downloader here: Node's fetch alone, same concurrency, bodies dropped.
      let next = 0;
      const t = performance.now();
      await Promise.all(
        Array.from({ length: cfg.concurrency }, async () => {
          while (next < urls.length) await (await fetch(urls[next++]!)).arrayBuffer();
        }),
      );
      plain.push(secondsSince(t));

      const dir = await mkdtemp(path.join(tmpdir(), 'loupe-bench-download-'));
      const db = await openDatabase(path.join(dir, 'loupe.db'));
      try {
        const blobs = new FsBlobStore(path.join(dir, 'blobs'));
        const options = {
          blobs,
          db,
          concurrency: cfg.concurrency,
          perHost: cfg.perHost,
          ratePerHost: Infinity,
        };
        const bar = o.progress ? downloadProgressBar(urls.length) : undefined;
        let t0 = performance.now();
        const first = await downloadAll(urls, { ...options, onProgress: bar?.onProgress });
        cold.push(secondsSince(t0));
        bar?.stop();
        if (first.counts.ok !== urls.length)
          throw new Error(
            `only ${first.counts.ok} of ${urls.length} images downloaded: ${JSON.stringify(first.failures)}`,
          );
        t0 = performance.now();
        const second = await downloadAll(urls, options);
        rerun.push(secondsSince(t0));
        if (second.counts.cached !== urls.length)
          throw new Error(`the rerun found ${second.counts.cached} of ${urls.length} images cached`);
      } finally {
        await db.destroy();
        await rm(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await server.stop();
  }

  const mb = (cfg.images * (photo.length + 4)) / 2 ** 20;
  const side = (seconds: number[]): Side => ({
    images_per_s: cfg.images / median(seconds),
    mb_per_s: mb / median(seconds),
    seconds,
  });
  const sides: Record<string, Side> = {
    'loupe (cold)': side(cold),
    'loupe (rerun, all cached, hash-verified)': side(rerun),
    'node fetch alone (no checks, nothing stored)': side(plain),
    [`ideal (${cfg.concurrency} in flight / ${cfg.latencyMs} ms)`]: { images_per_s: ideal },
  };
  return {
    name: 'download',
    title: `Image download: ${cfg.images} photos of ${(photo.length / 1024).toFixed(0)} KiB, ${cfg.latencyMs} ms latency, concurrency ${cfg.concurrency}`,
    ...runFacts(o, started),
    config: { ...cfg, photoBytes: photo.length },
    columns: [
      { key: 'images_per_s', label: 'images/s', digits: 0 },
      { key: 'mb_per_s', label: 'MB/s', digits: 1 },
    ],
    sides,
    ratios: {
      throughput_ratio_vs_ideal: cfg.images / median(cold) / ideal,
      throughput_ratio_vs_plain_fetch: median(plain) / median(cold),
    },
    notes: [
      `The ideal is ${cfg.concurrency} requests in flight each held ${cfg.latencyMs} ms by the server: ${ideal} images/s; the ratio is Loupe's cold-cache rate over it (median of ${cfg.repeats}).`,
      'Each downloaded image is sniffed, hashed, written atomically with fsync into the blob store and recorded in SQLite before it counts.',
      'The rerun makes no request: every URL is found in the index and its blob re-hashed.',
      "node fetch alone is the same requests with the bodies thrown away: how close the ideal is reachable from Node on this machine; throughput_ratio_vs_plain_fetch is Loupe's rate over it.",
      'On a shared machine other processes slow both sides; compare the ratios, which come from the same run.',
    ],
  };
}
