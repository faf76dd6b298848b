import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './serve-fixture.js';

/** Debian's `prometheus` package: the real server and its checker. */
export const PROMTOOL = '/usr/bin/promtool';
export const PROMETHEUS = '/usr/bin/prometheus';

/** Runs promtool with `args` (and `stdin`); never throws on its exit code. */
export function promtool(args: string[], stdin?: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
    child.stdin.end(stdin ?? '');
  });
}

export interface InstantSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface RunningPrometheus {
  url: string;
  /** The folder holding its configuration and data. */
  dir: string;
  /** An instant query; [] while the answer is not a success (Prometheus still starting). */
  query(expr: string): Promise<InstantSample[]>;
  /** GET /api/v1/<path>'s data, or undefined while it does not answer. */
  api<T>(apiPath: string): Promise<T | undefined>;
  /** The end of its log, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/**
 * A real Prometheus on a free port of 127.0.0.1, with its own temporary folder: `config` is
 * prometheus.yml's text, written as `files` are (rule files, by name) into that folder first.
 */
export async function startPrometheus(
  config: string,
  files: Record<string, string> = {},
): Promise<RunningPrometheus> {
  const dir = await mkdtemp(path.join(tmpdir(), 'loupe-prom-'));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  await writeFile(path.join(dir, 'prometheus.yml'), config);
  const port = await freePort();
  const child = spawn(
    PROMETHEUS,
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  const api = async <T>(apiPath: string): Promise<T | undefined> => {
    const r = await fetch(`${url}/api/v1/${apiPath}`).catch(() => undefined);
    if (!r?.ok) {
      await r?.body?.cancel();
      return undefined;
    }
    return ((await r.json()) as { data: T }).data;
  };
  return {
    url,
    dir,
    api,
    query: async (expr) =>
      (await api<{ result: InstantSample[] }>(`query?query=${encodeURIComponent(expr)}`))?.result ?? [],
    log: () => log,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
