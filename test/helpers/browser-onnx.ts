import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';

/**
 * Runs ONNX models in onnxruntime-web inside a real headless Chromium, to prove that what Loupe
 * exports loads and computes in a browser and not just in onnxruntime-node.
 */

export const CHROMIUM = process.env.LOUPE_CHROMIUM ?? '/usr/bin/chromium';
export const DEFAULT_TIMEOUT_MS = 60_000;

export interface BrowserTensor {
  data: Float32Array;
  dims: number[];
}

/** What onnxruntime-web reports about one input or output (it does not expose metadata_props). */
export interface BrowserValueMetadata {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: (number | string)[];
}

export interface BrowserOnnxResult {
  /** Keyed by output name, in the order onnxruntime-web returned them. */
  outputs: Record<string, BrowserTensor>;
  metadata: { inputs: BrowserValueMetadata[]; outputs: BrowserValueMetadata[] };
  /** Console errors, page errors and unserved requests; empty unless allowConsoleErrors is set. */
  consoleErrors: string[];
  /** Console warnings, kept apart because onnxruntime-web warns about harmless things. */
  consoleWarnings: string[];
  timings: { loadMs: number; createMs: number; runMs: number };
}

export interface BrowserOnnxRunOptions {
  /** Outputs to fetch; defaults to all of the model's outputs. */
  outputNames?: string[];
  timeoutMs?: number;
  /** Return console errors instead of failing on them. */
  allowConsoleErrors?: boolean;
}

/** Runs on one BrowserOnnx should not overlap: they share the server's record of missed requests. */
export interface BrowserOnnx {
  run(
    modelBytes: Uint8Array,
    feeds: Record<string, BrowserTensor>,
    options?: BrowserOnnxRunOptions,
  ): Promise<BrowserOnnxResult>;
  close(): Promise<void>;
  readonly browserVersion: string;
  readonly ortVersion: string;
}

export type BrowserOnnxPhase = 'loading the page' | 'creating the session' | 'running the model';

export class BrowserOnnxError extends Error {
  constructor(
    message: string,
    readonly phase: BrowserOnnxPhase,
    readonly consoleErrors: string[],
    options?: ErrorOptions,
  ) {
    super(
      consoleErrors.length ? `${message}\nbrowser console errors:\n  ${consoleErrors.join('\n  ')}` : message,
      options,
    );
    this.name = 'BrowserOnnxError';
  }
}

const require = createRequire(import.meta.url);
// The package's exports map hides dist/ but names the wasm file, so resolve through that.
const ORT_DIST = path.dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
const ORT_VERSION = (
  JSON.parse(readFileSync(path.join(ORT_DIST, '../package.json'), 'utf8')) as { version: string }
).version;

const CONTENT_TYPES: Record<string, string> = {
  '.mjs': 'text/javascript',
  '.js': 'text/javascript',
  // instantiateStreaming refuses anything else, and the fallback path logs a console warning.
  '.wasm': 'application/wasm',
  '.map': 'application/json',
};

/*
 * The wasm-only ESM build (not the bundle) so that the .wasm and its .mjs glue are fetched from
 * wasmPaths, which exercises the layout a web app would deploy. One thread: the threaded build
 * wants SharedArrayBuffer, which a page only gets when cross-origin isolated (COOP/COEP).
 */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>loupe onnxruntime-web check</title>
<script>
  let ort;
  let session;
  const meta = (m) => ({ name: m.name, isTensor: m.isTensor, type: m.type, shape: m.shape && [...m.shape] });
  window.loupe = {
    async open(modelUrl) {
      ort = await import('/ort/ort.wasm.min.mjs');
      ort.env.wasm.numThreads = 1;
      ort.env.wasm.proxy = false;
      ort.env.wasm.wasmPaths = location.origin + '/ort/';
      session = await ort.InferenceSession.create(modelUrl, {
        executionProviders: ['wasm'],
        graphOptimizationLevel: 'all',
      });
      return {
        inputs: session.inputMetadata.map(meta),
        outputs: session.outputMetadata.map(meta),
        version: ort.env.versions.web,
      };
    },
    async run(feeds, outputNames) {
      const tensors = {};
      for (const [name, t] of Object.entries(feeds)) {
        tensors[name] = new ort.Tensor('float32', Float32Array.from(t.data), t.dims);
      }
      const results = await session.run(tensors, outputNames ?? session.outputNames);
      const out = {};
      for (const [name, t] of Object.entries(results)) {
        out[name] = { type: t.type, dims: [...t.dims], data: Array.from(t.data, Number) };
      }
      await session.release();
      return out;
    },
  };
