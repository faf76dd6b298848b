import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import sharp from 'sharp';
import { isLoupeError, type ErrorCode } from '../src/errors/loupe-error.js';
import { loadBackbone } from '../src/engine/backbones/registry.js';
import { downloadHubFiles } from '../src/engine/encoders/hub-download.js';
import { openFeatureExtractor, type FeatureExtractor } from '../src/engine/encoders/feature-extractor.js';
import { Model } from '../src/engine/model.js';
import { exportOnnx } from '../src/engine/onnx/export-onnx.js';
import { GraphBuilder } from '../src/engine/onnx/graph-builder.js';
import { resolveSpec } from '../src/engine/spec/resolve.js';
import type { ModelSpecInput } from '../src/engine/spec/schema.js';
import { preprocessImages } from '../src/features/image/preprocess.js';
import { seededRandom } from '../src/train/random.js';

/**
 * The three encoder sources behind one interface. The ONNX encoder is a small network exported by
 * Loupe itself, so its features can be checked against libtorch running the same weights; the hub
 * is a local server laid out like huggingface.co (model-info API, resolve URLs that redirect LFS
 * files to a separate "CDN" server announcing the SHA-256 in X-Linked-Etag, Range support).
 */

const TOLERANCE = 1e-4;
const ADDON = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '../native/build/Release/loupe_native.node',
);
const skipNative = existsSync(ADDON) ? false : 'the native addon is not built';

const SIZE = 16;
const ENCODER_SPEC: ModelSpecInput = {
  name: 'tiny_encoder',
  input: { channels: 3, height: SIZE, width: SIZE },
  layers: [
    { type: 'conv2d', name: 'conv1', out: 8, kernel: 3, padding: 1 },
    { type: 'batchnorm', name: 'bn1' },
    { type: 'relu', name: 'relu1' },
    { type: 'conv2d', name: 'conv2', out: 12, kernel: 3, stride: 2, padding: 1, tap: 'mid' },
    { type: 'relu', name: 'relu2' },
    { type: 'global_avgpool', name: 'pool' },
  ],
};
/** What a DINOv2-style repo ships, scaled to the tiny encoder: crop 16 out of 18, mean and std 0.5. */
const PREPROCESSOR_CONFIG = {
  crop_size: { height: SIZE, width: SIZE },
  do_center_crop: true,
  do_normalize: true,
  do_rescale: true,
  do_resize: true,
  image_mean: [0.5, 0.5, 0.5],
  image_std: [0.5, 0.5, 0.5],
  image_processor_type: 'BitImageProcessor',
  resample: 3,
  rescale_factor: 1 / 255,
  size: { shortest_edge: 18 },
};
const SHA = 'a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0';
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const hubCacheDir = () => path.join(dir, 'cache');
const backboneCacheDir = () => path.join(dir, 'backbone-cache');

let dir: string;
let model: Model;
let onnxBytes: Buffer;
let configBytes: Buffer;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'loupe-encoders-'));
  configBytes = Buffer.from(JSON.stringify(PREPROCESSOR_CONFIG, null, 2));
  if (skipNative) return;
  const spec = resolveSpec(ENCODER_SPEC);
  model = await Model.create(spec, { seed: 7 });
  // Default initialisation leaves batchnorm's statistics at 0 and 1; give them real values.
  const weights = await model.getWeights();
  const r = seededRandom(3);
  weights.set('bn1.running_mean', { shape: [8], data: Float32Array.from({ length: 8 }, () => r() - 0.5) });
  weights.set('bn1.running_var', { shape: [8], data: Float32Array.from({ length: 8 }, () => 0.5 + r()) });
  await model.setWeights(weights);
  onnxBytes = Buffer.from(exportOnnx(spec, weights, { probs: false, taps: ['mid'] }));
});

after(async () => {
  await model?.dispose();
  await rm(dir, { recursive: true, force: true });
});

