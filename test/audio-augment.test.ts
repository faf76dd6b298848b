import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeWav } from '../src/data/sources/audio/wav-decode.js';
import type { ManifestItem } from '../src/data/versions/manifest.js';
import { isLoupeError } from '../src/errors/loupe-error.js';
import {
  audioAugmentSchema,
  augmentWaveform,
  scaledAudioAugment,
  specAugment,
  type AudioAugmentInput,
} from '../src/features/audio/augment.js';
import type { Spectrogram } from '../src/features/audio/log-mel.js';
import { loadAudioSegments, spectrogramSet } from '../src/features/audio/segment-set.js';
import { FsBlobStore, sha256 } from '../src/store/blob-store.js';
import { seededRandom } from '../src/train/random.js';

const haveSox = spawnSync('sox', ['--version']).status === 0;
const needsSox = { skip: !haveSox && 'sox not installed (apt-get install sox)' };

const augment = (o: AudioAugmentInput) => audioAugmentSchema.parse(o);

/** A `random` that gives the listed values first, then a seeded stream. */
function scripted(values: number[], seed = 1): () => number {
  const rest = seededRandom(seed);
  let i = 0;
  return () => (i < values.length ? values[i++]! : rest());
}

function sine(hz: number, length: number, rate: number, amplitude = 0.5): Float32Array {
  return Float32Array.from({ length }, (_, i) => amplitude * Math.sin((2 * Math.PI * hz * i) / rate));
}

function meanSquare(x: Float32Array): number {
  return x.reduce((s, v) => s + v * v, 0) / x.length;
}

describe('waveform augmentation', () => {
  const rate = 8000;
  const x = sine(440, 4000, rate);

  test('defaults are off: the clip comes back unchanged, in a new array', () => {
    assert.deepEqual(augment({}), {
      shift: 0,
      shiftFill: 'zeros',
      gainDb: 0,
      timeMasks: 0,
      timeMaskWidth: 0,
      freqMasks: 0,
      freqMaskWidth: 0,
    });
    const out = augmentWaveform(x, rate, augment({}), seededRandom(1));
    assert.notEqual(out, x);
    assert.deepEqual(out, x);
    for (const bad of [{ gain: 3 }, { noise: { snrDb: [20, 10] } }, { timeMasks: 1.5 }, { shift: -1 }])
      assert.equal(audioAugmentSchema.safeParse(bad).success, false, JSON.stringify(bad));
  });

  test('gain scales the RMS by the drawn number of decibels', () => {
    const o = augment({ gainDb: 6 });
    // Draws of 0 and 1 are the ends of ±6 dB.
    for (const [draw, db] of [
      [0, -6],
      [0.75, 3],
    ] as const) {
      const out = augmentWaveform(x, rate, o, () => draw);
      const ratio = 10 * Math.log10(meanSquare(out) / meanSquare(x));
      assert.ok(Math.abs(ratio - db) < 1e-4, `${ratio} dB`);
    }
  });

  test('noise lands at the drawn signal-to-noise ratio', () => {
    const o = augment({ noise: { snrDb: [10, 20] } });
    for (const draw of [0, 0.25, 0.9]) {
      const out = augmentWaveform(x, rate, o, scripted([draw], 7));
      const noise = out.map((v, i) => v - x[i]!);
      const snr = 10 * Math.log10(meanSquare(x) / meanSquare(noise));
      assert.ok(Math.abs(snr - (10 + 10 * draw)) < 0.5, `SNR ${snr} dB for draw ${draw}`);
      // White: no 440 Hz tone leaks into it, and it is not a constant.
      assert.ok(Math.abs(noise.reduce((s, v) => s + v, 0) / noise.length) < 0.05);
    }
    const silence = new Float32Array(100);
    assert.deepEqual(
      augmentWaveform(silence, rate, o, seededRandom(1)),
      silence,
      'silence has no level to match',
    );
  });

  test('shift moves the clip by whole samples, filling with silence or wrapping', () => {
    const ramp = Float32Array.from({ length: 50 }, (_, i) => i + 1);
    // 0.01 s at 1 kHz: up to ±10 samples; a draw of 0 is -10, 0.75 is +5.
    const zeros = augment({ shift: 0.01 });
    const left = augmentWaveform(ramp, 1000, zeros, () => 0);
    assert.deepEqual([...left.subarray(0, 3)], [11, 12, 13]);
    assert.deepEqual([...left.subarray(38)], [...ramp.subarray(48), ...new Array(10).fill(0)]);
    const right = augmentWaveform(ramp, 1000, zeros, () => 0.75);
    assert.deepEqual([...right.subarray(0, 7)], [0, 0, 0, 0, 0, 1, 2]);
    const wrapped = augmentWaveform(ramp, 1000, augment({ shift: 0.01, shiftFill: 'wrap' }), () => 0.75);
    assert.deepEqual([...wrapped.subarray(0, 7)], [46, 47, 48, 49, 50, 1, 2]);
    assert.deepEqual([...augmentWaveform(ramp, 1000, augment({ shift: 1 }), () => 0)], new Array(50).fill(0));
  });

  test('the same seed gives the same clip', () => {
    const o = augment({ shift: 0.1, gainDb: 6, noise: { snrDb: [5, 30] } });
    const a = augmentWaveform(x, rate, o, seededRandom(3));
    assert.deepEqual(augmentWaveform(x, rate, o, seededRandom(3)), a);
    assert.notDeepEqual(augmentWaveform(x, rate, o, seededRandom(4)), a);
  });
});

