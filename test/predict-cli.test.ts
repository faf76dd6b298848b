import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAudacityLabels } from '../src/data/sources/audio/audacity-labels.js';
import { preprocessImages } from '../src/features/image/preprocess.js';
import { Classifier } from '../src/inference/classifier.js';
import { mergeWindows } from '../src/inference/merge-windows.js';
import type { Prelabels } from '../src/inference/prelabels.js';
import { readModelFile } from '../src/registry/model-files.js';
import type { ModelVersion } from '../src/registry/registry-store.js';
import { initWorkspace, openWorkspace, type Workspace } from '../src/workspace/workspace.js';
import { REC04_BURSTS, trainAudioModel } from './helpers/audio-model-fixture.js';
import { trainAndRegister } from './helpers/registry-fixture.js';
import { loupeBin, repoRoot, runLoupe } from './helpers/run-cli.js';
import { trainingWorkspace } from './helpers/training-workspace.js';

// Runs the built CLI (dist/): build with `npx tsc -p tsconfig.json` first.

const readJson = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as Prelabels;
const CLASSES = ['Ankle_boot', 'Bag', 'Coat', 'Dress'];

describe('loupe predict on images', () => {
  let ws: Workspace;
  let dir: string;
  let version: ModelVersion;
  let inbox: string;
  let images: string[];
  before(async () => {
    ({ ws, dir } = await trainingWorkspace({ classes: 4, perClass: 30 }));
    [version] = (await trainAndRegister(ws, [{ epochs: 3 }], 'fm')).versions as [ModelVersion];
    // A new batch as it arrives: images in nested folders, and things that are not images.
    inbox = path.join(dir, 'inbox');
    images = [];
    for (const [i, c] of CLASSES.entries()) {
      const source = path.join(repoRoot, 'samples/fashion-mnist/test', c);
      for (const f of (await readdir(source)).sort().slice(0, 3)) {
        const to = path.join(inbox, i % 2 ? 'day-2' : '', `${c}-${f}`);
        await cp(path.join(source, f), to);
        images.push(to);
      }
    }
    images.sort();
    const png = await readFile(images[0]!);
    await writeFile(path.join(inbox, 'corrupt.png'), png.subarray(0, 60));
    await writeFile(path.join(inbox, 'notes.txt'), 'taken on the 3rd, camera 2\n');
    await writeFile(path.join(inbox, '.DS_Store'), Buffer.alloc(64));
    await writeFile(
      path.join(inbox, 'day-2', 'login.jpg'),
      '<!doctype html><html><body>Sign in</body></html>',
    );
    await copyFile(path.join(repoRoot, 'samples/audio/rec-04.wav'), path.join(inbox, 'rec-04.wav'));
  });
  after(async () => {
    await ws.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes top-k JSON whose probabilities are the classifier’s own, skipping what is not an image', async () => {
    const out = path.join(dir, 'prelabels.json');
    const r = await runLoupe(dir, ['predict', 'fm', inbox, '--out', out, '--top-k', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /12 predictions for 12 file\(s\) by fm@1 → .*prelabels\.json/);
    assert.match(r.stdout, /5 skipped:/);
    const doc = await readJson(out);
    assert.equal(doc.model, 'fm@1');
    assert.ok(Math.abs(Date.parse(doc.createdAt) - Date.now()) < 600_000);
    assert.deepEqual(doc.items.map((i) => i.path).sort(), images);
    const reasons = new Map(doc.skipped.map((s) => [path.basename(s.path), s.reason]));
    assert.deepEqual([...reasons.keys()].sort(), [
      '.DS_Store',
      'corrupt.png',
      'login.jpg',
      'notes.txt',
      'rec-04.wav',
    ]);
    assert.match(reasons.get('corrupt.png')!, /^cannot decode corrupt\.png: /);
    assert.equal(reasons.get('.DS_Store'), 'hidden (the name starts with ".")');
    assert.equal(reasons.get('notes.txt'), 'text, not an image');
    assert.equal(reasons.get('login.jpg'), 'named .jpg but holds an HTML page, not an image');
    assert.equal(reasons.get('rec-04.wav'), 'audio, but this model classifies images');

    const classifier = await Classifier.open(await readModelFile(ws.blobs, version));
    try {
      const { inputs } = classifier;
      assert.ok(inputs.kind === 'image');
      const paths = doc.items.map((i) => i.path);
      const x = await preprocessImages(paths, inputs.preprocessing);
      const { probs } = await classifier.run(x.x, paths.length);
      const k = classifier.classes.length;
      doc.items.forEach((item, n) => {
        const row = Array.from(probs.subarray(n * k, (n + 1) * k));
        const expected = classifier.classes
          .map((label, c) => ({ label, probability: row[c]! }))
          .sort((a, b) => b.probability - a.probability)
          .slice(0, 2);
        assert.deepEqual(
          item.top.map((t) => t.label),
          expected.map((e) => e.label),
        );
        item.top.forEach((t, j) => assert.ok(Math.abs(t.probability - expected[j]!.probability) < 1e-6));
        assert.equal(item.start, undefined);
      });
    } finally {
      await classifier.dispose();
    }
    // The tiny model learnt something: most of the batch gets its folder's class.
    const right = doc.items.filter((i) => path.basename(i.path).startsWith(i.top[0]!.label)).length;
    assert.ok(right >= 6, `${right} of 12 right`);
  });

  it('writes CSV: path, empty times, then label and probability pairs', async () => {
    const out = path.join(dir, 'csv', 'batch.csv');
    const json = path.join(dir, 'same.json');
    assert.equal(
      (await runLoupe(dir, ['predict', 'fm@1', ...images, '--format', 'csv', '--out', out])).code,
      0,
    );
    assert.equal((await runLoupe(dir, ['predict', 'fm@1', ...images, '--out', json])).code, 0);
    const [header, ...rows] = (await readFile(out, 'utf8')).trimEnd().split('\n');
    assert.equal(header, 'path,start,end,label1,p1,label2,p2,label3,p3');
    const doc = await readJson(json);
    assert.deepEqual(
      rows,
      doc.items.map((i) => [i.path, '', '', ...i.top.flatMap((t) => [t.label, t.probability])].join(',')),
    );
    assert.deepEqual(
      doc.items.map((i) => i.path),
      images,
      'files named one by one keep their order',
    );
    assert.deepEqual(await readdir(path.join(dir, 'csv')), ['batch.csv'], 'no temporary file left');
  });

  it('takes a run id, packaging the run on the fly', async () => {
    const out = path.join(dir, 'run.json');
    const r = await runLoupe(dir, ['predict', version.runId!, images[0]!, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const doc = await readJson(out);
    assert.equal(doc.model, `run ${version.runId}`);
    assert.equal(doc.items.length, 1);
  });

  it('refuses what it cannot do, clearly, and writes nothing', async () => {
    const out = path.join(dir, 'never.json');
    const cases: [string[], RegExp][] = [
      [['predict', 'nope', inbox], /"nope" is neither a registered model .* nor a run/],
      [['predict', 'fm@7', inbox], /model fm has no version 7/],
      [['predict', 'fm:staging', inbox], /model fm has no alias "staging"/],
      [['predict', 'fm', path.join(dir, 'missing')], /missing does not exist/],
      [
        ['predict', 'fm', path.join(inbox, 'notes.txt'), path.join(inbox, 'rec-04.wav')],
        /no images to predict/,
      ],
      [['predict', 'fm', inbox, '--merge'], /--merge: for audio models; fm@1 classifies images/],
      [['predict', 'fm', inbox, '--top-k', '0'], /--top-k takes a positive whole number/],
      [['predict', 'fm', inbox, '--format', 'xml'], /--format is one of json, csv, audacity/],
    ];
    await mkdir(path.join(dir, 'empty'));
    cases.push([['predict', 'fm', path.join(dir, 'empty')], /no files to predict in .*empty/]);
    for (const [args, message] of cases) {
      const r = await runLoupe(dir, [...args, '--out', out]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const onlySkipped = await runLoupe(dir, ['predict', 'fm', path.join(inbox, 'notes.txt'), '--out', out]);
    assert.match(onlySkipped.stdout, /skipped .*notes\.txt: text, not an image/);
    assert.equal(existsSync(out), false);
  });
});

const RECORDING_SECONDS = 5;

/** Consecutive items of a recording tile [0, duration]: no gap, no overlap. */
function assertTiles(items: Prelabels['items']): void {
  assert.equal(items[0]!.start, 0);
  assert.ok(Math.abs(items.at(-1)!.end! - RECORDING_SECONDS) < 1e-6);
  for (let i = 1; i < items.length; i++) assert.equal(items[i]!.start, items[i - 1]!.end);
}

describe('loupe predict on recordings', () => {
  let ws: Workspace;
  let dir: string;
  let recordings: string;
  let recording: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'loupe-predict-audio-'));
    await initWorkspace(dir, { name: 'predict-audio' });
    ws = await openWorkspace({ workspace: dir, env: {} });
    await trainAudioModel(ws);
    recordings = path.join(dir, 'field');
    recording = path.join(recordings, 'rec-04.wav');
    await cp(path.join(repoRoot, 'samples/audio/rec-04.wav'), recording);
    await cp(
      path.join(repoRoot, 'samples/fashion-mnist/test/Bag/0018.png'),
      path.join(recordings, 'bag.png'),
    );
    await writeFile(path.join(recordings, 'broken.wav'), Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt '));
  });
  after(async () => {
    await ws.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('classifies a recording window by window, covering all of it; skips images and broken WAVs', async () => {
    const out = path.join(dir, 'windows.json');
    const r = await runLoupe(dir, ['predict', 'bursts', recordings, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const doc = await readJson(out);
    assert.equal(doc.model, 'bursts@1');
    assert.equal(doc.items.length, 10, 'ten 0.5 s windows in 5 s');
    assertTiles(doc.items);
    assert.ok(doc.items.every((i) => i.path === recording && i.end! - i.start! === 0.5));
    const reasons = new Map(doc.skipped.map((s) => [path.basename(s.path), s.reason]));
    assert.equal(reasons.get('bag.png'), 'an image, but this model classifies audio (WAV recordings)');
    assert.equal(reasons.get('broken.wav'), 'no fmt chunk: the file does not say how its audio is encoded');
  });

  it('gives each burst its class in the window centred on it, where the model is confident', async () => {
    const out = path.join(dir, 'overlap.json');
    const r = await runLoupe(dir, ['predict', 'bursts', recording, '--hop', '0.05', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const { items } = await readJson(out);
    assert.equal(items.length, 91, 'windows start every 0.05 s up to 4.5 s');
    assert.equal(items[0]!.start, 0);
    assert.equal(items.at(-1)!.end, RECORDING_SECONDS);
    let confident = 0;
    for (const [start, end, label] of REC04_BURSTS) {
      const centre = (start + end) / 2;
      const window = items.reduce((best, i) =>
        Math.abs((i.start! + i.end!) / 2 - centre) < Math.abs((best.start! + best.end!) / 2 - centre)
          ? i
          : best,
      );
      if (window.top[0]!.probability < 0.9) continue;
      confident++;
      assert.equal(window.top[0]!.label, label, `the burst at ${start}–${end} s`);
    }
    assert.ok(confident >= 6, `confident on ${confident} of 9 bursts`);
  });

  it('--merge joins windows into segments that tile the recording', async () => {
    const windows = await readJson(path.join(dir, 'overlap.json'));
    const out = path.join(dir, 'merged.json');
    const r = await runLoupe(dir, ['predict', 'bursts', recording, '--hop', '0.05', '--merge', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const { items } = await readJson(out);
    assertTiles(items);
    assert.ok(items.length > 1 && items.length < windows.items.length);
    assert.equal(
      items.reduce((a, i) => a + i.windows!, 0),
      windows.items.length,
    );
    for (let i = 1; i < items.length; i++)
      assert.notEqual(items[i]!.top[0]!.label, items[i - 1]!.top[0]!.label);
    // Each segment's top label is that of the windows it joined.
    let w = 0;
    for (const segment of items)
      for (let n = 0; n < segment.windows!; n++, w++)
        assert.equal(windows.items[w]!.top[0]!.label, segment.top[0]!.label);
  });

  it('writes Audacity labels beside the recording, or into --out, never over labels already there', async () => {
    const r = await runLoupe(dir, ['predict', 'bursts', recordings, '--merge', '--format', 'audacity']);
    assert.equal(r.code, 0, r.stderr);
    const file = path.join(recordings, 'rec-04.labels.txt');
    const parsed = parseAudacityLabels(await readFile(file, 'utf8'));
    assert.deepEqual(parsed.problems, []);
    assert.equal(parsed.labels[0]!.start, 0);
    assert.equal(parsed.labels.at(-1)!.end, RECORDING_SECONDS);
    assert.ok(parsed.labels.every((l) => ['chirp', 'noise', 'tone'].includes(l.label)));
    assert.deepEqual(
      (await readdir(recordings)).sort(),
      ['bag.png', 'broken.wav', 'rec-04.labels.txt', 'rec-04.wav'],
      'one label file, for the recording that was predicted',
    );

    const before = await readFile(file, 'utf8');
    const again = await runLoupe(dir, ['predict', 'bursts', recording, '--format', 'audacity']);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /rec-04\.labels\.txt already labels .*rec-04\.wav/);
    assert.equal(await readFile(file, 'utf8'), before);

    const elsewhere = path.join(dir, 'labels');
    const r2 = await runLoupe(dir, [
      'predict',
      'bursts',
      recording,
      '--format',
      'audacity',
      '--out',
      elsewhere,
    ]);
    assert.equal(r2.code, 0, r2.stderr);
    const windows = parseAudacityLabels(await readFile(path.join(elsewhere, 'rec-04.labels.txt'), 'utf8'));
    assert.equal(windows.labels.length, 10, 'without --merge, a label per window');
  });

  it('refuses a window longer than the clip and image-only input', async () => {
    const long = await runLoupe(dir, ['predict', 'bursts', recording, '--window', '2']);
    assert.equal(long.code, 2);
    assert.match(long.stderr, /2 s window is longer than the 0\.5 s the model hears/);
    const images = await runLoupe(dir, ['predict', 'bursts', path.join(recordings, 'bag.png')]);
    assert.equal(images.code, 2);
    assert.match(images.stderr, /no WAV recordings to predict/);
  });

  it('stops on Ctrl-C without writing anything', async () => {
    const out = path.join(dir, 'interrupted', 'prelabels.json');
    await mkdir(path.dirname(out));
    // Windows every 2 ms: thousands of them, seconds of work to interrupt.
    const child = spawn(
      process.execPath,
      [loupeBin, 'predict', 'bursts', recording, '--hop', '0.002', '--out', out],
      {
        cwd: dir,
        env: { ...process.env, LOUPE_THREADS: '1', LOUPE_PROFILE: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    while (!stdout.includes('predict: 2,251 items')) {
      if (child.exitCode !== null) throw new Error(`loupe predict ended early: ${stdout}${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGINT');
    assert.equal(await exited, 130, stderr);
    assert.match(stderr, /stopped by Ctrl-C \[INTERRUPTED\]/);
    assert.deepEqual(await readdir(path.dirname(out)), []);
  });
});

describe('mergeWindows', () => {
  const p = (start: number, end: number, probs: number[]) => ({
    path: 'r.wav',
    start,
    end,
    probs: Float32Array.from(probs),
  });

  it('splits overlapping windows of different classes in the middle of the overlap; averages probabilities', () => {
    const merged = mergeWindows([
      p(0, 1, [0.9, 0.1]),
      p(0.5, 1.5, [0.7, 0.3]),
      p(1, 2, [0.2, 0.8]),
      p(1.5, 2.5, [0.4, 0.6]),
    ]);
    assert.deepEqual(
      merged.map((m) => [m.start, m.end, m.windows]),
      [
        [0, 1.25, 2],
        [1.25, 2.5, 2],
      ],
    );
    assert.ok(Math.abs(merged[0]!.probs[0]! - 0.8) < 1e-6 && Math.abs(merged[1]!.probs[1]! - 0.7) < 1e-6);
  });

  it('never joins across a gap, another recording, or an image', () => {
    const merged = mergeWindows([
      p(0, 1, [1, 0]),
      p(2, 3, [1, 0]),
      { ...p(3, 4, [1, 0]), path: 'other.wav' },
      { path: 'a.png', probs: Float32Array.from([1, 0]) },
    ]);
    assert.deepEqual(
      merged.map((m) => [m.path, m.start, m.end]),
      [
        ['r.wav', 0, 1],
        ['r.wav', 2, 3],
        ['other.wav', 3, 4],
        ['a.png', undefined, undefined],
      ],
    );
  });
});
