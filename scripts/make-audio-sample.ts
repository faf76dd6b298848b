/**
 * Writes the bundled audio sample, samples/audio/: short synthetic recordings of three kinds of
 * "burst" (a rising chirp, a noise burst, a steady tone) over faint pink noise, with Audacity
 * label files giving when each burst happens, plus one recording left unlabelled for
 * pre-labelling. Everything is synthesised by sox from a seeded plan, so the output is the same
 * on every run (sox's -R makes its noise repeatable) and free of any licence.
 *
 *   node --import tsx scripts/make-audio-sample.ts [--out DIR] [--seed 7]
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { formatAudioScanReport } from '../src/data/sources/audio/audio-scan-report.js';
import { scanAudioFolder } from '../src/data/sources/audio/audio-folder.js';
import { LoupeError } from '../src/errors/loupe-error.js';
import { seededRandom } from '../src/train/random.js';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const SAMPLE_RATE = 16_000;
/** Pink-noise level under the bursts (linear amplitude, about -34 dBFS). */
const BACKGROUND = 0.02;
/** A short fade at both ends of every burst, so no burst starts with a click. */
const FADE = 0.01;

type BurstClass = 'chirp' | 'noise' | 'tone';

/** How each class sounds: sox `synth` arguments and the range of its durations (seconds). */
const CLASSES: Record<BurstClass, { synth: string[]; duration: [number, number]; band: [number, number] }> = {
  chirp: { synth: ['sine', '1500:5000'], duration: [0.3, 0.4], band: [1500, 5000] },
  noise: { synth: ['whitenoise'], duration: [0.15, 0.25], band: [0, 8000] },
  tone: { synth: ['sine', '1000'], duration: [0.2, 0.3], band: [1000, 1000] },
};

interface Recording {
  name: string;
  seconds: number;
  /** Label file name, or null for the unlabelled recording. */
  labels: string | null;
}

// Both label-file conventions appear, and one recording has none: the scanner is shown all three.
const RECORDINGS: Recording[] = [
  { name: 'rec-01', seconds: 8, labels: 'rec-01.txt' },
  { name: 'rec-02', seconds: 8, labels: 'rec-02.txt' },
  { name: 'rec-03', seconds: 8, labels: 'rec-03.labels.txt' },
  { name: 'rec-04', seconds: 5, labels: null },
];
const BURSTS_PER_CLASS_PER_8S = 4;

interface Burst {
  cls: BurstClass;
  start: number;
  end: number;
  amplitude: number;
}

const ms = (t: number) => Math.round(t * 1000) / 1000;

/**
 * One burst per slot of equal length, the classes in shuffled order, each at a random place in
 * its slot with at least 0.1 s of background between neighbours.
 */
function plan(seconds: number, random: () => number): Burst[] {
  const perClass = Math.max(1, Math.round((BURSTS_PER_CLASS_PER_8S * seconds) / 8));
  const order: BurstClass[] = [];
  for (const cls of Object.keys(CLASSES) as BurstClass[]) for (let i = 0; i < perClass; i++) order.push(cls);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const slot = (seconds - 0.2) / order.length;
  return order.map((cls, k) => {
    const [lo, hi] = CLASSES[cls].duration;
    const duration = ms(lo + random() * (hi - lo));
    const start = ms(0.1 + k * slot + 0.05 + random() * (slot - duration - 0.1));
    return { cls, start, end: ms(start + duration), amplitude: ms(0.3 + random() * 0.3) };
  });
}

async function sox(args: string[]): Promise<void> {
  try {
    await run('sox', ['-R', '-D', ...args]);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new LoupeError(
        'MISSING_DEPENDENCY',
        'sox is needed to synthesise the audio sample: apt-get install sox',
      );
    throw e;
  }
}

async function synthesise(rec: Recording, bursts: Burst[], out: string, work: string): Promise<void> {
  const float = ['-r', String(SAMPLE_RATE), '-c', '1', '-e', 'floating-point', '-b', '32'];
  const background = path.join(work, `${rec.name}-bg.wav`);
  await sox([
    '-n',
    ...float,
    background,
    'synth',
    String(rec.seconds),
    'pinknoise',
    'vol',
    String(BACKGROUND),
  ]);
  const parts = [background];
  for (const [i, b] of bursts.entries()) {
    const file = path.join(work, `${rec.name}-${i}.wav`);
    const d = String(ms(b.end - b.start));
    await sox([
      '-n',
      ...float,
      file,
      'synth',
      d,
      ...CLASSES[b.cls].synth,
      'fade',
      'h',
      String(FADE),
      d,
      String(FADE),
      'vol',
      String(b.amplitude),
      'pad',
      String(b.start),
    ]);
    parts.push(file);
  }
  // -m sums the inputs (each at volume 1, not sox's default 1/n); bursts never overlap, so no clipping.
  await sox([
    '-m',
    ...parts.flatMap((p) => ['-v', '1', p]),
    '-e',
    'signed-integer',
    '-b',
    '16',
    path.join(out, `${rec.name}.wav`),
    'trim',
    '0',
    String(rec.seconds),
  ]);
}