describe('SpecAugment', () => {
  const mels = 16;
  const frames = 40;
  const random = seededRandom(11);
  const spec: Spectrogram = {
    data: Float32Array.from({ length: mels * frames }, () => random() * 10),
    mels,
    frames,
  };
  const mean = Math.fround(spec.data.reduce((s, v) => s + v, 0) / spec.data.length);
  const column = (d: Float32Array, t: number) => Array.from({ length: mels }, (_, m) => d[m * frames + t]!);
  const row = (d: Float32Array, m: number) => [...d.subarray(m * frames, (m + 1) * frames)];
  const maskedColumns = (d: Float32Array) =>
    Array.from({ length: frames }, (_, t) => t).filter((t) => column(d, t).every((v) => v === mean));
  const maskedRows = (d: Float32Array) =>
    Array.from({ length: mels }, (_, m) => m).filter((m) => row(d, m).every((v) => v === mean));

  test('masks sit where drawn, with the drawn widths, at the spectrogram mean', () => {
    const o = augment({ timeMasks: 2, timeMaskWidth: 3, freqMasks: 1, freqMaskWidth: 4 });
    // Width draws: floor(r·(max + 1)); positions: floor(r·(size - width + 1)).
    const out = specAugment(spec, o, scripted([0.99, 0, 0.5, 0.99, 0.99, 0.5]));
    assert.deepEqual(maskedColumns(out.data), [0, 1, 2, 38, 39]);
    assert.deepEqual(maskedRows(out.data), [6, 7, 8, 9]);
    for (let m = 0; m < mels; m++)
      for (let t = 0; t < frames; t++)
        if (![0, 1, 2, 38, 39].includes(t) && ![6, 7, 8, 9].includes(m))
          assert.equal(out.data[m * frames + t], spec.data[m * frames + t]);
    assert.deepEqual([out.mels, out.frames], [mels, frames]);
    assert.notEqual(out.data, spec.data);
  });

  test('random masks: never more than count × width, and every width up to the maximum occurs', () => {
    const o = augment({ timeMasks: 2, timeMaskWidth: 5, freqMasks: 2, freqMaskWidth: 3 });
    const random = seededRandom(5);
    const seen = new Set<number>();
    for (let run = 0; run < 200; run++) {
      const out = specAugment(spec, o, random);
      const cols = maskedColumns(out.data);
      const rows = maskedRows(out.data);
      assert.ok(cols.length <= 10 && rows.length <= 6, `${cols.length} columns, ${rows.length} rows`);
      if (cols.length <= 5) seen.add(cols.length);
    }
    for (let w = 0; w <= 5; w++) assert.ok(seen.has(w), `a total width of ${w} never occurred`);
  });

  test('off by default; a mask wider than the spectrogram covers all of it', () => {
    assert.deepEqual(specAugment(spec, augment({}), seededRandom(1)), spec);
    const all = specAugment(spec, augment({ freqMasks: 1, freqMaskWidth: 100 }), () => 0.999);
    assert.ok(all.data.every((v) => v === mean));
  });

  test('strength scales shift, gain, noise amplitude and mask widths; 0 turns it all off', () => {
    const base = augment({
      shift: 0.2,
      gainDb: 6,
      noise: { snrDb: [10, 30] },
      timeMasks: 2,
      timeMaskWidth: 10,
      freqMasks: 2,
      freqMaskWidth: 8,
    });
    const half = scaledAudioAugment(base, 0.5);
    assert.equal(half.shift, 0.1);
    assert.equal(half.gainDb, 3);
    assert.deepEqual([half.timeMaskWidth, half.freqMaskWidth], [5, 4]);
    assert.ok(Math.abs(half.noise!.snrDb[0] - (10 + 20 * Math.log10(2))) < 1e-9);
    assert.deepEqual(scaledAudioAugment(base, 1), base);
    const off = scaledAudioAugment(base, 0);
    assert.equal(off.noise, undefined);
    assert.deepEqual(augmentWaveform(x(), 8000, off, seededRandom(1)), x());
    assert.deepEqual(specAugment(spec, off, seededRandom(1)), spec);
    assert.throws(
      () => scaledAudioAugment(base, Number.NaN),
      (e: unknown) => isLoupeError(e, 'INVALID_ARGUMENT'),
    );
    function x() {
      return sine(300, 800, 8000);
    }
  });
});

