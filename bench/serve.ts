import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer as createNetServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { parse, stringify } from 'yaml';
import { deepMerge } from '../src/config/load-config.js';
import { candidatesFromFolder } from '../src/data/ingest/from-folder.js';
import { ingest } from '../src/data/ingest/ingest.js';
import { LoupeError } from '../src/errors/loupe-error.js';
import { Classifier } from '../src/inference/classifier.js';
import { readModelFile } from '../src/registry/model-files.js';
import { promote } from '../src/registry/promote.js';
import { registerRun } from '../src/registry/register-model.js';
import { getRun, runArtifacts } from '../src/track/run-store.js';
import { demoTrainConfig } from '../src/cli/commands/demo.js';
import { trainModel } from '../src/train/train-run.js';
import { initWorkspace, openWorkspace } from '../src/workspace/workspace.js';
import type { BenchOptions } from './fashion-mnist.js';
import { addPythonVersions } from './lib/machine.js';
import { PYTHON } from './lib/python-baseline.js';
import { runFacts, type BenchResult, type Side } from './lib/report.js';
import { secondsSince } from './lib/stats.js';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const BASELINE = path.join(here, 'baselines/fastapi_serve.py');
const LOUPE_BIN = path.join(root, 'bin/loupe.js');
const SAMPLE = path.join(root, 'samples/fashion-mnist');
/** The request image: a test-split Pullover, re-encoded as a ~1 KB JPEG. */
const REQUEST_IMAGE = path.join(SAMPLE, 'test/Pullover/0001.png');

/** How `loupe serve` is run: ONNX Runtime threads, and the micro-batcher (serve.batching). */
export interface LoupeSettings {
  threads: number;
  maxBatch: number;
  maxWaitMs: number;
}

/**
 * What the benchmark serves with, picked in a quick exploration on a 2-core machine (ONNX
 * Runtime threads 1 and 2, maxWaitMs 0, 1 and 3; docs/benchmarks.md): one ONNX Runtime thread,
 * leaving the other core to HTTP and decoding, and batches that go at once (requests arriving
 * while one runs form the next).
 */
export const LOUPE_SETTINGS: LoupeSettings = { threads: 1, maxBatch: 32, maxWaitMs: 0 };

// ---------------------------------------------------------------------------------------------
// The model: the bundled sample, the demo's network, trained, registered and promoted.

export interface ServedWorkspace {
  dir: string;
  model: string;
  /** The run's weights (the PyTorch side loads these). */
  weightsFile: string;
  /** classes, inputs and temperature as the packaged ONNX file's metadata records them. */
  modelJson: string;
  trainImages: number;
  testAccuracy: number;
  temperature: number;
}

/** The sample, or its first `perClass` images of each class in each split (quick mode). */
async function sampleFolder(dir: string, perClass?: number): Promise<string> {
  if (!perClass) return SAMPLE;
  const out = path.join(dir, 'sample');
  for (const split of ['train', 'test'])
    for (const c of await readdir(path.join(SAMPLE, split))) {
      const files = (await readdir(path.join(SAMPLE, split, c))).sort().slice(0, perClass);
      await Promise.all(files.map((f) => cp(path.join(SAMPLE, split, c, f), path.join(out, split, c, f))));
    }
  return out;
}

