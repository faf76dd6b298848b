import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loupeBin, runLoupe } from './helpers/run-cli.js';

const run = (args: string[], cwd: string) => runLoupe(cwd, args);
const bin = loupeBin;

let dir: string;
before(async () => (dir = await mkdtemp(path.join(tmpdir(), 'loupe-cli-'))));
after(() => rm(dir, { recursive: true, force: true }));

describe('the loupe command (built by make setup)', () => {
  it('lists its verbs', async () => {
    const r = await run(['--help'], dir);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /demo/);
    assert.match(r.stdout, /engine/);
  });

  it('reports its engines', async () => {
    const r = await run(['engine', '--json'], dir);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout) as { torch: string; threads: number; onnxruntime: string };
    assert.match(info.torch, /^1\.|^2\./);
    assert.equal(info.threads, 1);
  });

  it('runs the demo: per-epoch lines, a real test accuracy, ONNX Runtime agreeing with libtorch, the monitoring loop, then serves until Ctrl-C', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(
      process.execPath,
      [bin, 'demo', '--epochs', '2', '--port', '0', '--workspace-dir', path.join(dir, 'demo-ws')],
      { cwd: dir, env: { ...process.env, LOUPE_THREADS: '1', LOUPE_PROFILE: '' } },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const url = await Promise.race([
      new Promise<string>((resolve) =>
        child.stdout.on('data', (d) => {
          stdout += String(d);
          // The curl line comes after the serve line; wait for both.
          const m = /curl -F file=@\S+ (http:\/\/[\d.:]+)\/predict/.exec(stdout);
          if (m) resolve(m[1]!);
        }),
      ),
      exited.then((code) => assert.fail(`the demo exited (${code}) before serving: ${stderr}`)),
    ]);
    assert.match(stdout, /dataset +fashion-sample @ [0-9a-f]{12} .*3600 images ingested and validated/);
    assert.match(stdout, /run \w+: scratch, 10 classes, 2700 train \/ 300 val \/ 600 test/);
    assert.match(stdout, /epoch +1\/2 +loss .*val acc/);
    assert.match(stdout, /epoch +2\/2 /);
    const acc = Number(/test +accuracy +([\d.]+)%/.exec(stdout)?.[1]);
    assert.ok(acc > 65, `test accuracy ${acc}% after two epochs`);
    const onnx = Number(/onnx +accuracy +([\d.]+)%/.exec(stdout)?.[1]);
    assert.ok(Math.abs(onnx - acc) <= 0.5, `ONNX Runtime ${onnx}% vs libtorch ${acc}%`);
    assert.match(stdout, /gate +passed/);
    assert.match(stdout, /promote +fashion-sample:champion → fashion-sample@1/);
    // The loop: traffic, part of it shifted, drift seen, corrections through the API, a gated retrain.
    const shifted = Number(/traffic +(\d+) more from a camera that inverts them/.exec(stdout)?.[1]);
    assert.ok(shifted > 0, stdout);
    assert.match(stdout, /drift +drift: /);
    assert.match(stdout, new RegExp(`feedback +${shifted} verdicts through POST /v1/feedback`));
    assert.match(stdout, new RegExp(`dataset +new version [0-9a-f]{12}: 3\\d{3} items \\(${shifted} added`));
    const result = /result +(promoted|kept): /.exec(stdout)?.[1];
    assert.ok(result, `the retrain ended with a verdict:\n${stdout}`);
    const champion = result === 'promoted' ? 'fashion-sample@2' : 'fashion-sample@1';
    if (result === 'promoted') assert.match(stdout, /serve +fashion-sample@2 answers now: inverted images/);

    // The printed admin login signs in to the web app.
    const login = /web app +(http:\S+) — sign in as (\S+) with the password (\S+)/.exec(stdout);
    assert.ok(login, stdout);
    const session = await fetch(`${login[1]}/api/session`);
    const { csrf } = (await session.json()) as { csrf: string };
    const cookie = session.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const signedIn = await fetch(`${login[1]}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf, cookie },
      body: JSON.stringify({ email: login[2], password: login[3] }),
    });
    assert.equal(signedIn.status, 200, await signedIn.text());

    // The printed curl line works: the sample sneaker, posted to /predict, comes back classified.
    const sample = /curl -F file=@(\S+) /.exec(stdout)![1]!;
    const { readFile } = await import('node:fs/promises');
    const form = new FormData();
    form.append('file', new Blob([await readFile(path.resolve(dir, sample))]), 'sneaker.png');
    const answer = (await (await fetch(`${url}/predict`, { method: 'POST', body: form })).json()) as {
      label: string;
      model: string;
    };
    assert.equal(answer.model, champion);
    assert.ok(answer.label, JSON.stringify(answer));
    child.kill('SIGINT');
    assert.equal(await exited, 0, stderr);
  });

  it('explains a missing data folder and exits non-zero', async () => {
    const r = await run(['demo', '--no-serve', '--data', path.join(dir, 'nope')], dir);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot read the image folder .*nope/);
  });

  it('rejects an unknown verb with help', async () => {
    const r = await run(['frobnicate'], dir);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unknown command/);
  });
});

describe('interrupting the demo', () => {
  it('stops on Ctrl-C after the batch in flight, says so, exits 130 and leaves a resumable run, not a model', async () => {
    const { spawn } = await import('node:child_process');
    const { existsSync } = await import('node:fs');
    const out = path.join(dir, 'interrupted');
    const child = spawn(process.execPath, [bin, 'demo', '--epochs', '200', '--workspace-dir', out], {
      cwd: dir,
      env: { ...process.env, LOUPE_THREADS: '1' },
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (d) => {
        stdout += String(d);
        if (/epoch +1\//.test(stdout)) resolve();
      }),
    );
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 130, stderr);
    assert.match(stderr, /stopped by Ctrl-C/);
    assert.doesNotMatch(stdout, /epoch +200\//);
    const run = /run (\w+): scratch/.exec(stdout)![1]!;
    assert.equal(existsSync(path.join(out, '.loupe', 'runs', run, 'model.onnx')), false);
    assert.ok(existsSync(path.join(out, '.loupe', 'runs', run, 'checkpoints', 'latest')), 'a resumable run');
  });
});