describe('audio segment sets', needsSox, () => {
  let dir: string;
  let blobs: FsBlobStore;
  const hashes: Record<string, string> = {};
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'loupe-segments-'));
    blobs = new FsBlobStore(path.join(dir, 'blobs'));
    const sox = (name: string, ...args: string[]) => {
      const file = path.join(dir, name);
      execFileSync('sox', [
        '-R',
        '-D',
        '-n',
        ...args.slice(0, args.indexOf('--')),
        file,
        ...args.slice(args.indexOf('--') + 1),
      ]);
      return file;
    };
    // A stereo 22.05 kHz recording (left: tone, right: silence) and a mono 16 kHz one.
    const a = sox(
      'a.wav',
      '-r',
      '22050',
      '-b',
      '16',
      '-c',
      '2',
      '--',
      'synth',
      '2',
      'sine',
      '440',
      'vol',
      '0.5',
      'remix',
      '1',
      '0',
    );
    const b = sox('b.wav', '-r', '16000', '-b', '16', '--', 'synth', '1.5', 'sawtooth', '3');
    hashes.a = (await blobs.putFile(a)).hash;
    hashes.b = (await blobs.putFile(b)).hash;
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function item(file: 'a' | 'b', label: string, start?: number, end?: number): ManifestItem {
    const source = start === undefined ? `${file}.wav` : `${file}.wav#t=${start},${end}`;
    return {
      id: sha256(Buffer.from(source)),
      kind: 'audio',
      blob: hashes[file]!,
      label,
      split: 'train',
      source,
      ...(start !== undefined && { start, end }),
    };
  }

  test('segments are cut from each recording decoded once, centred to one length', async () => {
    const items = [
      item('a', 'tone', 0.2, 0.4),
      item('b', 'saw', 0.1, 1.4),
      item('a', 'tone', 1.0, 1.5),
      item('b', 'saw'),
    ];
    let reads = 0;
    const counting = Object.assign(Object.create(blobs) as FsBlobStore, {
      get: (hash: string) => {
        reads++;
        return blobs.get(hash);
      },
    });
    const { waves, labels } = await loadAudioSegments(items, counting, { sampleRate: 8000, seconds: 0.5 });
    assert.equal(reads, 2);
    assert.deepEqual(labels, ['tone', 'saw', 'tone', 'saw']);
    assert.deepEqual(
      waves.map((w) => w.length),
      [4000, 4000, 4000, 4000],
    );
    const whole = async (file: string) =>
      (await decodeWav(await readFile(path.join(dir, file)), file, { sampleRate: 8000 })).samples;
    const [a, b] = [await whole('a.wav'), await whole('b.wav')];
    // 0.2 s padded to 0.5: 0.15 s of silence on each side, mixed to mono (the tone at half level).
    assert.deepEqual(waves[0]!.subarray(0, 1200), new Float32Array(1200));
    assert.deepEqual(waves[0]!.subarray(1200, 2800), a.subarray(1600, 3200));
    assert.deepEqual(waves[0]!.subarray(2800), new Float32Array(1200));
    assert.ok(Math.abs(Math.max(...waves[0]!) - 0.25) < 0.01);
    // 1.3 s cropped around its middle (0.75 s): 0.5–1.0 s.
    assert.deepEqual(waves[1], b.subarray(4000, 8000));
    assert.deepEqual(waves[2], a.subarray(8000, 12000));
    // No times: the whole 1.5 s recording, cropped to 0.5–1.0 s.
    assert.deepEqual(waves[3], b.subarray(4000, 8000));
  });

  test('only audio items; a damaged recording is named by its source', async () => {
    await assert.rejects(
      loadAudioSegments([{ ...item('a', 'x'), kind: 'image' }], blobs, { sampleRate: 8000, seconds: 1 }),
      (e: unknown) => isLoupeError(e, 'INVALID_ARGUMENT'),
    );
    const junk = await blobs.put(Buffer.from('not a recording'));
    await assert.rejects(
      loadAudioSegments([{ ...item('a', 'x', 0, 1), blob: junk, source: 'junk.wav#t=0,1' }], blobs, {
        sampleRate: 8000,
        seconds: 1,
      }),
      (e: unknown) => isLoupeError(e, 'CORRUPT_FILE') && e.message.startsWith('junk.wav: '),
    );
    await assert.rejects(
      loadAudioSegments([item('a', 'x')], blobs, { sampleRate: 8000, seconds: 0 }),
      (e: unknown) => isLoupeError(e, 'INVALID_ARGUMENT'),
    );
  });

  test('spectrogram sets are [1, mels, frames] images, standardised by the training statistics', async () => {
    const train = await loadAudioSegments(
      [item('a', 'tone', 0, 0.5), item('b', 'saw', 0, 0.5), item('a', 'tone', 1, 1.5)],
      blobs,
      { sampleRate: 8000, seconds: 0.5 },
    );
    const val = await loadAudioSegments([item('b', 'saw', 0.8, 1.3)], blobs, {
      sampleRate: 8000,
      seconds: 0.5,
    });
    const logMel = { sampleRate: 8000, nFft: 256, hop: 80, nMels: 32 };
    const classes = ['saw', 'tone'];
    // 0.5 s at 8 kHz with a hop of 80 is 51 frames; the set asks for 48.
    const t = spectrogramSet(train.waves, train.labels, classes, logMel, 48);
    assert.deepEqual(t.set.shape, [1, 32, 48]);
    assert.equal(t.set.count, 3);
    assert.deepEqual([...t.set.labels], [1, 0, 1]);
    assert.deepEqual(t.set.classes, classes);
    assert.equal(t.set.x.length, 3 * 32 * 48);
    const mean = t.set.x.reduce((s, v) => s + v, 0) / t.set.x.length;
    const sd = Math.sqrt(t.set.x.reduce((s, v) => s + (v - mean) ** 2, 0) / t.set.x.length);
    assert.ok(Math.abs(mean) < 1e-3 && Math.abs(sd - 1) < 1e-3, `mean ${mean}, std ${sd}`);
    const v = spectrogramSet(val.waves, val.labels, classes, logMel, 48, t.standardization);
    assert.deepEqual(v.standardization, t.standardization);
    // The same clip standardised with the same statistics gives the same image.
    const again = spectrogramSet([train.waves[1]!], ['saw'], classes, logMel, 48, t.standardization);
    assert.deepEqual(again.set.x, t.set.x.subarray(32 * 48, 2 * 32 * 48));
    assert.throws(
      () => spectrogramSet(train.waves, ['tone', 'frog', 'saw'], classes, logMel, 48),
      (e: unknown) => isLoupeError(e, 'INVALID_ARGUMENT') && /'frog'/.test(e.message),
    );
  });
});