export async function prepareWorkspace(
  dir: string,
  o: { epochs: number; seed: number; perClass?: number },
): Promise<ServedWorkspace> {
  await initWorkspace(dir, { name: 'bench-serve' });
  const ws = await openWorkspace({ workspace: dir, env: {} });
  try {
    const data = await sampleFolder(path.dirname(dir), o.perClass);
    const report = await ingest(ws, await candidatesFromFolder(data, ws.blobs), {
      dataset: 'fashion-sample',
      source: `folder ${data}`,
    });
    const config = demoTrainConfig(report.version, {
      epochs: o.epochs,
      batchSize: 64,
      lr: 2e-3,
      seed: o.seed,
    });
    const run = await trainModel(ws, { config });
    const registered = await registerRun(ws, run.runId, { name: 'fashion', reason: 'bench/serve.ts' });
    const { model, version } = registered.version;
    // A one-epoch model may miss the gate's bar; the benchmark serves it regardless.
    await promote(ws, { model, version }, { reason: 'bench/serve.ts', force: true, policy: ws.config.gate });

    const artifact = (await runArtifacts(ws.db, (await getRun(ws.db, run.runId)).id)).find(
      (a) => a.name === 'model.safetensors',
    );
    if (!artifact) throw new LoupeError('NOT_FOUND', `run ${run.runId} has no model.safetensors`);
    const classifier = await Classifier.open(await readModelFile(ws.blobs, registered.version));
    const info = {
      classes: classifier.classes,
      inputs: classifier.inputs,
      temperature: classifier.temperature,
    };
    await classifier.dispose();
    const modelJson = path.join(dir, 'bench-model.json');
    await writeFile(modelJson, `${JSON.stringify(info, null, 2)}\n`);
    return {
      dir,
      model,
      weightsFile: path.join(ws.root, artifact.path),
      modelJson,
      trainImages: report.items.after,
      testAccuracy: registered.evaluation?.report.metrics.accuracy ?? Number.NaN,
      temperature: info.temperature,
    };
  } finally {
    await ws.close();
  }
}

/** Writes the micro-batcher settings into the workspace's loupe.yaml (serve.batching). */
async function configureBatching(dir: string, s: LoupeSettings): Promise<void> {
  const file = path.join(dir, 'loupe.yaml');
  const merged = deepMerge(parse(await readFile(file, 'utf8')) as Record<string, unknown>, {
    serve: { batching: { maxBatch: s.maxBatch, maxWaitMs: s.maxWaitMs } },
  });
  await writeFile(file, stringify(merged));
}

/** A single-image multipart/form-data body, as `curl -F file=@x.jpg` sends it. */
export function multipartBody(jpeg: Buffer): { body: Buffer; contentType: string } {
  const boundary = '----loupebench7MA4YWxkTrZu0gW';
  const body = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="pullover.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
    ),
    jpeg,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

export async function requestJpeg(): Promise<Buffer> {
  return sharp(REQUEST_IMAGE).jpeg({ quality: 95 }).toBuffer();
}

// ---------------------------------------------------------------------------------------------
// Servers as child processes, on 127.0.0.1.

