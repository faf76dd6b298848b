import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { LoupeError } from '../src/errors/loupe-error.js';
import { writeRunMetadata } from '../src/track/metadata.js';
import { startRun, type RunInit } from '../src/track/run-store.js';
import { initWorkspace, openWorkspace } from '../src/workspace/workspace.js';
import { runLoupe } from './helpers/run-cli.js';

// Runs the built CLI (dist/): build with `npx tsc -p tsconfig.json` first.

const base: RunInit = {
  mode: 'probe',
  backbone: 'mobilenet_v2',
  config: { optimizer: { name: 'adamw', lr: 0.001 }, epochs: 3, batchSize: 32 },
  datasetVersion: 'cd44642b8b3a'.padEnd(64, '0'),
  seed: 42,
};

let dir: string;
let a: string;
let b: string;
let failed: string;
const run = (...args: string[]) => runLoupe(dir, ['runs', ...args]);

before(async () => {
  dir = path.join(await mkdtemp(path.join(tmpdir(), 'loupe-runs-cli-')), 'ws');
  await initWorkspace(dir);
  const ws = await openWorkspace({ workspace: dir });
  try {
    const curves = [
      { name: 'baseline', lr: 0.001, f1: [0.6, 0.7, 0.75], loss: [1.4, 0.9, 0.7] },
      { name: 'higher lr', lr: 0.01, f1: [0.65, 0.78, 0.8], loss: [1.2, 0.7, 0.5] },
    ];
    const ids: string[] = [];
    for (const c of curves) {
      const r = await startRun(ws, {
        ...base,
        name: c.name,
        config: { ...base.config, optimizer: { name: 'adamw', lr: c.lr } },
      });
      for (const [i, f1] of c.f1.entries())
        await r.logMetrics(i + 1, {
          'val.macro_f1': f1,
          'val.accuracy': f1 + 0.05,
          'train.loss': c.loss[i]!,
        });
      await r.finish(
        { 'val.macro_f1': c.f1.at(-1)!, 'val.accuracy': c.f1.at(-1)! + 0.05 },
        { imagesPerSecond: 900 },
      );
      await writeRunMetadata(r, { classes: ['cat', 'dog'] });
      ids.push(r.id);
    }
    [a, b] = ids as [string, string];
    const f = await startRun(ws, { ...base, name: 'broken', mode: 'scratch', backbone: undefined });
    await f.fail(new LoupeError('NAN_LOSS', 'the loss became NaN'));
    failed = f.id;
  } finally {
    await ws.close();
  }
});
after(() => rm(path.dirname(dir), { recursive: true, force: true }));

describe('loupe runs', () => {
  it('ls lists runs newest first with their status, data version and final metrics', async () => {
    const r = await run('ls');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^id +name +kind +mode +status +dataset +val F1 +val acc +duration +started$/);
    assert.deepEqual(
      lines.slice(2).map((l) => l.split(/\s{2,}/)[0]),
      [failed, b, a],
    );
    assert.match(
      r.stdout,
      new RegExp(`${b} +higher lr +train +probe +finished +cd44642b8b3a +0\\.8 +0\\.85 `),
    );
    assert.match(r.stdout, new RegExp(`${failed} +broken +train +scratch +failed +cd44642b8b3a +- +- `));

    const only = await run('ls', '--status', 'failed', '--json');
    assert.deepEqual(
      (JSON.parse(only.stdout) as { id: string }[]).map((x) => x.id),
      [failed],
    );
    const limited = await run('ls', '--limit', '1');
    assert.match(limited.stdout, /the newest 1; --limit N for more/);
    const bad = await run('ls', '--status', 'sleeping');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--status must be one of running, finished/);
  });

  it('show prints provenance, config, metrics per epoch and artifacts', async () => {
    const r = await run('show', a);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^run +${a} +baseline +\\(train, probe\\)`));
    assert.match(r.stdout, /status +finished after [\d.]+s, 900 img\/s, peak RSS [\d,]+ MiB/);
    assert.match(r.stdout, /dataset +cd44642b8b3a0+\n/);
    assert.match(r.stdout, /versions +node \d+\.\d+\.\d+, loupe 0\.1\.0, libtorch /);
    assert.match(r.stdout, /optimizer\.lr +0\.001/);
    assert.match(r.stdout, /metrics per epoch\nstep +train\.loss +val\.accuracy +val\.macro_f1\n/);
    assert.match(r.stdout, /\n +3 +0\.7 +0\.8 +0\.75\n/);
    assert.match(
      r.stdout,
      new RegExp(`metadata\\.json +metadata +[\\d.]+ KiB +[0-9a-f]{12} +\\.loupe/runs/${a}/metadata\\.json`),
    );

    const f = await run('show', failed);
    assert.match(f.stdout, /error +NAN_LOSS: the loss became NaN/);

    const json = JSON.parse((await run('show', a, '--json')).stdout) as {
      config: unknown;
      metrics: unknown[];
      artifacts: unknown[];
    };
    assert.deepEqual(json.config, { ...base.config, optimizer: { name: 'adamw', lr: 0.001 } });
    assert.equal(json.metrics.length, 9);
    assert.equal(json.artifacts.length, 1);
  });

  it('show explains an ambiguous or unknown run', async () => {
    const ambiguous = await run('show', a.slice(0, 4));
    assert.equal(ambiguous.code, 2);
    assert.match(ambiguous.stderr, /ambiguous/);
    const unknown = await run('show', 'zzzzzzzz');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no run "zzzzzzzz"; `loupe runs ls` lists them \[NOT_FOUND\]/);
  });

  it('compare shows the settings that differ, final metrics with the difference, and a PNG of curves', async () => {
    const r = await run('compare', a, b);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`settings that differ\\nsetting +${a} +${b}\\n`));
    assert.match(r.stdout, /config\.optimizer\.lr +0\.001 +0\.01\n/);
    assert.doesNotMatch(r.stdout, /config\.epochs/);
    assert.match(r.stdout, /val\.macro_f1 +0\.75 +0\.8 +\+0\.05\n/);
    const file = path.join(dir, '.loupe', 'reports', `compare-${a}-${b}.png`);
    assert.match(r.stdout, new RegExp(`curves: ${path.relative(dir, file).replaceAll('.', '\\.')}`));
    assert.ok(existsSync(file));
    const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    assert.ok(
      info.width > 1500 && info.width < 4000 && info.height > 400 && info.height < 2000,
      `${info.width}×${info.height}`,
    );
    let inked = 0;
    for (let i = 0; i < data.length; i += 3) if (data[i]! + data[i + 1]! + data[i + 2]! < 600) inked++;
    assert.ok(inked > 20_000, `${inked} non-background pixels`);

    const custom = path.join(dir, 'plots', 'mine.png');
    const c = await run('compare', a, failed, '--plot', custom);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /mode +probe +scratch\n/);
    assert.match(c.stdout, /backbone +mobilenet_v2 +null\n/);
    assert.equal((await sharp(custom).metadata()).format, 'png');
  });
});
