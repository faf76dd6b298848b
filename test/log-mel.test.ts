import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createLogMel,
  fitFrames,
  logMelSchema,
  logMelSpectrogram,
  type LogMelInput,
  type Spectrogram,
} from '../src/features/audio/log-mel.js';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { seededRandom } from '../src/train/random.js';

const PYTHON = '/usr/bin/python3';
const REFERENCE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/log_mel_reference.py');

function whyNoNumpy(): string | false {
  if (!existsSync(PYTHON)) return `${PYTHON} is missing, so the numpy reference cannot run`;
  const r = spawnSync(PYTHON, ['-c', 'import numpy'], { encoding: 'utf8' });
  return r.status === 0 ? false : `numpy is not installed for ${PYTHON}, so the reference cannot run`;
}

function sine(hz: number, seconds: number, rate: number, amplitude = 0.5): Float32Array {
  return Float32Array.from(
    { length: Math.round(seconds * rate) },
    (_, i) => amplitude * Math.sin((2 * Math.PI * hz * i) / rate),
  );
}

/** A linear sweep from f0 to f1 Hz. */
function chirp(f0: number, f1: number, seconds: number, rate: number): Float32Array {
  const k = (f1 - f0) / seconds;
  return Float32Array.from({ length: Math.round(seconds * rate) }, (_, i) => {
    const t = i / rate;
    return 0.5 * Math.sin(2 * Math.PI * (f0 * t + (k * t * t) / 2));
  });
}

function noise(length: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length }, () => random() - 0.5);
}

/** Band edges of the Slaney mel scale, from its definition (not the module's code). */
function slaneyEdges(nMels: number, fMin: number, fMax: number): number[] {
  const toMel = (hz: number) =>
    hz < 1000 ? (3 * hz) / 200 : 15 + (27 * Math.log(hz / 1000)) / Math.log(6.4);
  const toHz = (mel: number) => (mel < 15 ? (200 * mel) / 3 : 1000 * 6.4 ** ((mel - 15) / 27));
  const [lo, hi] = [toMel(fMin), toMel(fMax)];
  return Array.from({ length: nMels + 2 }, (_, i) => toHz(lo + ((hi - lo) * i) / (nMels + 1)));
}