</script>
`;

/** The page's API as seen from Node; typed here because the project compiles without DOM types. */
interface PageApi {
  loupe: {
    open(modelUrl: string): Promise<{
      inputs: BrowserValueMetadata[];
      outputs: BrowserValueMetadata[];
      version: string;
    }>;
    run(
      feeds: Record<string, { data: number[]; dims: number[] }>,
      outputNames: string[] | undefined,
    ): Promise<Record<string, { type: string; dims: number[]; data: number[] }>>;
  };
}

interface Served {
  server: Server;
  origin: string;
  models: Map<string, Uint8Array>;
  /** Requests the server could not answer, for the run that is active. */
  misses: string[];
}

async function serve(): Promise<Served> {
  const files = new Map<string, Buffer>();
  const models = new Map<string, Uint8Array>();
  const misses: string[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const p = url.pathname;
      if (req.method !== 'GET') {
        res.writeHead(405).end();
      } else if (p === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      } else if (p.startsWith('/models/') && models.has(p)) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(models.get(p));
      } else if (/^\/ort\/[\w.-]+$/.test(p) && CONTENT_TYPES[path.extname(p)]) {
        const name = p.slice('/ort/'.length);
        let body = files.get(name);
        if (!body) {
          body = await readFile(path.join(ORT_DIST, name)).catch(() => undefined);
          if (body) files.set(name, body);
        }
        if (body) {
          res
            .writeHead(200, {
              'content-type': CONTENT_TYPES[path.extname(p)]!,
              // Lets later runs in the same browser skip refetching and recompiling 14 MB of wasm.
              'cache-control': 'max-age=3600',
            })
            .end(body);
        } else {
          misses.push(`server: no such file ${p}`);
          res.writeHead(404).end();
        }
      } else {
        misses.push(`server: nothing at ${p}`);
        res.writeHead(404).end();
      }
    })().catch((e: unknown) => {
      misses.push(`server: ${String(e)}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return { server, origin: `http://127.0.0.1:${port}`, models, misses };
}

function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Closes without waiting forever: a renderer stuck in wasm may not answer. */
async function closeQuietly(what: { close(): Promise<void> }, ms = 5_000): Promise<void> {
  await withTimeout(what.close(), ms, () => new Error('close timed out')).catch(() => undefined);
}

/**
 * Starts Chromium and a local HTTP server once, for several runs. Each run gets its own page
 * (and so its own onnxruntime-web instance); the browser cache is shared so the wasm is compiled once.
 */