/** Audacity's own export format: six decimals, tabs, and a band line after spectral labels. */
function labelFile(bursts: Burst[]): string {
  return bursts
    .map((b) => {
      const line = `${b.start.toFixed(6)}\t${b.end.toFixed(6)}\t${b.cls}\n`;
      const [low, high] = CLASSES[b.cls].band;
      return b.cls === 'chirp' ? `${line}\\\t${low.toFixed(6)}\t${high.toFixed(6)}\n` : line;
    })
    .join('');
}

function readme(plans: Map<string, Burst[]>, seed: number): string {
  const labelled = RECORDINGS.filter((r) => r.labels);
  const unlabelled = RECORDINGS.find((r) => !r.labels)!;
  const truth = plans
    .get(unlabelled.name)!
    .map((b) => `| ${b.start.toFixed(3)} | ${b.end.toFixed(3)} | ${b.cls} |`)
    .join('\n');
  return `# Audio sample: synthetic bursts

Tiny recordings for demos and tests of the audio burst classifier: three classes of short sound
("bursts") over faint background noise, with [Audacity](https://www.audacityteam.org/) label
files saying when each burst happens.

| class | what it is |
|---|---|
| \`chirp\` | a sine sweeping linearly from 1.5 to 5 kHz, 0.30–0.40 s |
| \`noise\` | a white-noise burst, 0.15–0.25 s |
| \`tone\` | a steady 1 kHz sine, 0.20–0.30 s |

Every burst has a ${FADE * 1000} ms fade in and out and a random amplitude between 0.3 and 0.6; the
background is pink noise at amplitude ${BACKGROUND}. All files are WAV, ${SAMPLE_RATE / 1000} kHz, mono, 16-bit.

| recording | seconds | labels |
|---|---|---|
${RECORDINGS.map((r) => `| \`${r.name}.wav\` | ${r.seconds} | ${r.labels ? `\`${r.labels}\`` : 'none (for windowing / pre-labelling)'} |`).join('\n')}

The label files use both conventions Loupe pairs with \`x.wav\` (\`x.txt\` and \`x.labels.txt\`),
and each \`chirp\` label carries the spectral-selection line (\`\\<TAB>low<TAB>high\`) that Audacity
writes for labels made on a spectrogram selection. ${labelled.length} labelled recordings give
${labelled.length * BURSTS_PER_CLASS_PER_8S} segments of each class.

\`${unlabelled.name}.wav\` has no label file; its bursts, for checking predictions, are:

| start (s) | end (s) | class |
|---|---|---|
${truth}

## Provenance and licence

Synthesised from nothing by [SoX](https://sox.sourceforge.net/) (no recorded sound is used), so
the sample is dedicated to the public domain under
[CC0 1.0](https://creativecommons.org/publicdomain/zero/1.0/).

Regenerate with \`node --import tsx scripts/make-audio-sample.ts\` (needs \`sox\`; burst times come
from seed ${seed}). With the same SoX version the output is byte-for-byte the same.
`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: path.join(repoRoot, 'samples/audio') },
      seed: { type: 'string', default: '7' },
    },
  });
  const seed = Number(values.seed);
  if (!Number.isInteger(seed)) throw new LoupeError('INVALID_ARGUMENT', '--seed takes a whole number');
  const random = seededRandom(seed);
  await mkdir(values.out, { recursive: true });
  // Start clean so renamed or removed recordings leave nothing stale behind.
  for (const f of await readdir(values.out)) if (/\.(wav|txt)$/.test(f)) await rm(path.join(values.out, f));
  const work = await mkdtemp(path.join(tmpdir(), 'loupe-audio-sample-'));
  const plans = new Map<string, Burst[]>();
  try {
    for (const rec of RECORDINGS) {
      const bursts = plan(rec.seconds, random);
      plans.set(rec.name, bursts);
      await synthesise(rec, bursts, values.out, work);
      if (rec.labels) await writeFile(path.join(values.out, rec.labels), labelFile(bursts));
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  await writeFile(path.join(values.out, 'README.md'), readme(plans, seed));
  const scan = await scanAudioFolder(values.out);
  console.log(formatAudioScanReport(scan.report));
}

await main();