function randomImages(n: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n * 3 * SIZE * SIZE }, () => r() * 4 - 2);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isLoupeError(e, code), `expected LoupeError ${code}, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

/** Embeddings of the extractor against libtorch's logits (the pooled features) or pooled `mid` tap. */
async function assertMatchesLibtorch(ex: FeatureExtractor, what: 'logits' | 'mid'): Promise<void> {
  // 37 images: more than one chunk, and a last chunk that is not full.
  const x = randomImages(37, 11);
  const got = await ex.embed(x, 37);
  const want = await model.forward(x, 37, what === 'logits' ? 'logits' : { tap: 'mid', pool: true });
  assert.equal(got.length, 37 * ex.dim);
  const d = maxAbsDiff(got, want.data);
  assert.ok(d < TOLERANCE, `${ex.description}: max |diff| ${d}`);
}

// --- a hub on 127.0.0.1 --------------------------------------------------------------------

interface Logged {
  path: string;
  range?: string;
  authorization?: string;
}

interface FakeServer {
  base: string;
  log: Logged[];
  close(): Promise<void>;
}

async function serve(
  handler: (req: IncomingMessage, res: ServerResponse, p: string) => unknown,
): Promise<FakeServer> {
  const s: FakeServer = { base: '', log: [], close: async () => undefined };
  const server = createServer((req, res) => {
    const p = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    s.log.push({ path: p, range: req.headers.range, authorization: req.headers.authorization });
    Promise.resolve(handler(req, res, p)).catch((e: unknown) => res.destroy(e as Error));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  s.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  s.close = async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return s;
}

/**
 * Repositories by behaviour. Every one holds the tiny encoder at onnx/model.onnx (an LFS file:
 * redirected to the CDN) and, except test/bare, preprocessor_config.json (a plain git file).
 */
type Behaviour = 'normal' | 'flaky' | 'cut' | 'stall' | 'corrupt' | 'private' | 'bare';
const REPOS: Record<string, Behaviour> = {
  'test/encoder': 'normal',
  'test/flaky': 'flaky',
  'test/cut': 'cut',
  'test/stall': 'stall',
  'test/corrupt': 'corrupt',
  'test/private': 'private',
  'test/bare': 'bare',
};
const GOOD_TOKEN = 'hf_good';

describe('hub', () => {
  let hub: FakeServer;
  let cdn: FakeServer;
  const cdnHits = new Map<string, number>();
  const cacheDir = hubCacheDir;
  const requests = () => hub.log.length + cdn.log.length;
  const open = (ref: string, o: Parameters<typeof openFeatureExtractor>[1] = {}) =>
    openFeatureExtractor(ref, { cacheDir: cacheDir(), hubEndpoint: hub.base, ...o });

  before(async () => {
    if (skipNative) return;
    const send = (
      res: ServerResponse,
      status: number,
      headers: Record<string, string | number>,
      body = '',
    ) => {
      res.writeHead(status, headers);
      res.end(body);
    };
    cdn = await serve(async (req, res, p) => {
      const repo = /^\/cdn\/([^/]+\/[^/]+)\/[0-9a-f]{64}$/.exec(p)?.[1];
      const behaviour = repo ? REPOS[repo] : undefined;
      if (!behaviour) return send(res, 404, {});
      const hits = (cdnHits.get(p) ?? 0) + 1;
      cdnHits.set(p, hits);
      const etag = { 'x-linked-etag': `"${sha256(onnxBytes)}"`, etag: '"cdn-md5-like"' };
      if (behaviour === 'flaky' && hits === 1) return send(res, 500, { 'retry-after': '0' }, 'try again');
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (range) {
        const from = Number(range[1]);
        res.writeHead(206, {
          ...etag,
          'content-length': onnxBytes.length - from,
          'content-range': `bytes ${from}-${onnxBytes.length - 1}/${onnxBytes.length}`,
        });
        return res.end(onnxBytes.subarray(from));
      }
      res.writeHead(200, { ...etag, 'content-length': onnxBytes.length, 'accept-ranges': 'bytes' });
      const half = onnxBytes.length >> 1;
      if (behaviour === 'cut' && hits === 1) {
        res.write(onnxBytes.subarray(0, half));
        await new Promise((r) => setTimeout(r, 20));
        return res.socket?.destroy();
      }
      // The "killed process" case: half the bytes, then nothing until the client gives up.
      if (behaviour === 'stall') return res.write(onnxBytes.subarray(0, half));
      if (behaviour === 'corrupt') {
        const bad = Buffer.from(onnxBytes);
        bad[bad.length - 10]! ^= 0xff;
        return res.end(bad);
      }
      res.end(onnxBytes);
    });
    hub = await serve((req, res, p) => {
      const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/.exec(p);
      const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(p);
      const repo = api?.[1] ?? resolve?.[1] ?? '';
      const behaviour = REPOS[repo];
      if (!behaviour)
        return send(res, 404, { 'x-error-code': 'RepoNotFound', 'x-error-message': 'Repository not found' });
      if (behaviour === 'private' && req.headers.authorization !== `Bearer ${GOOD_TOKEN}`)
        return send(res, 401, {
          'x-error-code': 'RepoNotFound',
          'x-error-message': 'Invalid credentials in Authorization header',
        });
      const files =
        behaviour === 'bare'
          ? ['onnx/model.onnx', 'README.md']
          : ['onnx/model.onnx', 'preprocessor_config.json', 'README.md'];
      if (api) {
        if (api[2] !== 'main' && api[2] !== SHA)
          return send(res, 404, {
            'x-error-code': 'RevisionNotFound',
            'x-error-message': `Invalid rev id: ${api[2]}`,
          });
        const info = { id: repo, sha: SHA, siblings: files.map((rfilename) => ({ rfilename })) };
        return send(res, 200, { 'content-type': 'application/json' }, JSON.stringify(info));
      }
      const [, , sha, file] = resolve ?? [];
      if (sha !== SHA || !files.includes(file!)) return send(res, 404, { 'x-error-code': 'EntryNotFound' });
      if (file === 'onnx/model.onnx') {
        return send(res, 302, {
          location: `${cdn.base}/cdn/${repo}/${sha256(onnxBytes)}`,
          'x-linked-etag': `"${sha256(onnxBytes)}"`,
          'x-linked-size': onnxBytes.length,
          'x-repo-commit': SHA,
        });
      }
      return send(
        res,
        200,
        { etag: '"0123456789abcdef0123456789abcdef01234567"', 'content-length': configBytes.length },
        configBytes.toString(),
      );
    });
  });

  after(async () => {
    await hub?.close();
    await cdn?.close();
  });

  test('the first open downloads, with progress; features match libtorch', { skip: skipNative }, async () => {
    const progress: { file: string; bytes: number; total?: number }[] = [];
    const ex = await open('hf:test/encoder', { onDownload: (p) => progress.push(p) });
    try {
      const repoDir = path.join(cacheDir(), 'hub', 'test--encoder');
      assert.equal((await readFile(path.join(repoDir, 'refs', 'main'), 'utf8')).trim(), SHA);
      const modelFile = path.join(repoDir, SHA, 'onnx', 'model.onnx');
      assert.equal(sha256(await readFile(modelFile)), sha256(onnxBytes));
      assert.ok(existsSync(path.join(repoDir, SHA, 'preprocessor_config.json')));
      assert.ok(!existsSync(`${modelFile}.incomplete`) && !existsSync(`${modelFile}.lock`));
      const last = progress.filter((p) => p.file === 'onnx/model.onnx').at(-1);
      assert.deepEqual(last, { file: 'onnx/model.onnx', bytes: onnxBytes.length, total: onnxBytes.length });

      assert.equal(ex.dim, 12);
      assert.match(ex.description, new RegExp(`^hf:test/encoder@${SHA}:onnx/model\\.onnx output logits`));
      assert.match(ex.id, /^hf:test\/encoder:onnx\/model\.onnx@[0-9a-f]{16}#logits~[0-9a-f]{12}$/);
      const p = ex.preprocessing;
      assert.deepEqual([p.width, p.height, p.fit, p.channelOrder], [SIZE, SIZE, 'cover', 'rgb']);
      assert.deepEqual(p.resize, { method: 'sharp', kernel: 'cubic' });
      assert.deepEqual(p.mean, [0.5, 0.5, 0.5]);
      assert.deepEqual(p.std, [0.5, 0.5, 0.5]);
      await assertMatchesLibtorch(ex, 'logits');
      // The token went nowhere: none was set.
      assert.ok([...hub.log, ...cdn.log].every((l) => l.authorization === undefined));
    } finally {
      await ex.dispose();
    }
  });

  test('a second open makes no request; the id is the same', { skip: skipNative }, async () => {
    const first = await open('hf:test/encoder');
    const before = requests();
    const second = await open('hf:test/encoder');
    const pinned = await open(`hf:test/encoder@${SHA}`);
    assert.equal(requests(), before);
    assert.equal(second.id, first.id);
    assert.equal(pinned.id, first.id, 'the same bytes at the same commit');
    await Promise.all([first, second, pinned].map((e) => e.dispose()));
  });

  test('a cached revision opens offline; an uncached one is NETWORK', { skip: skipNative }, async () => {
    const down = await serve(() => undefined);
    await down.close();
    const ex = await openFeatureExtractor('hf:test/encoder', {
      cacheDir: cacheDir(),
      hubEndpoint: down.base,
    });
    await ex.dispose();
    await rejectsWith(
      downloadHubFiles('test/encoder', 'v2', [{ path: 'onnx/model.onnx' }], {
        cacheDir: cacheDir(),
        endpoint: down.base,
        retries: 1,
        retryBaseMs: 1,
      }),
      'NETWORK',
      /cannot download test\/encoder@v2 from http:\/\/127\.0\.0\.1:\d+: connection failed.*ECONNREFUSED.*gave up after 2 attempts.*no complete copy/,
    );
  });

  test(
    'a tap names an output; a feature map is averaged over height×width',
    { skip: skipNative },
    async () => {
      const ex = await open('hf:test/encoder', { tap: 'mid' });
      try {
        assert.equal(ex.dim, 12);
        assert.match(ex.description, /output mid \(mean over height×width\)/);
        assert.match(ex.id, /#mid\.mean~/);
        await assertMatchesLibtorch(ex, 'mid');
        await rejectsWith(
          open('hf:test/encoder', { tap: 'nope' }),
          'INVALID_ARGUMENT',
          /no output "nope".*logits \[1, 12\], mid \[1, 12, 8, 8\]/,
        );
      } finally {
        await ex.dispose();
      }
    },
  );

  test('a body cut off half-way is resumed with a Range request', { skip: skipNative }, async () => {
    const ex = await open('hf:test/cut');
    await ex.dispose();
    const ranges = cdn.log.filter((l) => l.path.startsWith('/cdn/test/cut/')).map((l) => l.range);
    assert.deepEqual(ranges, [undefined, `bytes=${onnxBytes.length >> 1}-`]);
    const file = path.join(cacheDir(), 'hub', 'test--cut', SHA, 'onnx', 'model.onnx');
    assert.equal(sha256(await readFile(file)), sha256(onnxBytes));
  });

  test('a download killed half-way resumes in the next process', { skip: skipNative }, async () => {
    const controller = new AbortController();
    const half = onnxBytes.length >> 1;
    await assert.rejects(
      open('hf:test/stall', {
        signal: controller.signal,
        onDownload: (p) => {
          if (p.file === 'onnx/model.onnx' && p.bytes >= half) controller.abort();
        },
      }),
      (e: unknown) => (e as Error).name === 'AbortError',
    );
    const file = path.join(cacheDir(), 'hub', 'test--stall', SHA, 'onnx', 'model.onnx');
    assert.equal((await stat(`${file}.incomplete`)).size, half, 'the bytes received are kept');
    assert.ok(!existsSync(file));
    // What kill -9 leaves besides the bytes: the lock, naming a process that no longer exists.
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    await writeFile(`${file}.lock`, `${dead}\n`);

    const before = cdn.log.length;
    const ex = await open('hf:test/stall');
    await ex.dispose();
    assert.deepEqual(
      cdn.log.slice(before).map((l) => l.range),
      [`bytes=${half}-`],
    );
    assert.equal(sha256(await readFile(file)), sha256(onnxBytes));
    assert.ok(!existsSync(`${file}.incomplete`) && !existsSync(`${file}.lock`));
  });

  test('a silent connection times out, and the retry resumes', { skip: skipNative }, async () => {
    const half = onnxBytes.length >> 1;
    const files = [{ path: 'onnx/model.onnx' }];
    const o = {
      cacheDir: path.join(dir, 'cache-timeout'),
      endpoint: hub.base,
      timeoutMs: 300,
      retryBaseMs: 1,
    };
    await rejectsWith(
      downloadHubFiles('test/stall', 'main', files, { ...o, retries: 0 }),
      'NETWORK',
      /no data for 300 ms \(gave up after 1 attempt\)/,
    );
    const before = cdn.log.length;
    const snapshot = await downloadHubFiles('test/stall', 'main', files, o);
    assert.deepEqual(
      cdn.log.slice(before).map((l) => l.range),
      [`bytes=${half}-`],
    );
    assert.equal(sha256(await readFile(snapshot.files.get('onnx/model.onnx')!)), sha256(onnxBytes));
  });

  test('a 500 is retried', { skip: skipNative }, async () => {
    const ex = await open('hf:test/flaky');
    await ex.dispose();
    assert.equal(cdnHits.get(`/cdn/test/flaky/${sha256(onnxBytes)}`), 2);
  });

  test('missing repos, revisions and files are NOT_FOUND', { skip: skipNative }, async () => {
    await rejectsWith(
      open('hf:test/missing'),
      'NOT_FOUND',
      /no model repository test\/missing .*Repository not found/,
    );
    await rejectsWith(open('hf:test/encoder@nope'), 'NOT_FOUND', /test\/encoder has no revision "nope"/);
    await rejectsWith(
      open('hf:test/encoder:onnx/nope.onnx'),
      'NOT_FOUND',
      /test\/encoder has no file onnx\/nope\.onnx at main \(a1b2.*\); its ONNX files: onnx\/model\.onnx/,
    );
  });

  test(
    '401 explains HF_TOKEN; the token goes to the hub, never to the CDN',
    { skip: skipNative },
    async () => {
      const saved = process.env.HF_TOKEN;
      try {
        delete process.env.HF_TOKEN;
        await rejectsWith(
          open('hf:test/private'),
          'NOT_FOUND',
          /refused access to test\/private \(HTTP 401.*set HF_TOKEN/,
        );
        process.env.HF_TOKEN = 'hf_wrong';
        await rejectsWith(open('hf:test/private'), 'NOT_FOUND', /HF_TOKEN is set but was refused/);
        process.env.HF_TOKEN = GOOD_TOKEN;
        const ex = await open('hf:test/private');
        await ex.dispose();
        const hubSaw = hub.log.filter((l) => l.path.includes('test/private')).at(-1);
        assert.equal(hubSaw?.authorization, `Bearer ${GOOD_TOKEN}`);
        assert.ok(cdn.log.every((l) => l.authorization === undefined));
      } finally {
        if (saved === undefined) delete process.env.HF_TOKEN;
        else process.env.HF_TOKEN = saved;
      }
    },
  );

  test(
    'a body that fails its announced SHA-256 is rejected and not cached',
    { skip: skipNative },
    async () => {
      const file = path.join(cacheDir(), 'hub', 'test--corrupt', SHA, 'onnx', 'model.onnx');
      for (let i = 0; i < 2; i++) {
        const before = cdn.log.length;
        await rejectsWith(
          open('hf:test/corrupt'),
          'CORRUPT_FILE',
          /SHA-256 [0-9a-f]{64}, but the server announced/,
        );
        assert.equal(cdn.log.length, before + 1, 'each open tries the network again');
        assert.ok(!existsSync(file) && !existsSync(`${file}.incomplete`));
      }
    },
  );

  test(
    'a repo without preprocessor_config.json gets ImageNet defaults, offline too',
    { skip: skipNative },
    async () => {
      const ex = await open('hf:test/bare');
      const before = requests();
      const again = await open('hf:test/bare');
      assert.equal(requests(), before, 'the absence is cached too');
      assert.deepEqual(ex.preprocessing.mean, [0.485, 0.456, 0.406]);
      assert.match(ex.description, /ImageNet defaults/);
      assert.equal(again.id, ex.id);
      await Promise.all([ex.dispose(), again.dispose()]);
    },
  );
});

// --- local files -----------------------------------------------------------------------------

describe('local .onnx', { skip: skipNative }, () => {
  test('with and without preprocessor_config.json', async () => {
    const bare = path.join(dir, 'bare', 'encoder.onnx');
    const withConfig = path.join(dir, 'configured', 'encoder.onnx');
    for (const f of [bare, withConfig]) {
      await mkdir(path.dirname(f), { recursive: true });
      await writeFile(f, onnxBytes);
    }
    await writeFile(path.join(dir, 'configured', 'preprocessor_config.json'), configBytes);

    const a = await openFeatureExtractor(bare);
    const b = await openFeatureExtractor(withConfig, { tap: 'mid' });
    const b2 = await openFeatureExtractor(path.relative(process.cwd(), withConfig), { tap: 'mid' });
    try {
      assert.deepEqual(a.preprocessing.mean, [0.485, 0.456, 0.406]);
      assert.deepEqual(
        [a.preprocessing.width, a.preprocessing.height],
        [SIZE, SIZE],
        "the model's input size",
      );
      assert.deepEqual(b.preprocessing.std, [0.5, 0.5, 0.5]);
      assert.match(
        a.description,
        new RegExp(
          `^${bare.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} output logits; pixels: no preprocessor_config`,
        ),
      );
      assert.match(a.id, /^onnx:encoder\.onnx@[0-9a-f]{16}#logits~/);
      assert.equal(b2.id, b.id, 'the id does not depend on how the path was written');
      await assertMatchesLibtorch(a, 'logits');
      await assertMatchesLibtorch(b, 'mid');

      // What preprocessImages produces for it is what embed takes.
      const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#3080c0' } })
        .png()
        .toBuffer();
      const batch = await preprocessImages([png, png], b.preprocessing);
      const features = await b.embed(batch.x, batch.size);
      assert.equal(features.length, 2 * b.dim);
      assert.ok(maxAbsDiff(features.subarray(0, b.dim), features.subarray(b.dim)) < 1e-6);
      await rejectsWith(b.embed(batch.x, 3), 'SHAPE_MISMATCH', /3 images of 768 values/);
    } finally {
      await Promise.all([a, b, b2].map((e) => e.dispose()));
    }
  });

  test('token outputs are averaged over tokens; a fixed batch of 1 is fed one image at a time', async () => {
    // [1, 3, 4, 4] → reshape [1, 3, 16] → transpose [1, 16, 3]: 16 tokens of 3 features, each
    // token one pixel, so the mean over tokens is each channel's mean.
    const g = new GraphBuilder();
    g.input('pixel_values', [1, 3, 4, 4]);
    const shape = g.int64Initializer('shape', [1, 3, 16]);
    g.node('Reshape', ['pixel_values', shape], 'flat');
    g.node('Transpose', ['flat'], 'last_hidden_state', { perm: [0, 2, 1] });
    g.output('last_hidden_state', [1, 16, 3]);
    const bytes = onnxProto.onnx.ModelProto.encode({
      irVersion: 7,
      opsetImport: [{ domain: '', version: 14 }],
      graph: g.build('tokens'),
    }).finish();
    const file = path.join(dir, 'tokens', 'tokens.onnx');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, bytes);

    const ex = await openFeatureExtractor(file);
    try {
      assert.equal(ex.dim, 3);
      assert.deepEqual([ex.preprocessing.width, ex.preprocessing.height], [4, 4]);
      assert.match(ex.description, /output last_hidden_state \(mean over tokens\)/);
      const n = 3;
      const x = Float32Array.from({ length: n * 48 }, (_, i) => (i * 7919) % 13);
      const got = await ex.embed(x, n);
      const want = new Float32Array(n * 3);
      for (let i = 0; i < n * 3; i++) {
        let s = 0;
        for (let p = 0; p < 16; p++) s += x[i * 16 + p]!;
        want[i] = s / 16;
      }
      assert.ok(maxAbsDiff(got, want) < 1e-6);
    } finally {
      await ex.dispose();
    }
  });

  test('a file that is not there is NOT_FOUND', async () => {
    await rejectsWith(
      openFeatureExtractor(path.join(dir, 'nope.onnx')),
      'NOT_FOUND',
      /nope\.onnx does not exist/,
    );
  });
});

// --- built-in backbones ----------------------------------------------------------------------

describe('built-in mobilenet_v2', { skip: skipNative }, () => {
  const cacheDir = backboneCacheDir;
  /** What the extractor returned when it ran on libtorch: its features must not be mixed with these. */
  const LIBTORCH_IDS = [
    'builtin:mobilenet_v2@238bcdd9e5c648a7#final~948f6de6673b',
    'builtin:mobilenet_v2@238bcdd9e5c648a7#mid~5976e8fd5933',
  ];
  const open = (tap?: string) => openFeatureExtractor('mobilenet_v2', { cacheDir: cacheDir(), tap });
  const entryDir = async () => (await loadBackbone('mobilenet_v2', { cacheDir: cacheDir() })).cache.dir;
  /** Pixels in [0, 1], as the preprocessing gives them. */
  const images = (n: number) => {
    const r = seededRandom(5);
    return Float32Array.from({ length: n * 3 * 224 * 224 }, () => r());
  };

  test('taps final and mid, with stable and distinct ids, not those of the libtorch engine', async () => {
    const final = await open();
    const mid = await open('mid');
    const again = await open('final');
    try {
      assert.equal(final.dim, 1280);
      assert.equal(mid.dim, 96);
      assert.equal(again.id, final.id);
      assert.notEqual(mid.id, final.id);
      assert.match(final.id, /^builtin:mobilenet_v2@[0-9a-f]{16}#final~[0-9a-f]{12}$/);
      for (const id of [final.id, mid.id]) assert.ok(!LIBTORCH_IDS.includes(id), id);
      assert.match(mid.description, /^mobilenet_v2 tap mid .*nsfwjs@4\.4\.0/);
      assert.equal(final.preprocessing.width, 224);
      const x = Float32Array.from({ length: 2 * 3 * 224 * 224 }, (_, i) => ((i * 31) % 255) / 255);
      const [f, m] = [await final.embed(x, 2), await mid.embed(x, 2)];
      assert.equal(f.length, 2 * 1280);
      assert.equal(m.length, 2 * 96);
      assert.ok(f.every(Number.isFinite) && m.every(Number.isFinite));
      await rejectsWith(open('deep'), 'INVALID_ARGUMENT', /no tap "deep"; its taps: final .*; mid/);
    } finally {
      await Promise.all([final, mid, again].map((e) => e.dispose()));
    }
  });

  test('features match libtorch running the same weights at the same tap', async () => {
    const backbone = await loadBackbone('mobilenet_v2', { cacheDir: cacheDir() });
    const reference = await Model.create(backbone.spec);
    try {
      await reference.setWeights(backbone.weights);
      const x = images(8);
      for (const tap of ['final', 'mid']) {
        const ex = await open(tap);
        try {
          const got = await ex.embed(x, 8);
          const want = await reference.forward(x, 8, { tap, pool: backbone.taps[tap]!.pool });
          const d = maxAbsDiff(got, want.data);
          assert.ok(d < TOLERANCE, `${tap}: max |diff| ${d}`);
        } finally {
          await ex.dispose();
        }
      }
    } finally {
      await reference.dispose();
    }
  });

  test('the exported graph is cached per tap and reused; a damaged one is exported again', async () => {
    const x = images(3);
    await (await open('final')).dispose();
    const first = await open('mid');
    const want = await first.embed(x, 3);
    await first.dispose();
    const file = path.join(await entryDir(), 'mid.onnx');
    const bytes = await readFile(file);
    assert.ok(existsSync(path.join(await entryDir(), 'final.onnx')), 'the other tap has its own file');

    const before = await stat(file);
    const reopened = await open('mid');
    await reopened.dispose();
    const after = await stat(file);
    assert.deepEqual([after.ino, after.mtimeMs], [before.ino, before.mtimeMs], 'not exported again');

    const damages: [string, (b: Buffer) => Buffer][] = [
      ['truncated', (b) => b.subarray(0, b.length >> 1)],
      [
        // Same size and most likely still a loadable model: only the recorded SHA-256 tells.
        'a flipped byte',
        (b) => {
          const bad = Buffer.from(b);
          bad[bad.length >> 1]! ^= 0xff;
          return bad;
        },
      ],
    ];
    for (const [what, damage] of damages) {
      await writeFile(file, damage(bytes));
      const ex = await open('mid');
      try {
        assert.equal(sha256(await readFile(file)), sha256(bytes), `${what}: the file is exported again`);
        assert.equal(maxAbsDiff(await ex.embed(x, 3), want), 0, what);
      } finally {
        await ex.dispose();
      }
    }
  });

  test('an unknown name says what a backbone can be', async () => {
    await rejectsWith(
      openFeatureExtractor('dinov2', { cacheDir: cacheDir() }),
      'NOT_FOUND',
      /mobilenet_v2.*\.onnx.*hf:owner\/name/,
    );
  });
});

test('ids differ across taps and sources, even for the same bytes', { skip: skipNative }, async () => {
  const file = path.join(dir, 'same', 'model.onnx');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, onnxBytes);
  // The hub tests above filled this cache, so these open without a hub.
  const hubOptions = { cacheDir: hubCacheDir(), hubEndpoint: 'http://127.0.0.1:9' };
  const extractors = [
    await openFeatureExtractor('hf:test/encoder', hubOptions),
    await openFeatureExtractor('hf:test/encoder', { ...hubOptions, tap: 'mid' }),
    await openFeatureExtractor('hf:test/bare', hubOptions),
    await openFeatureExtractor(file),
    await openFeatureExtractor(file, { tap: 'mid' }),
    await openFeatureExtractor('mobilenet_v2', { cacheDir: backboneCacheDir() }),
    await openFeatureExtractor('mobilenet_v2', { cacheDir: backboneCacheDir(), tap: 'mid' }),
  ];
  try {
    const ids = extractors.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, ids.join('\n'));
  } finally {
    await Promise.all(extractors.map((e) => e.dispose()));
  }
});