export interface RunningServer {
  name: string;
  pid: number;
  predictUrl: string;
  /** What the server printed on stdout (the baseline prints its versions as JSON). */
  stdout: () => string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(child: ChildProcess, url: string, stderr: () => string, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new LoupeError(
        'NATIVE_ERROR',
        `server exited (${child.exitCode}) before it was ready:\n${stderr().trim().split('\n').slice(-8).join('\n')}`,
      );
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new LoupeError('NATIVE_ERROR', `server not ready at ${url} after ${timeoutMs / 1000} s`);
}

async function launch(
  name: string,
  command: string,
  args: string[],
  o: { cwd: string; readyUrl: string; predictUrl: string },
): Promise<RunningServer> {
  const child = spawn(command, args, { cwd: o.cwd, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-20_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitReady(child, o.readyUrl, () => stderr);
  } catch (e) {
    await stop();
    throw e;
  }
  return { name, pid: child.pid!, predictUrl: o.predictUrl, stdout: () => stdout, stop };
}

/** Checks that the compiled CLI is there and not older than the serving sources it runs. */
function checkBuilt(): string | undefined {
  const main = path.join(root, 'dist/cli/main.js');
  if (!existsSync(main))
    throw new LoupeError('MISSING_DEPENDENCY', 'dist/ is not built; run `make setup` (bin/loupe.js runs it)');
  const stale: string[] = [];
  const walk = (dir: string) => {
    for (const f of readdirSync(dir)) {
      const src = path.join(dir, f);
      if (statSync(src).isDirectory()) walk(src);
      else if (f.endsWith('.ts')) {
        const built = path
          .join(root, 'dist', path.relative(path.join(root, 'src'), src))
          .replace(/\.ts$/, '.js');
        if (!existsSync(built) || statSync(built).mtimeMs < statSync(src).mtimeMs)
          stale.push(path.relative(root, src));
      }
    }
  };
  walk(path.join(root, 'src/serve'));
  return stale.length
    ? `dist/ is older than ${stale.join(', ')}: the server measured is the last build (run \`make setup\`)`
    : undefined;
}

export async function startLoupe(w: ServedWorkspace, s: LoupeSettings): Promise<RunningServer> {
  await configureBatching(w.dir, s);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  return launch(
    'loupe',
    process.execPath,
    [
      LOUPE_BIN,
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--log-level',
      'warn',
      '--threads',
      String(s.threads),
    ],
    { cwd: w.dir, readyUrl: `${base}/readyz`, predictUrl: `${base}/v1/models/${w.model}/predict` },
  );
}

export type FastApiHandler = 'sync' | 'async';
const HANDLER_LABEL: Record<FastApiHandler, string> = { async: 'async def', sync: 'def' };

/** How the baseline is run: its handler, and uvicorn worker processes (each with cores ÷ workers torch threads). */
export interface FastApiSetup {
  handler: FastApiHandler;
  workers: number;
}
const setupLabel = (f: FastApiSetup) =>
  `${HANDLER_LABEL[f.handler]} handler${f.workers > 1 ? `, ${f.workers} workers` : ''}`;
const setupKey = (f: FastApiSetup) =>
  `${HANDLER_LABEL[f.handler].replace(' ', '_')}_handler${f.workers > 1 ? `_${f.workers}_workers` : ''}`;

export async function startFastApi(
  w: ServedWorkspace,
  o: { threads: number; handler?: FastApiHandler; workers?: number },
): Promise<RunningServer> {
  if (!existsSync(PYTHON))
    throw new LoupeError(
      'MISSING_DEPENDENCY',
      `${PYTHON} not found; install python3-fastapi, uvicorn, python3-multipart and python3-torch`,
    );
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  return launch(
    'fastapi',
    PYTHON,
    [
      BASELINE,
      `--weights=${w.weightsFile}`,
      `--model=${w.modelJson}`,
      `--port=${port}`,
      `--threads=${o.threads}`,
      `--handler=${o.handler ?? 'async'}`,
      `--workers=${o.workers ?? 1}`,
    ],
    { cwd: w.dir, readyUrl: `${base}/health`, predictUrl: `${base}/predict` },
  );
}

// ---------------------------------------------------------------------------------------------
// Load.

interface AutocannonResult {
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
}
interface AutocannonInstance extends PromiseLike<AutocannonResult> {
  on(event: 'response', f: (client: unknown, status: number, bytes: number, ms: number) => void): void;
}
type Autocannon = (o: {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Buffer;
  connections: number;
  pipelining: number;
  duration: number;
  timeout: number;
}) => AutocannonInstance;

/** A process and its descendants (uvicorn's worker processes), from /proc's children lists. */
function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const task of readdirSync(`/proc/${out[i]}/task`))
        for (const child of readFileSync(`/proc/${out[i]}/task/${task}/children`, 'utf8').split(' '))
          if (child.trim()) out.push(Number(child));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** The server's resident memory, its threads (one address space) and worker processes included. */
function rssMiB(pid: number): number {
  let kib = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      kib += m ? Number(m[1]) : 0;
    } catch {
      // exited meanwhile
    }
  }
  return kib ? kib / 1024 : Number.NaN;
}

