import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAudacityLabels } from '../src/data/sources/audio/audacity-labels.js';
import { scanAudioFolder } from '../src/data/sources/audio/audio-folder.js';
import type { AudioSpan, RecordingRef } from '../src/data/sources/audio/audio-items.js';
import { formatAudioScanReport } from '../src/data/sources/audio/audio-scan-report.js';
import { windowRecording } from '../src/data/sources/audio/audio-windows.js';
import { segmentsFromLabels } from '../src/data/sources/audio/label-segments.js';
import { resample } from '../src/data/sources/audio/resample.js';
import { cutSpan, loadSpans, readSpan } from '../src/data/sources/audio/span-samples.js';
import { decodeWav, readWav, readWavInfo } from '../src/data/sources/audio/wav-decode.js';
import { isLoupeError } from '../src/errors/loupe-error.js';

const SAMPLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../samples/audio');
const haveSox = spawnSync('sox', ['--version']).status === 0;
const needsSox = { skip: !haveSox && 'sox not installed (apt-get install sox)' };

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'loupe-audio-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs sox without dither, so every format holds the same synthesised signal rounded once. */
function sox(out: string, ...args: string[]): string {
  const file = path.join(dir, out);
  execFileSync('sox', [
    '-R',
    '-D',
    ...args.slice(0, args.indexOf('--')),
    file,
    ...args.slice(args.indexOf('--') + 1),
  ]);
  return file;
}

// ---------- hand-made WAV bytes for the hostile cases ----------

function chunk(id: string, body: Uint8Array, declared = body.length): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'latin1');
  head.writeUInt32LE(declared >>> 0, 4);
  return Buffer.concat([head, body, Buffer.alloc(body.length & 1)]);
}

function fmtBody(
  o: { tag?: number; channels?: number; rate?: number; bits?: number; blockAlign?: number } = {},
): Buffer {
  const { tag = 1, channels = 1, rate = 8000, bits = 16 } = o;
  const b = Buffer.alloc(16);
  b.writeUInt16LE(tag, 0);
  b.writeUInt16LE(channels, 2);
  b.writeUInt32LE(rate, 4);
  b.writeUInt32LE((rate * channels * bits) / 8, 8);
  b.writeUInt16LE(o.blockAlign ?? (channels * bits) / 8, 12);
  b.writeUInt16LE(bits, 14);
  return b;
}

function riff(...chunks: Buffer[]): Buffer {
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), ...chunks]);
  const head = Buffer.alloc(8);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body]);
}

function int16(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeInt16LE(v, i * 2));
  return b;
}