export async function openBrowserOnnx(options: { timeoutMs?: number } = {}): Promise<BrowserOnnx> {
  const launchTimeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const served = await serve();
  let browser: Browser;
  let context: BrowserContext;
  try {
    // No --no-sandbox here although Chromium needs it as root: playwright-core adds it unless
    // chromiumSandbox is set.
    browser = await chromium.launch({ executablePath: CHROMIUM, timeout: launchTimeout });
    context = await browser.newContext();
  } catch (e) {
    served.server.close();
    throw new Error(`cannot start Chromium at ${CHROMIUM}: ${(e as Error).message}`, { cause: e });
  }
  let nextModel = 0;
  let closed = false;

  async function run(
    modelBytes: Uint8Array,
    feeds: Record<string, BrowserTensor>,
    runOptions: BrowserOnnxRunOptions = {},
  ): Promise<BrowserOnnxResult> {
    if (closed) throw new Error('this browser has been closed');
    const timeoutMs = runOptions.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const modelPath = `/models/${nextModel++}.onnx`;
    served.models.set(modelPath, modelBytes);
    served.misses.length = 0;
    const errors: string[] = [];
    const warnings: string[] = [];
    let phase: BrowserOnnxPhase = 'loading the page';
    let page: Page | undefined;
    const started = performance.now();
    const timings = { loadMs: 0, createMs: 0, runMs: 0 };
    const allErrors = () => [...errors, ...served.misses];

    const work = async (): Promise<BrowserOnnxResult> => {
      page = await context.newPage();
      page.on('console', (m: ConsoleMessage) => {
        const where = m.location().url ? ` (${m.location().url}:${m.location().lineNumber})` : '';
        if (m.type() === 'error') errors.push(`console.error: ${m.text()}${where}`);
        else if (m.type() === 'warning') warnings.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
      page.on('crash', () => errors.push('page crashed'));
      page.on('requestfailed', (r) =>
        errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`),
      );
      await page.goto(`${served.origin}/`, { timeout: timeoutMs });
      timings.loadMs = performance.now() - started;

      phase = 'creating the session';
      let t = performance.now();
      const meta = await page.evaluate(
        (url) => (globalThis as unknown as PageApi).loupe.open(url),
        modelPath,
      );
      timings.createMs = performance.now() - t;

      phase = 'running the model';
      t = performance.now();
      const plainFeeds = Object.fromEntries(
        Object.entries(feeds).map(([name, f]) => [name, { data: Array.from(f.data), dims: f.dims }]),
      );
      const raw = await page.evaluate(
        ([f, names]) => (globalThis as unknown as PageApi).loupe.run(f, names),
        [plainFeeds, runOptions.outputNames] as const,
      );
      timings.runMs = performance.now() - t;

      const outputs: Record<string, BrowserTensor> = {};
      for (const [name, o] of Object.entries(raw)) {
        if (o.type !== 'float32') throw new Error(`output "${name}" is ${o.type}, not float32`);
        outputs[name] = { data: Float32Array.from(o.data), dims: o.dims };
      }
      return {
        outputs,
        metadata: { inputs: meta.inputs, outputs: meta.outputs },
        consoleErrors: allErrors(),
        consoleWarnings: warnings,
        timings,
      };
    };

    const pending = work();
    try {
      const result = await withTimeout(
        pending,
        timeoutMs,
        () =>
          new BrowserOnnxError(
            `onnxruntime-web in Chromium timed out after ${timeoutMs / 1000} s while ${phase}`,
            phase,
            allErrors(),
          ),
      );
      if (result.consoleErrors.length && !runOptions.allowConsoleErrors) {
        throw new BrowserOnnxError(
          'onnxruntime-web ran, but the page logged errors',
          phase,
          result.consoleErrors,
        );
      }
      return result;
    } catch (e) {
      if (e instanceof BrowserOnnxError) throw e;
      // Playwright reports in-page rejections as "page.evaluate: Error: <message>\n    at <minified
      // frames>"; the message is what says what went wrong, and the cause keeps the rest.
      const message = (e as Error).message
        .replace(/^page\.evaluate: (Error: )?/, '')
        .replace(/\n\s+at [\s\S]*$/, '');
      throw new BrowserOnnxError(`onnxruntime-web failed while ${phase}: ${message}`, phase, allErrors(), {
        cause: e,
      });
    } finally {
      served.models.delete(modelPath);
      // After a timeout the work goes on and may open its page later; close that one too.
      void pending.catch(() => undefined).then(() => page && closeQuietly(page));
      if (page) await closeQuietly(page);
    }
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    await closeQuietly(context);
    await closeQuietly(browser);
    served.server.closeAllConnections();
    await new Promise<void>((resolve) => served.server.close(() => resolve()));
  }

  return { run, close, browserVersion: browser.version(), ortVersion: ORT_VERSION };
}

/** One model, one batch, one browser: starts and stops everything around a single run. */
export async function runOnnxInBrowser(
  modelBytes: Uint8Array,
  feeds: Record<string, BrowserTensor>,
  options: BrowserOnnxRunOptions = {},
): Promise<BrowserOnnxResult> {
  const browser = await openBrowserOnnx({ timeoutMs: options.timeoutMs });
  try {
    return await browser.run(modelBytes, feeds, options);
  } finally {
    await browser.close();
  }
}