/** User + system CPU seconds the server has used: all threads, worker processes included. */
function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks / CLOCK_TICKS;
}
/** USER_HZ, 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;

const percentile = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : Number.NaN;

export interface LoadResult {
  requests: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  mean_ms: number;
  non2xx: number;
  errors: number;
  /** Server CPU time (all threads) per answered request. */
  cpu_ms_per_req: number;
  /** Cores the server kept busy on average. */
  cpu_cores: number;
  /** Cores the load generator (autocannon, this process) kept busy: with the server's, at most the machine's. */
  loadgen_cores: number;
  rss_max_mib: number;
  rss_idle_mib: number;
  /** The machine's 1-minute load average when the run ended (other work shows up here). */
  load_1m: number;
}

/**
 * One fixed-duration run of autocannon at a concurrency (a warm-up run first, not counted).
 * Latencies are kept per response in full precision (autocannon's histogram is in whole ms).
 */
export async function loadTest(
  server: RunningServer,
  payload: { body: Buffer; contentType: string },
  o: { connections: number; durationS: number; warmupS: number },
): Promise<LoadResult> {
  const autocannon = require('autocannon') as Autocannon;
  const run = async (durationS: number, latencies?: number[]) => {
    const instance = autocannon({
      url: server.predictUrl,
      method: 'POST',
      headers: { 'content-type': payload.contentType },
      body: payload.body,
      connections: o.connections,
      pipelining: 1,
      duration: durationS,
      timeout: 30,
    });
    let non2xx = 0;
    instance.on('response', (_c, status, _b, ms) => {
      if (status >= 200 && status < 300) latencies?.push(ms);
      else non2xx++;
    });
    const result = await instance;
    return { non2xx: Math.max(non2xx, result.non2xx), errors: result.errors + result.timeouts };
  };
  if (o.warmupS > 0) await run(o.warmupS);
  const rssIdle = rssMiB(server.pid);
  let rssMax = rssIdle;
  const sampler = setInterval(() => {
    const v = rssMiB(server.pid);
    if (v > rssMax) rssMax = v;
  }, 200);
  const latencies: number[] = [];
  const cpu0 = cpuSeconds(server.pid);
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  let counts: { non2xx: number; errors: number };
  try {
    counts = await run(o.durationS, latencies);
  } finally {
    clearInterval(sampler);
  }
  const seconds = secondsSince(t0);
  const cpu = cpuSeconds(server.pid) - cpu0;
  const own = process.cpuUsage(own0);
  rssMax = Math.max(rssMax, rssMiB(server.pid));
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    rps: latencies.length / seconds,
    p50_ms: percentile(latencies, 50),
    p99_ms: percentile(latencies, 99),
    mean_ms: latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length),
    non2xx: counts.non2xx,
    errors: counts.errors,
    cpu_ms_per_req: (1000 * cpu) / Math.max(1, latencies.length),
    cpu_cores: cpu / seconds,
    loadgen_cores: (own.user + own.system) / 1e6 / seconds,
    rss_max_mib: rssMax,
    rss_idle_mib: rssIdle,
    load_1m: os.loadavg()[0]!,
  };
}

/** Sums of Loupe's batch-size and stage histograms, to tell how a run's time was spent. */
async function loupeCounters(server: RunningServer): Promise<Record<string, number>> {
  const text = await (await fetch(new URL('/metrics', server.predictUrl))).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(
    /^(loupe_batch_size|loupe_inference_duration_seconds)_(sum|count)\{([^}]*)\} (\S+)$/gm,
  )) {
    const stage = /stage="(\w+)"/.exec(m[3]!)?.[1];
    const key = `${m[1]}${stage ? `_${stage}` : ''}_${m[2]}`;
    out[key] = (out[key] ?? 0) + Number(m[4]);
  }
  return out;
}

interface Prediction {
  label: string;
  probability: number;
}