/** Asserts a CORRUPT_FILE error whose message names the file and matches the pattern. */
async function rejectsCorrupt(p: Promise<unknown>, name: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isLoupeError(e, 'CORRUPT_FILE'), `expected CORRUPT_FILE, got ${String(e)}`);
    assert.ok(e.message.includes(name), `message should name ${name}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

/** Amplitude of the `hz` component (least squares against sin and cos), and the residual. */
function tone(x: Float32Array, rate: number, hz: number, from = 0, to = x.length): { amplitude: number } {
  let s = 0;
  let c = 0;
  for (let i = from; i < to; i++) {
    s += x[i]! * Math.sin((2 * Math.PI * hz * i) / rate);
    c += x[i]! * Math.cos((2 * Math.PI * hz * i) / rate);
  }
  return { amplitude: (2 * Math.hypot(s, c)) / (to - from) };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function rms(x: Float32Array, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! ** 2;
  return Math.sqrt(s / Math.max(1, to - from));
}

// ---------- decoding ----------

describe('WAV decoding', needsSox, () => {
  const RATE = 8000;
  const synth = ['--', 'synth', '0.5', 'sine', '440', 'vol', '0.5'];
  let reference: Float32Array;
  before(async () => {
    reference = (
      await readWav(sox('ref.wav', '-n', '-r', `${RATE}`, '-e', 'floating-point', '-b', '64', ...synth))
    ).samples;
  });

  test('the 64-bit float reference is a 0.5-amplitude 440 Hz sine of 4000 frames', () => {
    assert.equal(reference.length, 4000);
    assert.ok(Math.abs(tone(reference, RATE, 440).amplitude - 0.5) < 1e-3);
    let crossings = 0;
    for (let i = 1; i < reference.length; i++) if (reference[i - 1]! < 0 !== reference[i]! < 0) crossings++;
    assert.ok(Math.abs(crossings - 440) <= 1, `${crossings} zero crossings`);
  });

  const formats: {
    name: string;
    args: string[];
    bits: number;
    encoding: string;
    extensible: boolean;
    tol: number;
  }[] = [
    {
      name: 'u8',
      args: ['-e', 'unsigned-integer', '-b', '8'],
      bits: 8,
      encoding: 'pcm',
      extensible: false,
      tol: 1 / 128,
    },
    {
      name: 's16',
      args: ['-e', 'signed-integer', '-b', '16'],
      bits: 16,
      encoding: 'pcm',
      extensible: false,
      tol: 1 / 32768,
    },
    {
      name: 's24-plain',
      args: ['-t', 'wavpcm', '-e', 'signed-integer', '-b', '24'],
      bits: 24,
      encoding: 'pcm',
      extensible: false,
      tol: 2 ** -23,
    },
    {
      name: 's24-extensible',
      args: ['-e', 'signed-integer', '-b', '24'],
      bits: 24,
      encoding: 'pcm',
      extensible: true,
      tol: 2 ** -23,
    },
    {
      name: 's32',
      args: ['-e', 'signed-integer', '-b', '32'],
      bits: 32,
      encoding: 'pcm',
      extensible: true,
      tol: 1e-7,
    },
    {
      name: 'f32',
      args: ['-e', 'floating-point', '-b', '32'],
      bits: 32,
      encoding: 'float',
      extensible: false,
      tol: 1e-7,
    },
    {
      name: 'f64',
      args: ['-e', 'floating-point', '-b', '64'],
      bits: 64,
      encoding: 'float',
      extensible: false,
      tol: 1e-7,
    },
  ];
  for (const f of formats) {
    test(`decodes ${f.name} to the reference signal`, async () => {
      const file = sox(`${f.name}.wav`, '-n', '-r', `${RATE}`, ...f.args, ...synth);
      const { samples, sampleRate, info } = await readWav(file);
      assert.equal(sampleRate, RATE);
      assert.deepEqual(
        {
          bits: info.bitsPerSample,
          encoding: info.encoding,
          extensible: info.extensible,
          channels: info.channels,
        },
        { bits: f.bits, encoding: f.encoding, extensible: f.extensible, channels: 1 },
      );
      assert.equal(info.frames, 4000);
      assert.equal(info.duration, 0.5);
      const err = maxAbsDiff(samples, reference);
      assert.ok(err <= f.tol, `max error ${err} > ${f.tol}`);
    });
  }

  test('stereo is mixed down by the mean of channels, or one channel is picked', async () => {
    // Left: the sine; right: silence.
    const file = sox('stereo.wav', '-n', '-r', `${RATE}`, '-b', '16', '-c', '2', ...synth, 'remix', '1', '0');
    const mix = await readWav(file);
    assert.equal(mix.info.channels, 2);
    assert.ok(Math.abs(tone(mix.samples, RATE, 440).amplitude - 0.25) < 1e-3);
    const left = await readWav(file, { channel: 0 });
    assert.ok(maxAbsDiff(left.samples, reference) <= 1 / 32768);
    const right = await readWav(file, { channel: 1 });
    assert.equal(rms(right.samples), 0);
    await assert.rejects(readWav(file, { channel: 2 }), (e: unknown) => isLoupeError(e, 'INVALID_ARGUMENT'));
  });

  test('4-channel 16-bit WAVE_FORMAT_EXTENSIBLE', async () => {
    const file = sox(
      'quad.wav',
      '-n',
      '-r',
      `${RATE}`,
      '-b',
      '16',
      '-c',
      '4',
      ...synth,
      'remix',
      '1',
      '1',
      '1',
      '1',
    );
    const { samples, info } = await readWav(file);
    assert.equal(info.channels, 4);
    assert.equal(info.extensible, true);
    assert.ok(maxAbsDiff(samples, reference) <= 1 / 32768);
  });

  test('a frame range reads exactly those frames; a buffer decodes like the file', async () => {
    const file = path.join(dir, 's16.wav');
    const whole = await readWav(file);
    const part = await readWav(file, { startFrame: 1000, endFrame: 1500 });
    assert.deepEqual(part.samples, whole.samples.subarray(1000, 1500));
    const fromBuffer = await decodeWav(await readFile(file), 'mem.wav');
    assert.deepEqual(fromBuffer.samples, whole.samples);
    assert.equal((await readWavInfo(file)).frames, 4000);
  });

  test('resampling removes what lies above the new Nyquist frequency and keeps the length exact', async () => {
    // 1 kHz (kept) plus 6.5 kHz, which at 8 kHz would fold back to 1.5 kHz without a low-pass.
    const file = sox(
      'mix48k.wav',
      ...['-n', '-r', '48000', '-e', 'floating-point', '-b', '32', '--'],
      ...['synth', '1', 'sine', '1000', 'sine', '6500', 'channels', '1', 'vol', '0.8'],
    );
    const native = await readWav(file);
    assert.ok(tone(native.samples, 48000, 6500).amplitude > 0.3);
    const { samples, sampleRate } = await readWav(file, { sampleRate: 8000 });
    assert.equal(sampleRate, 8000);
    assert.equal(samples.length, 8000);
    const inner = [800, 7200] as const;
    assert.ok(
      Math.abs(tone(samples, 8000, 1000, ...inner).amplitude - tone(native.samples, 48000, 1000).amplitude) <
        1e-3,
    );
    assert.ok(tone(samples, 8000, 1500, ...inner).amplitude < 1e-3, 'the 6.5 kHz tone aliased');
    assert.equal(await resample(samples, 8000, 8000), samples);
    assert.equal((await resample(new Float32Array(441), 44100, 16000)).length, 160);
    await assert.rejects(resample(samples, 8000, 0), (e: unknown) => isLoupeError(e, 'INVALID_ARGUMENT'));
  });

  for (const [codec, name] of [
    ['ima-adpcm', /IMA ADPCM/],
    ['ms-adpcm', /Microsoft ADPCM/],
    ['a-law', /A-law/],
    ['gsm-full-rate', /GSM/],
  ] as const) {
    test(`rejects a compressed WAV (${codec}) with a conversion hint`, async () => {
      const file = sox(`${codec}.wav`, '-n', '-r', `${RATE}`, '-e', codec, ...synth);
      await rejectsCorrupt(readWav(file), file, name);
      await rejectsCorrupt(readWavInfo(file), file, /convert it to PCM WAV/);
    });
  }

  test('a truncated file is reported as truncated', async () => {
    const whole = await readFile(path.join(dir, 's16.wav'));
    const file = path.join(dir, 'truncated.wav');
    await writeFile(file, whole.subarray(0, whole.length / 2));
    await rejectsCorrupt(readWav(file), file, /truncated/);
  });
});

describe('hostile WAV headers', () => {
  const samples = int16(0, 16384, -32768, 32767);
  const samples16 = samples;
  const cases: [string, Buffer, RegExp][] = [
    ['text.wav', Buffer.from('hello, this is not audio at all'), /not a WAV file: it starts with 'hell'/],
    ['tiny.wav', Buffer.from('RIFF'), /only 4 bytes/],
    ['avi.wav', Buffer.concat([Buffer.from('RIFF\x04\x00\x00\x00AVI ', 'latin1')]), /not WAVE audio/],
    ['rf64.wav', Buffer.from('RF64\xff\xff\xff\xffWAVE', 'latin1'), /RF64/],
    ['zero.wav', riff(chunk('fmt ', fmtBody()), chunk('data', Buffer.alloc(0))), /zero-length audio/],
    ['partial-frame.wav', riff(chunk('fmt ', fmtBody()), chunk('data', Buffer.alloc(1))), /zero-length/],
    ['no-data.wav', riff(chunk('fmt ', fmtBody())), /no data chunk/],
    ['no-fmt.wav', riff(chunk('data', samples)), /no fmt chunk/],
    [
      'data-lies.wav',
      riff(chunk('fmt ', fmtBody()), chunk('data', samples, 1_000_000)),
      /declares 1000000 bytes but only 8 remain: the file is truncated/,
    ],
    [
      'fmt-lies.wav',
      riff(chunk('fmt ', fmtBody(), 0x7fffffff), chunk('data', samples)),
      /implausible fmt chunk size/,
    ],
    [
      'short-fmt.wav',
      riff(chunk('fmt ', Buffer.alloc(8)), chunk('data', samples)),
      /implausible fmt chunk size of 8/,
    ],
    [
      'chunk-lies.wav',
      riff(chunk('LIST', Buffer.alloc(4), 4096), chunk('fmt ', fmtBody()), chunk('data', samples)),
      /'LIST' at byte 12 declares 4096 bytes, past the end/,
    ],
    [
      'zero-channels.wav',
      riff(chunk('fmt ', fmtBody({ channels: 0, blockAlign: 2 })), chunk('data', samples)),
      /channel count 0/,
    ],
    [
      'many-channels.wav',
      riff(chunk('fmt ', fmtBody({ channels: 60000, blockAlign: 2 })), chunk('data', samples)),
      /channel count 60000/,
    ],
    ['zero-rate.wav', riff(chunk('fmt ', fmtBody({ rate: 0 })), chunk('data', samples)), /sample rate 0 Hz/],
    [
      'block-align.wav',
      riff(chunk('fmt ', fmtBody({ blockAlign: 3 })), chunk('data', samples)),
      /block align of 3 bytes does not match/,
    ],
    [
      '12-bit.wav',
      riff(chunk('fmt ', fmtBody({ bits: 12, blockAlign: 2 })), chunk('data', samples)),
      /12 bits/,
    ],
    [
      'float16.wav',
      riff(chunk('fmt ', fmtBody({ tag: 3, bits: 16 })), chunk('data', samples)),
      /float sample size of 16 bits/,
    ],
    [
      'mp3.wav',
      riff(chunk('fmt ', fmtBody({ tag: 0x55 })), chunk('data', samples)),
      /MP3 \(format tag 0x0055\)/,
    ],
    [
      'unknown-codec.wav',
      riff(chunk('fmt ', fmtBody({ tag: 0x1234 })), chunk('data', samples)),
      /unknown codec/,
    ],
    [
      'garbage-chunk.wav',
      riff(chunk('fmt ', fmtBody()), Buffer.from([0, 1, 2, 3, 4, 0, 0, 0, 9, 9, 9, 9])),
      /invalid chunk id/,
    ],
    [
      'nan.wav',
      riff(
        chunk('fmt ', fmtBody({ tag: 3, bits: 32 })),
        chunk('data', Buffer.from(new Float32Array([0, NaN]).buffer)),
      ),
      /frame 1 is not a finite number/,
    ],
  ];
  for (const [name, bytes, pattern] of cases) {
    test(`${name}: CORRUPT_FILE naming the file`, async () => {
      await rejectsCorrupt(decodeWav(bytes, name), name, pattern);
    });
  }

  test('the file variant names the path; a missing file is NOT_FOUND', async () => {
    const file = path.join(dir, 'text.wav');
    await writeFile(file, 'not audio');
    await rejectsCorrupt(readWav(file), file, /not a WAV file/);
    await assert.rejects(readWav(path.join(dir, 'missing.wav')), (e: unknown) =>
      isLoupeError(e, 'NOT_FOUND'),
    );
  });

  test('skips unknown chunks and the pad byte after odd-sized ones; ignores what follows the data', async () => {
    const bytes = riff(
      chunk('LIST', Buffer.from('abc')), // odd: one pad byte follows
      chunk('fmt ', fmtBody({ bits: 8 })),
      chunk('junk', Buffer.from('12345')),
      chunk('data', Buffer.from([128, 192, 0, 255, 64])), // odd data, padded too
      chunk('id3 ', Buffer.from('tag')),
      Buffer.from('trailing rubbish'),
    );
    const { samples, info } = await decodeWav(bytes, 'odd.wav');
    assert.equal(info.frames, 5);
    assert.deepEqual([...samples], [0, 0.5, -1, 127 / 128, -0.5]);
  });

  test('integer scaling: -32768 → -1, 16384 → 0.5; 24-bit sign extension; fmt after data', async () => {
    const s16 = await decodeWav(riff(chunk('data', samples), chunk('fmt ', fmtBody())), 'late-fmt.wav');
    assert.deepEqual([...s16.samples], [0, 0.5, -1, 32767 / 32768]);
    const s24 = await decodeWav(
      riff(
        chunk('fmt ', fmtBody({ bits: 24 })),
        chunk('data', Buffer.from([0, 0, 0x80, 0xff, 0xff, 0xff, 0, 0, 0x40])),
      ),
      's24.wav',
    );
    assert.deepEqual([...s24.samples], [-1, -1 / 8388608, 0.5]);
  });

  test('WAVE_FORMAT_EXTENSIBLE: float sub-format decodes; ADPCM or a foreign GUID is rejected', async () => {
    const ext = (
      subTag: number,
      guidTail = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71],
    ) => {
      const b = Buffer.alloc(40);
      fmtBody({ tag: 0xfffe, bits: 32 }).copy(b);
      b.writeUInt16LE(22, 16); // cbSize
      b.writeUInt16LE(32, 18); // valid bits
      b.writeUInt32LE(4, 20); // channel mask: front centre
      b.writeUInt16LE(subTag, 24);
      Buffer.from(guidTail).copy(b, 26);
      return riff(chunk('fmt ', b), chunk('data', Buffer.from(new Float32Array([0.25, -0.75]).buffer)));
    };
    const { samples, info } = await decodeWav(ext(3), 'ext-float.wav');
    assert.deepEqual([info.encoding, info.extensible, [...samples]], ['float', true, [0.25, -0.75]]);
    await rejectsCorrupt(decodeWav(ext(0x11), 'ext-ima.wav'), 'ext-ima.wav', /IMA ADPCM/);
    await rejectsCorrupt(
      decodeWav(ext(1, new Array(14).fill(7)), 'ext-guid.wav'),
      'ext-guid.wav',
      /sub-format/,
    );
    const short = riff(chunk('fmt ', fmtBody({ tag: 0xfffe })), chunk('data', samples16));
    await rejectsCorrupt(decodeWav(short, 'ext-short.wav'), 'ext-short.wav', /too short/);
  });

  test('a data size of 0xFFFFFFFF (left by streaming writers) means "to the end of the file"', async () => {
    const bytes = riff(chunk('fmt ', fmtBody()), chunk('data', samples, 0xffffffff));
    const { samples: out } = await decodeWav(bytes, 'stream.wav');
    assert.equal(out.length, 4);
  });
});

// ---------- labels ----------

describe('Audacity label files', () => {
  test('tabs, spaces, CRLF, a BOM, point labels, spectral lines and label text with spaces', () => {
    const text =
      '\uFEFF0.500000\t1.250000\tchirp\r\n' +
      '\\\t1500.000000\t5000.000000\r\n' +
      '2\t2\tclick\r\n' +
      '\r\n' +
      '3.5   4.0   bird song  \n' +
      '\\\t-1.000000\t-1.000000\n';
    const { labels, problems } = parseAudacityLabels(text);
    assert.deepEqual(problems, []);
    assert.deepEqual(labels, [
      { line: 1, start: 0.5, end: 1.25, label: 'chirp', lowHz: 1500, highHz: 5000 },
      { line: 3, start: 2, end: 2, label: 'click' },
      { line: 5, start: 3.5, end: 4, label: 'bird song', lowHz: -1, highHz: -1 },
    ]);
  });

  test('every unusable line is reported with its number and reason', () => {
    const text = [
      'abc\t1.0\tx', // 1 bad start
      '1,5\t2.0\tx', // 2 comma decimal
      '1.0\t0x10\tx', // 3 hex is not a number
      '1.0\t2.0\t   ', // 4 empty label
      '3.0\t2.0\tx', // 5 end before start
      'lonely', // 6 one field
      '\\\t100\t200', // 7 spectral line after a bad line: belongs to it, no extra problem
      '', // 8
      '\\\t100\t200', // 9 stray spectral line
      '1\t2\tok', // 10
      '\\\tlow\thigh', // 11 malformed band
      '1e0\t2E0\tsci', // 12 exponent notation is fine
      '1\tInfinity\tx', // 13
    ].join('\n');
    const { labels, problems } = parseAudacityLabels(text);
    assert.deepEqual(
      labels.map((l) => [l.line, l.label]),
      [
        [10, 'ok'],
        [12, 'sci'],
      ],
    );
    assert.deepEqual(
      problems.map((p) => [p.line, p.code]),
      [
        [1, 'bad-number'],
        [2, 'bad-number'],
        [3, 'bad-number'],
        [4, 'empty-label'],
        [5, 'end-before-start'],
        [6, 'bad-line'],
        [9, 'bad-line'],
        [11, 'bad-line'],
        [13, 'bad-number'],
      ],
    );
    assert.match(problems[1]!.reason, /use '\.' as the decimal separator/);
    assert.match(problems[4]!.reason, /end 2\.0 s is before start 3\.0 s/);
  });
});

describe('segments from labels', () => {
  const rec: RecordingRef = { file: '/x/rec.wav', duration: 10, sampleRate: 16000 };
  const labels = (text: string) => parseAudacityLabels(text).labels;

  test('labels become segments with exact times; overlaps are kept and reported', () => {
    const { segments, problems } = segmentsFromLabels(
      labels('1\t2\ta\n1.5\t2.5\tb\n5\t5.25\ta\n'),
      rec,
      '/x/rec.txt',
    );
    assert.deepEqual(
      segments.map((s) => [s.label, s.start, s.end, s.duration, s.padBefore, s.padAfter, s.line]),
      [
        ['a', 1, 2, 1, 0, 0, 1],
        ['b', 1.5, 2.5, 1, 0, 0, 2],
        ['a', 5, 5.25, 0.25, 0, 0, 3],
      ],
    );
    assert.equal(segments[0]!.recording, '/x/rec.wav');
    assert.equal(segments[0]!.sampleRate, 16000);
    assert.deepEqual(
      problems.map((p) => [p.line, p.severity, p.code]),
      [[2, 'warning', 'overlap']],
    );
    assert.match(problems[0]!.reason, /'b' \(line 2\) overlaps 'a' \(line 1\) by 0\.5 s; both kept/);
  });

  test("labels beyond the recording: clipped with a warning, or rejected with policy 'reject'", () => {
    const text = '-0.5\t1\tearly\n9.5\t10.75\tlate\n11\t12\toutside\n9.99995\t10.00004\ttiny-overshoot\n';
    const clip = segmentsFromLabels(labels(text), rec, 'l.txt');
    assert.deepEqual(
      clip.segments.map((s) => [s.label, s.start, s.end, s.labelStart, s.labelEnd]),
      [
        ['early', 0, 1, -0.5, 1],
        ['late', 9.5, 10, 9.5, 10.75],
        ['tiny-overshoot', 9.99995, 10, 9.99995, 10.00004],
      ],
    );
    assert.deepEqual(
      clip.problems.map((p) => [p.line, p.severity, p.code]),
      [
        [1, 'warning', 'clipped'],
        [2, 'warning', 'clipped'],
        [3, 'skipped', 'out-of-range'],
        [4, 'warning', 'overlap'],
      ],
    );
    const reject = segmentsFromLabels(labels(text), rec, 'l.txt', { policy: 'reject' });
    assert.deepEqual(
      reject.segments.map((s) => s.label),
      ['tiny-overshoot'],
    );
    assert.deepEqual(
      reject.problems.map((p) => [p.line, p.code]),
      [
        [1, 'out-of-range'],
        [2, 'out-of-range'],
        [3, 'out-of-range'],
      ],
    );
  });

  test('duplicates, point labels and the duration limits are skipped with reasons', () => {
    const text = '1\t2\ta\n1\t2\ta\n3\t3\tpoint\n4\t4.05\tshort\n5\t8\tlong\n';
    const { segments, problems } = segmentsFromLabels(labels(text), rec, 'l.txt', {
      minDuration: 0.1,
      maxDuration: 2,
    });
    assert.deepEqual(
      segments.map((s) => s.line),
      [1],
    );
    assert.deepEqual(
      problems.map((p) => [p.line, p.severity, p.code]),
      [
        [2, 'skipped', 'duplicate'],
        [3, 'skipped', 'point-label'],
        [4, 'skipped', 'too-short'],
        [5, 'skipped', 'too-long'],
      ],
    );
  });

  test('fixed length: centred crop, zero padding, context padding, and point labels as centres', () => {
    const text = '2\t4\tlong\n5\t5.5\tshort\n0.1\t0.3\tedge\n7\t7\tpoint\n';
    const zeros = segmentsFromLabels(labels(text), rec, 'l.txt', { fit: { duration: 1 } });
    assert.deepEqual(
      zeros.segments.map((s) => [s.label, s.start, s.end, s.padBefore, s.padAfter, s.duration]),
      [
        ['long', 2.5, 3.5, 0, 0, 1],
        ['short', 5, 5.5, 0.25, 0.25, 1],
        ['edge', 0.1, 0.3, 0.4, 0.4, 1],
        ['point', 7, 7, 0.5, 0.5, 1],
      ],
    );
    const context = segmentsFromLabels(labels(text), rec, 'l.txt', { fit: { duration: 1, pad: 'context' } });
    assert.deepEqual(
      context.segments.map((s) => [s.label, s.start, s.end, s.padBefore, s.padAfter, s.duration]),
      [
        ['long', 2.5, 3.5, 0, 0, 1],
        ['short', 4.75, 5.75, 0, 0, 1],
        ['edge', 0, 0.7, 0.3, 0, 1],
        ['point', 6.5, 7.5, 0, 0, 1],
      ],
    );
    assert.deepEqual(context.problems, []);
  });

  test('invalid options are INVALID_ARGUMENT', () => {
    for (const o of [
      { minDuration: -1 },
      { maxDuration: 0 },
      { minDuration: 2, maxDuration: 1 },
      { fit: { duration: 0 } },
    ])
      assert.throws(
        () => segmentsFromLabels([], rec, 'l.txt', o),
        (e: unknown) => isLoupeError(e, 'INVALID_ARGUMENT'),
      );
  });
});

describe('windows', () => {
  const rec = (duration: number): RecordingRef => ({ file: 'r.wav', duration, sampleRate: 16000 });
  const spans = (r: ReturnType<typeof windowRecording>) =>
    r.windows.map((w) => [w.index, w.start, w.end, w.padAfter]);

  test('non-overlapping windows; the tail is padded, or dropped and reported', () => {
    assert.deepEqual(spans(windowRecording(rec(10), { length: 3 })), [
      [0, 0, 3, 0],
      [1, 3, 6, 0],
      [2, 6, 9, 0],
      [3, 9, 10, 2],
    ]);
    const dropped = windowRecording(rec(10), { length: 3, tail: 'drop' });
    assert.equal(dropped.windows.length, 3);
    assert.deepEqual(
      dropped.problems.map((p) => [p.code, p.reason]),
      [['window-tail', "the last 1 s (from 9 s) are in no full window; tail 'drop' leaves them out"]],
    );
    assert.deepEqual(spans(windowRecording(rec(9), { length: 3 })).length, 3);
  });

  test('overlapping windows keep exact boundaries over a long recording', () => {
    const { windows, problems } = windowRecording(rec(3600), { length: 0.3, hop: 0.1 });
    assert.deepEqual(problems, []);
    assert.equal(windows.length, 35998);
    assert.deepEqual([windows[3]!.start, windows[3]!.end], [0.3, 0.6]);
    const last = windows.at(-1)!;
    assert.deepEqual([last.start, last.end, last.padAfter, last.duration], [3599.7, 3600, 0, 0.3]);
    assert.ok(windows.every((w, k) => w.start === Math.round(k * 0.1 * 1e6) / 1e6));
  });

  test('shorter than a window; hop longer than the window', () => {
    assert.deepEqual(spans(windowRecording(rec(0.5), { length: 2 })), [[0, 0, 0.5, 1.5]]);
    const none = windowRecording(rec(0.5), { length: 2, tail: 'drop' });
    assert.deepEqual([none.windows.length, none.problems[0]!.code], [0, 'too-short-for-window']);
    assert.deepEqual(spans(windowRecording(rec(10), { length: 1, hop: 4 })), [
      [0, 0, 1, 0],
      [1, 4, 5, 0],
      [2, 8, 9, 0],
    ]);
    assert.throws(
      () => windowRecording(rec(1), { length: 1, hop: 0 }),
      (e: unknown) => isLoupeError(e, 'INVALID_ARGUMENT'),
    );
  });
});

describe('reading spans', needsSox, () => {
  let file: string;
  before(() => {
    // A ramp makes every sample's position visible: sample i of a 1 s, 8 kHz file is near i / 8000.
    file = sox(
      'ramp.wav',
      '-n',
      '-r',
      '8000',
      '-e',
      'floating-point',
      '-b',
      '32',
      '--',
      'synth',
      '1',
      'sawtooth',
      '0.5',
    );
  });

  const span = (start: number, end: number, padBefore = 0, padAfter = 0): AudioSpan => ({
    recording: file,
    sampleRate: 8000,
    start,
    end,
    padBefore,
    padAfter,
    duration: padBefore + (end - start) + padAfter,
  });

  test('cutSpan places the audio after the padding and has round(duration × rate) samples', () => {
    const x = Float32Array.from({ length: 10 }, (_, i) => i + 1);
    assert.deepEqual([...cutSpan(x, 10, span(0.2, 0.5, 0.1, 0.2))], [0, 3, 4, 5, 0, 0]);
    assert.deepEqual([...cutSpan(x, 10, span(0.8, 1.0, 0, 0.1))], [9, 10, 0]);
  });

  test('readSpan reads only the span and matches loadSpans, at the file rate and resampled', async () => {
    const spans = [span(0.25, 0.5), span(0.1, 0.2, 0.05, 0.05), span(0.9, 1, 0, 0.2)];
    const whole = await readWav(file);
    const loaded = await loadSpans(spans);
    assert.deepEqual(
      loaded.map((s) => s.length),
      [2000, 1600, 2400],
    );
    assert.deepEqual(loaded[0], whole.samples.subarray(2000, 4000));
    for (const [i, s] of spans.entries()) assert.deepEqual(await readSpan(s), loaded[i]);
    const resampled = await loadSpans(spans, { sampleRate: 16000 });
    assert.deepEqual(
      resampled.map((s) => s.length),
      [4000, 3200, 4800],
    );
    for (const [i, s] of spans.entries()) {
      const alone = await readSpan(s, { sampleRate: 16000 });
      assert.ok(maxAbsDiff(alone, resampled[i]!) < 1e-4, `span ${i}`);
    }
  });

  test('a span read alone at a rate not dividing the file rate lines up with the whole-file decode', async () => {
    // 22050 → 16000 Hz: only every 441st frame falls on an output sample, so the read must start on one.
    const odd = sox(
      'ramp22k.wav',
      '-n',
      '-r',
      '22050',
      '-e',
      'floating-point',
      '-b',
      '32',
      '--',
      'synth',
      '2',
      'sawtooth',
      '3',
    );
    const spans = [0.1234, 0.5, 1.3333].map((start) => ({
      ...span(start, start + 0.25),
      recording: odd,
      sampleRate: 22050,
    }));
    const together = await loadSpans(spans, { sampleRate: 16000 });
    for (const [i, s] of spans.entries()) {
      const alone = await readSpan(s, { sampleRate: 16000 });
      assert.equal(alone.length, 4000);
      assert.ok(maxAbsDiff(alone, together[i]!) < 1e-4, `span ${i}: ${maxAbsDiff(alone, together[i]!)}`);
    }
  });
});

// ---------- folders ----------

describe('folder scan', needsSox, () => {
  let root: string;
  before(async () => {
    root = path.join(dir, 'scan');
    await mkdir(path.join(root, 'site-b', 'deep'), { recursive: true });
    const tone = (rel: string, seconds: number, rate = 16000) =>
      execFileSync('sox', [
        '-R',
        '-D',
        '-n',
        '-r',
        `${rate}`,
        '-b',
        '16',
        path.join(root, rel),
        'synth',
        `${seconds}`,
        'sine',
        '440',
      ]);
    tone('a.wav', 4);
    await writeFile(
      path.join(root, 'a.txt'),
      '0.5\t1.0\tbird\n1.5\t2.5\tfrog\nbad\tline\tx\n3.5\t4.5\tbird\n',
    );
    tone('B.WAV', 2);
    await writeFile(path.join(root, 'B.labels.txt'), '0.1\t0.2\tbird\n');
    await writeFile(path.join(root, 'B.txt'), '0\t1\tshadowed\n');
    tone('site-b/deep/c.wav', 3, 22050);
    tone('site-b/unlabelled.wav', 1);
    await writeFile(path.join(root, 'site-b', 'empty.wav'), '');
    await writeFile(path.join(root, 'site-b', 'empty.txt'), '0\t1\tx\n');
    tone('site-b/nothing.wav', 1);
    await writeFile(path.join(root, 'site-b', 'nothing.txt'), '');
    await writeFile(path.join(root, 'orphan.txt'), '0\t1\tx\n');
    await writeFile(path.join(root, 'song.flac'), 'fLaC');
    await writeFile(path.join(root, 'notes.md'), '# notes');
    await writeFile(path.join(root, '.DS_Store'), '');
  });

  test('pairs recordings with labels and reports everything it did not use', async () => {
    const scan = await scanAudioFolder(root, { policy: 'clip' });
    const rel = (f: string) => path.relative(root, f);
    assert.deepEqual(
      scan.recordings.map((r) => [rel(r.file), r.labelFile && rel(r.labelFile)]),
      [
        ['B.WAV', 'B.labels.txt'],
        ['a.wav', 'a.txt'],
        ['site-b/deep/c.wav', null],
        ['site-b/nothing.wav', 'site-b/nothing.txt'],
        ['site-b/unlabelled.wav', null],
      ],
    );
    assert.deepEqual(scan.classes, ['bird', 'frog']);
    assert.deepEqual(
      scan.segments.map((s) => [rel(s.recording), s.label, s.start, s.end]),
      [
        ['B.WAV', 'bird', 0.1, 0.2],
        ['a.wav', 'bird', 0.5, 1],
        ['a.wav', 'frog', 1.5, 2.5],
        ['a.wav', 'bird', 3.5, 4],
      ],
    );
    const r = scan.report;
    assert.deepEqual(r.segmentsPerClass, { bird: 3, frog: 1 });
    assert.deepEqual(r.secondsPerClass, { bird: 1.1, frog: 1 });
    assert.deepEqual(r.sampleRates, { 16000: 4, 22050: 1 });
    assert.deepEqual(
      [r.recordings, r.labelledRecordings, r.unlabelledRecordings.map(rel)],
      [5, 3, ['site-b/deep/c.wav', 'site-b/unlabelled.wav']],
    );
    assert.deepEqual(
      r.problems.map((p) => [rel(p.file), p.line ?? null, p.severity, p.code]),
      [
        ['B.txt', null, 'skipped', 'ambiguous-labels'],
        ['a.txt', 3, 'skipped', 'bad-number'],
        ['a.txt', 4, 'warning', 'clipped'],
        ['site-b/empty.wav', null, 'skipped', 'corrupt-audio'],
        ['site-b/nothing.txt', null, 'warning', 'empty-labels'],
        ['orphan.txt', null, 'skipped', 'orphan-labels'],
        ['song.flac', null, 'skipped', 'unsupported-audio'],
        ['', null, 'warning', 'mixed-sample-rates'],
      ],
    );
    assert.match(
      r.problems[3]!.reason,
      /empty\.wav: not a WAV file: only 0 bytes \(so its labels in empty\.txt are not used\)/,
    );
    assert.deepEqual(
      r.ignored.map((i) => [rel(i.file), i.reason]),
      [
        ['.DS_Store', 'hidden'],
        ['notes.md', 'not a WAV recording or label file'],
      ],
    );
    const text = formatAudioScanReport(r);
    assert.match(text, /5 recordings \(3 labelled, 2 unlabelled\), 16000 Hz \/ 22050 Hz/);
    assert.match(text, /segments {3}4 in 2 classes: bird 3 \(1\.1 s\), frog 1 \(1\.0 s\)/);
    assert.match(text, /problems {3}5 skipped, 3 warnings/);
    assert.match(text, /skipped {2}a\.txt:3 {2}bad-number: start time "bad" is not a number/);
  });

  test('follows symbolic links inside the folder, and not one that leads out of it', async () => {
    const inner = path.join(dir, 'links');
    const outside = path.join(dir, 'elsewhere');
    await mkdir(path.join(inner, 'real'), { recursive: true });
    await mkdir(outside, { recursive: true });
    const wav = await readFile(path.join(SAMPLE, 'rec-04.wav'));
    await writeFile(path.join(inner, 'real', 'kept.wav'), wav);
    await writeFile(path.join(outside, 'secret.wav'), wav);
    await symlink(path.join(inner, 'real'), path.join(inner, 'alias'));
    await symlink(outside, path.join(inner, 'out'));
    await symlink(path.join(outside, 'secret.wav'), path.join(inner, 'secret.wav'));
    const scan = await scanAudioFolder(inner);
    // The folder reached through the link is read once (its second path is a visited folder).
    assert.deepEqual(
      scan.recordings.map((r) => path.relative(inner, r.file)),
      ['alias/kept.wav'],
    );
    assert.deepEqual(
      scan.report.ignored
        .filter((i) => /outside/.test(i.reason))
        .map((i) => path.basename(i.file))
        .sort(),
      ['out', 'secret.wav'],
    );
  });

  test('a missing folder, or one without WAV files, is NOT_FOUND', async () => {
    await assert.rejects(scanAudioFolder(path.join(dir, 'nope')), (e: unknown) =>
      isLoupeError(e, 'NOT_FOUND'),
    );
    const empty = path.join(dir, 'no-wavs');
    await mkdir(empty);
    await writeFile(path.join(empty, 'a.txt'), '');
    await assert.rejects(scanAudioFolder(empty), (e: unknown) => isLoupeError(e, 'NOT_FOUND'));
  });
});

describe('the bundled sample', () => {
  test('scans to 36 segments, 12 per class, with one unlabelled recording and no problems', async () => {
    const scan = await scanAudioFolder(SAMPLE);
    const r = scan.report;
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.segmentsPerClass, { chirp: 12, noise: 12, tone: 12 });
    assert.deepEqual(r.sampleRates, { 16000: 4 });
    assert.deepEqual(
      r.unlabelledRecordings.map((f) => path.basename(f)),
      ['rec-04.wav'],
    );
    assert.deepEqual(
      r.ignored.map((i) => path.basename(i.file)),
      ['README.md'],
    );
    assert.deepEqual(
      scan.recordings.map((x) => [
        path.basename(x.file),
        x.labelFile && path.basename(x.labelFile),
        x.info.duration,
      ]),
      [
        ['rec-01.wav', 'rec-01.txt', 8],
        ['rec-02.wav', 'rec-02.txt', 8],
        ['rec-03.wav', 'rec-03.labels.txt', 8],
        ['rec-04.wav', null, 5],
      ],
    );
    const first = scan.segments[0]!;
    assert.deepEqual(
      [path.basename(first.recording), first.line, first.label, first.start, first.end],
      ['rec-01.wav', 1, 'noise', 0.443, 0.609],
    );
  });

  test('each label covers a burst: the audio is loud inside the labels and quiet between them', async () => {
    const scan = await scanAudioFolder(SAMPLE);
    const spans = scan.segments.filter((s) => s.recording.endsWith('rec-02.wav'));
    const { samples } = await readWav(spans[0]!.recording);
    const inside = (await loadSpans(spans)).map((x) => rms(x));
    assert.ok(Math.min(...inside) > 0.08, `quietest burst RMS ${Math.min(...inside)}`);
    for (let i = 1; i < spans.length; i++) {
      // the background between two bursts, 20 ms clear of each
      const gap = rms(
        samples,
        Math.round((spans[i - 1]!.end + 0.02) * 16000),
        Math.round((spans[i]!.start - 0.02) * 16000),
      );
      assert.ok(gap < 0.01, `background RMS ${gap} between bursts ${i - 1} and ${i}`);
    }
    const windows = windowRecording(
      { file: scan.unlabelled[0]!.file, duration: 5, sampleRate: 16000 },
      { length: 1, hop: 0.5 },
    );
    assert.equal(windows.windows.length, 9);
    assert.equal(
      (await loadSpans(windows.windows, { sampleRate: 8000 })).every((w) => w.length === 8000),
      true,
    );
  });
});