describe('log-mel spectrogram', () => {
  test('defaults, and the options it refuses', () => {
    assert.deepEqual(logMelSchema.parse({}), {
      sampleRate: 16000,
      nFft: 512,
      hop: 160,
      nMels: 64,
      fMin: 0,
      power: 2,
      topDb: 80,
    });
    for (const bad of [
      { nFft: 500 },
      { fMax: 9000 },
      { fMin: 8000 },
      { fMin: 500, fMax: 400 },
      { window: 400 },
    ])
      assert.equal(logMelSchema.safeParse(bad).success, false, JSON.stringify(bad));
    assert.throws(
      () => logMelSpectrogram(new Float32Array(100), { nFft: 64, nMels: 64 }),
      (e: unknown) => isLoupeError(e, 'INVALID_ARGUMENT') && /covers no FFT bin/.test(e.message),
    );
  });

  test('centred frames: a signal of L samples gives 1 + floor(L / hop) frames, short ones too', () => {
    const logMel = createLogMel();
    assert.equal(logMel(new Float32Array(16000)).frames, 101);
    assert.equal(logMel(new Float32Array(16159)).frames, 101);
    const tiny = logMel(Float32Array.of(0.1, -0.2, 0.3));
    assert.deepEqual([tiny.mels, tiny.frames], [64, 1]);
    assert.ok(tiny.data.every(Number.isFinite));
    assert.equal(logMel(new Float32Array(0)).frames, 1);
  });

  test('silence is the floor of 10·log10(1e-10) everywhere', () => {
    for (const topDb of [80, null]) {
      const { data } = logMelSpectrogram(new Float32Array(8000), { topDb });
      assert.ok(
        data.every((v) => v === -100),
        `topDb ${topDb}`,
      );
    }
  });

  test('a 1 kHz tone peaks in the mel band around 1 kHz', () => {
    const spec = logMelSpectrogram(sine(1000, 1, 16000));
    const mean = Array.from({ length: spec.mels }, (_, m) => {
      let s = 0;
      for (let t = 0; t < spec.frames; t++) s += spec.data[m * spec.frames + t]!;
      return s / spec.frames;
    });
    const peak = mean.indexOf(Math.max(...mean));
    const edges = slaneyEdges(64, 0, 8000);
    assert.ok(
      edges[peak]! < 1000 && 1000 < edges[peak + 2]!,
      `band ${peak} spans ${edges[peak]}–${edges[peak + 2]} Hz`,
    );
    const nearest = edges
      .slice(1, -1)
      .reduce((best, f, m, all) => (Math.abs(f - 1000) < Math.abs(all[best]! - 1000) ? m : best), 0);
    assert.equal(peak, nearest);
    // Far from the tone the level is 80 dB down (the top-dB floor) or close to it.
    assert.ok(mean[peak]! - mean[63]! > 60);
  });

  test('twice the amplitude is +6.02 dB in every cell above the floor', () => {
    const x = chirp(200, 6000, 0.5, 16000);
    const o: LogMelInput = { topDb: null };
    const a = logMelSpectrogram(x, o);
    const b = logMelSpectrogram(
      x.map((v) => 2 * v),
      o,
    );
    for (let i = 0; i < a.data.length; i++)
      if (a.data[i]! > -60) assert.ok(Math.abs(b.data[i]! - a.data[i]! - 20 * Math.log10(2)) < 1e-4);
  });

  test('the top-dB floor sits that far below the peak', () => {
    const { data } = logMelSpectrogram(sine(440, 0.5, 16000, 0.1), { topDb: 50 });
    const max = Math.max(...data);
    const min = Math.min(...data);
    assert.ok(Math.abs(max - min - 50) < 1e-4, `range ${max - min} dB`);
  });

  test('fitFrames crops around the middle and pads with the minimum on both sides', () => {
    const spec: Spectrogram = { data: Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8, -9, 10), mels: 2, frames: 5 };
    assert.equal(fitFrames(spec, 5), spec);
    assert.deepEqual(fitFrames(spec, 3), { data: Float32Array.of(2, 3, 4, 7, 8, -9), mels: 2, frames: 3 });
    assert.deepEqual(fitFrames(spec, 8), {
      data: Float32Array.of(-9, 1, 2, 3, 4, 5, -9, -9, -9, 6, 7, 8, -9, 10, -9, -9),
      mels: 2,
      frames: 8,
    });
    assert.throws(
      () => fitFrames(spec, 0),
      (e: unknown) => isLoupeError(e, 'INVALID_ARGUMENT'),
    );
  });

  const skip = whyNoNumpy();
  test('matches an independent numpy implementation within 0.01 dB', { skip }, async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'loupe-log-mel-'));
    try {
      const cases: [string, Float32Array, LogMelInput][] = [
        ['chirp, defaults', chirp(50, 7900, 1, 16000), {}],
        ['noise, defaults', noise(11_111, 4), {}],
        [
          'chirp at 22.05 kHz, amplitude, no floor',
          chirp(30, 10_000, 0.8, 22050),
          {
            sampleRate: 22050,
            nFft: 1024,
            hop: 256,
            nMels: 40,
            fMin: 50,
            fMax: 10_000,
            power: 1,
            topDb: null,
          },
        ],
        ['noise, 128 mels', noise(8000, 5), { nFft: 1024, hop: 320, nMels: 128 }],
      ];
      for (const [name, samples, options] of cases) {
        const o = logMelSchema.parse(options);
        const file = path.join(dir, 'x.f32');
        await writeFile(file, new Uint8Array(samples.buffer));
        const r = spawnSync(PYTHON, [REFERENCE], {
          input: JSON.stringify({ samples: file, ...o, fMax: o.fMax ?? o.sampleRate / 2 }),
          encoding: 'utf8',
          maxBuffer: 64 * 1024 * 1024,
        });
        assert.equal(r.status, 0, r.stderr);
        const ref = JSON.parse(r.stdout) as { mels: number; frames: number; data: number[] };
        const ours = logMelSpectrogram(samples, options);
        assert.deepEqual([ours.mels, ours.frames], [ref.mels, ref.frames], name);
        let worst = 0;
        let compared = 0;
        ref.data.forEach((v, i) => {
          if (v <= -60) return;
          compared++;
          worst = Math.max(worst, Math.abs(v - ours.data[i]!));
        });
        assert.ok(compared >= ref.frames, `${name}: only ${compared} values above -60 dB`);
        assert.ok(worst < 1e-2, `${name}: max difference ${worst} dB`);
        t.diagnostic(`${name}: ${compared} values compared, max difference ${worst.toExponential(1)} dB`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