/** Top-5 answer of a server for the request image: both sides must agree. */
async function predictOnce(
  server: RunningServer,
  payload: { body: Buffer; contentType: string },
): Promise<Prediction[]> {
  const res = await fetch(server.predictUrl, {
    method: 'POST',
    headers: { 'content-type': payload.contentType },
    body: payload.body,
  });
  if (!res.ok)
    throw new LoupeError('NATIVE_ERROR', `${server.name} answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { predictions: Prediction[] }).predictions;
}

// ---------------------------------------------------------------------------------------------

const CONCURRENCY = [1, 32] as const;

/** Measures one server at every concurrency; a non-2xx answer or a socket error fails the benchmark. */
async function measure(
  server: RunningServer,
  payload: { body: Buffer; contentType: string },
  o: { durationS: number; warmupS: number },
  onRun?: (c: number, before: Record<string, number>, after: Record<string, number>) => void,
): Promise<Map<number, LoadResult>> {
  const out = new Map<number, LoadResult>();
  for (const c of CONCURRENCY) {
    const before = onRun ? await loupeCounters(server) : {};
    const r = await loadTest(server, payload, { connections: c, ...o });
    if (r.non2xx || r.errors)
      throw new LoupeError(
        'NATIVE_ERROR',
        `${server.name} at concurrency ${c}: ${r.non2xx} non-2xx responses and ${r.errors} errors (must be 0)`,
      );
    onRun?.(c, before, await loupeCounters(server));
    out.set(c, r);
  }
  return out;
}

export async function benchServe(o: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const staleNote = checkBuilt();
  if (staleNote) console.error(`bench serve: warning: ${staleNote}`);
  const cores = os.availableParallelism();
  // Two ways to write the FastAPI handler, and which is faster depends on the machine (see
  // docs/benchmarks.md): the full run measures both in one uvicorn worker, as FastAPI is most
  // often run, and compares against the faster at each concurrency, so the baseline is never the
  // weaker one. It also measures one worker process per core, the peer setup of a server that
  // uses every core, and reports the ratios against it separately. The quick mode runs one.
  const single: FastApiSetup[] = o.quick
    ? [{ handler: 'async', workers: 1 }]
    : [
        { handler: 'async', workers: 1 },
        { handler: 'sync', workers: 1 },
      ];
  const setups: FastApiSetup[] = o.quick ? single : [...single, { handler: 'async', workers: cores }];
  const cfg = {
    sample: path.relative(root, SAMPLE),
    network: 'conv32-pool-conv64-pool-dense128-dense10 (the demo scratch CNN, 28×28 grey)',
    epochs: o.quick ? 1 : 3,
    /** Images of each class per split folder (quick mode); all 3,600 otherwise. */
    perClass: o.quick ? 40 : null,
    seed: o.seed,
    durationS: o.quick ? 2 : 20,
    warmupS: o.quick ? 0.5 : 3,
    concurrency: [...CONCURRENCY],
    loupe: { ...LOUPE_SETTINGS, queueLimit: 512, predictionLog: 'on (the default)' },
    fastapi: {
      /** Torch threads per worker process: the cores, shared out among the workers. */
      setups: setups.map((f) => ({
        ...f,
        label: setupLabel(f),
        torchThreads: Math.max(1, cores / f.workers),
      })),
      /** The one-worker setup each concurrency's ratios compare against: the faster one in this run. */
      baseline: {} as Record<string, string>,
      http: 'uvicorn h11 + asyncio (uvloop and httptools are not installed)',
      uvicorn: null as string | null,
    },
    requestImage: path.relative(root, REQUEST_IMAGE),
    requestJpegBytes: 0,
  };
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'loupe-bench-serve-'));
  const servers: RunningServer[] = [];
  const run = async <T>(server: RunningServer, f: (s: RunningServer) => Promise<T>): Promise<T> => {
    servers.push(server);
    try {
      return await f(server);
    } finally {
      await server.stop();
      servers.splice(servers.indexOf(server), 1);
    }
  };
  try {
    const w = await prepareWorkspace(path.join(tmp, 'ws'), {
      epochs: cfg.epochs,
      seed: o.seed,
      ...(cfg.perClass ? { perClass: cfg.perClass } : {}),
    });
    const jpeg = await requestJpeg();
    cfg.requestJpegBytes = jpeg.length;
    const payload = multipartBody(jpeg);

    const batches = new Map<number, Side>();
    const { answer: loupeAnswer, runs: loupeRuns } = await run(
      await startLoupe(w, LOUPE_SETTINGS),
      async (s) => ({
        answer: await predictOnce(s, payload),
        runs: await measure(s, payload, cfg, (c, before, after) => {
          const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
          const per = (stage: string) =>
            (1000 * d(`loupe_inference_duration_seconds_${stage}_sum`)) /
            Math.max(1, d(`loupe_inference_duration_seconds_${stage}_count`));
          batches.set(c, {
            mean_batch: d('loupe_batch_size_sum') / Math.max(1, d('loupe_batch_size_count')),
            decode_ms_per_batch: per('decode'),
            infer_ms_per_batch: per('infer'),
          });
        }),
      }),
    );

    const fastapi = new Map<FastApiSetup, { answer: Prediction[]; runs: Map<number, LoadResult> }>();
    for (const setup of setups) {
      const threads = Math.max(1, cores / setup.workers);
      fastapi.set(
        setup,
        await run(await startFastApi(w, { threads, ...setup }), async (s) => {
          const info = JSON.parse(s.stdout().trim().split('\n')[0] ?? '{}') as Record<string, unknown>;
          addPythonVersions(o.machine, info);
          cfg.fastapi.uvicorn = typeof info.uvicorn_version === 'string' ? info.uvicorn_version : null;
          if (info.threads !== threads)
            throw new LoupeError(
              'NATIVE_ERROR',
              `the baseline runs ${String(info.threads)} torch threads, not ${threads}`,
            );
          return { answer: await predictOnce(s, payload), runs: await measure(s, payload, cfg) };
        }),
      );
    }

    // The same weights, preprocessing and temperature must give the same answer.
    let probDiff = 0;
    for (const { answer } of fastapi.values()) {
      probDiff = Math.max(
        probDiff,
        ...loupeAnswer.map((p) =>
          Math.abs(p.probability - (answer.find((q) => q.label === p.label)?.probability ?? 0)),
        ),
      );
      if (loupeAnswer[0]!.label !== answer[0]!.label || probDiff > 0.01)
        throw new LoupeError(
          'NATIVE_ERROR',
          `the two servers disagree on the request image: loupe ${JSON.stringify(loupeAnswer.slice(0, 2))}, fastapi ${JSON.stringify(answer.slice(0, 2))}`,
        );
    }

    const sides: Record<string, Side> = {};
    for (const c of CONCURRENCY) sides[`loupe serve, c=${c}`] = { ...loupeRuns.get(c)!, ...batches.get(c) };
    for (const [setup, r] of fastapi)
      for (const c of CONCURRENCY)
        sides[`fastapi + pytorch (${setupLabel(setup)}), c=${c}`] = { ...r.runs.get(c)! };
    // Ratios are Loupe ÷ the faster one-worker FastAPI at that concurrency; the _vs_ ones name a setup.
    const ratios: Record<string, number> = {};
    for (const c of [32, 1]) {
      const l = loupeRuns.get(c)!;
      const [bestSetup, best] = [...fastapi]
        .filter(([f]) => f.workers === 1)
        .reduce((a, b) => (b[1].runs.get(c)!.rps > a[1].runs.get(c)!.rps ? b : a));
      const f = best.runs.get(c)!;
      cfg.fastapi.baseline[`c${c}`] = setupLabel(bestSetup);
      ratios[`rps_ratio_c${c}`] = l.rps / f.rps;
      ratios[`p99_ratio_c${c}`] = l.p99_ms / f.p99_ms;
      ratios[`p50_ratio_c${c}`] = l.p50_ms / f.p50_ms;
      ratios[`cpu_per_request_ratio_c${c}`] = l.cpu_ms_per_req / f.cpu_ms_per_req;
      if (fastapi.size > 1)
        for (const [setup, r] of fastapi) {
          ratios[`rps_ratio_c${c}_vs_${setupKey(setup)}`] = l.rps / r.runs.get(c)!.rps;
          ratios[`p99_ratio_c${c}_vs_${setupKey(setup)}`] = l.p99_ms / r.runs.get(c)!.p99_ms;
        }
    }
    const rssMax = (runs: LoadResult[]) => Math.max(...runs.map((r) => r.rss_max_mib));
    ratios.peak_rss_ratio =
      rssMax([...loupeRuns.values()]) / rssMax([...fastapi.values()].flatMap((r) => [...r.runs.values()]));

    const load = os.loadavg();
    return {
      name: 'serve',
      title: `Serving one model over HTTP: loupe serve vs FastAPI + uvicorn + PyTorch, one ${jpeg.length}-byte JPEG per request, ${cfg.durationS} s per concurrency`,
      ...runFacts(o, started),
      config: {
        ...cfg,
        trainImages: w.trainImages,
        modelTestAccuracy: w.testAccuracy,
        temperature: w.temperature,
        top1: loupeAnswer[0],
        maxProbabilityDiff: probDiff,
        loadAverageAtEnd: load,
        ...(staleNote ? { warning: staleNote } : {}),
      },
      columns: [
        { key: 'rps', label: 'req/s', digits: 0 },
        { key: 'p50_ms', label: 'p50 ms', digits: 2 },
        { key: 'p99_ms', label: 'p99 ms', digits: 2 },
        { key: 'cpu_ms_per_req', label: 'server CPU ms/req', digits: 2 },
        { key: 'cpu_cores', label: 'server cores', digits: 2 },
        { key: 'loadgen_cores', label: 'load generator cores', digits: 2 },
        { key: 'rss_max_mib', label: 'peak RSS MiB', digits: 0 },
        { key: 'mean_batch', label: 'mean batch', digits: 1 },
      ],
      sides,
      ratios,
      notes: [
        `Each server runs alone on 127.0.0.1 as a child process, loaded by autocannon (in the benchmark's own process, on the same ${cores} cores) with multipart POSTs of the same JPEG: ${cfg.warmupS} s warm-up, then ${cfg.durationS} s per concurrency; every response must be 2xx.`,
        `loupe serve: node bin/loupe.js serve --log-level warn --threads ${LOUPE_SETTINGS.threads}, serve.batching maxBatch ${LOUPE_SETTINGS.maxBatch}, maxWaitMs ${LOUPE_SETTINGS.maxWaitMs}; everything else the workspace defaults (prediction log, metrics). Route /v1/models/${w.model}/predict.`,
        `FastAPI: one uvicorn worker (the default) with torch.set_num_threads(${cores})${setups.some((f) => f.workers > 1) ? `, and ${cores} workers (uvicorn's process manager) with one torch thread each` : ''}; uvicorn ${cfg.fastapi.uvicorn ?? '?'} with h11 and asyncio (uvicorn[standard]'s uvloop and httptools are not installed); the async def handler does the work on the event loop, the def handler in FastAPI's threadpool (its advice for blocking work). Same weights (the run's model.safetensors), preprocessing and temperature: both servers answer the same top-5 (largest probability difference ${probDiff.toExponential(1)}).`,
        `Ratios without a setup in their name are Loupe ÷ the faster one-worker FastAPI at that concurrency: ${Object.entries(
          cfg.fastapi.baseline,
        )
          .map(([c, h]) => `${h} at ${c}`)
          .join(', ')}.`,
        "Server CPU ms/req is the server's user + system time over the measured run ÷ requests answered (all threads, and all processes with several uvicorn workers). Peak RSS is the largest VmRSS (summed over the processes) sampled every 200 ms during the measured runs (Loupe's inference worker is a thread of the same process).",
        `1-minute load average at the end: ${load[0]!.toFixed(2)} on ${cores} cores.`,
      ],
    };
  } finally {
    for (const s of [...servers]) await s.stop();
    await rm(tmp, { recursive: true, force: true });
  }
}
