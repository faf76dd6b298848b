import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { isLoupeError, LoupeError } from '../../../errors/loupe-error.js';
import { parseAudacityLabels } from './audacity-labels.js';
import { roundTime, type AudioProblem, type LabelledSegment } from './audio-items.js';
import type { AudioScanReport } from './audio-scan-report.js';
import { segmentsFromLabels, type SegmentOptions } from './label-segments.js';
import { readWavInfo } from './wav-decode.js';
import type { WavInfo } from './wav-header.js';
import { isWithin } from '../../../util/is-within.js';

export type AudioScanOptions = SegmentOptions;

export interface AudioRecording {
  /** Path of the WAV (root joined with its place under it). */
  file: string;
  /** The label file paired with it, or null for an unlabelled recording. */
  labelFile: string | null;
  info: WavInfo;
}

export interface AudioScan {
  root: string;
  /** Every readable recording, labelled or not, sorted by path. */
  recordings: AudioRecording[];
  /** Recordings without a label file, for windowing and prediction. */
  unlabelled: AudioRecording[];
  /** Class names in sorted order. */
  classes: string[];
  segments: LabelledSegment[];
  report: AudioScanReport;
}

const WAV = /\.wav$/i;
const LABELS = /\.txt$/i;
/** Audio the decoder cannot read, named so the report can say how to convert it. */
const OTHER_AUDIO = /\.(flac|mp3|ogg|oga|opus|m4a|aac|aiff?|aifc|wma|caf|amr|w64|rf64|wv)$/i;

interface Listing {
  files: string[];
  ignored: { file: string; reason: string }[];
  /** Sub-folders that could not be read (the root itself throws). */
  unreadable: { file: string; reason: string }[];
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Every file under `root`, sorted; hidden entries are listed as ignored, symlink loops cut.
 * Symbolic links are followed only while they stay inside the root: a link out of it would let
 * whoever can write into the folder make the ingest read elsewhere (the web app confines ingest
 * jobs to web.jobs.ingestRoots, and this keeps that confinement true below the root).
 */
async function walk(root: string): Promise<Listing> {
  const listing: Listing = { files: [], ignored: [], unreadable: [] };
  const seen = new Set<string>();
  const rootReal = await realpath(root);
  async function visit(dir: string): Promise<void> {
    let entries;
    try {
      const real = await realpath(dir);
      if (seen.has(real)) {
        listing.ignored.push({ file: dir, reason: 'folder already visited (symbolic link loop)' });
        return;
      }
      seen.add(real);
      entries = (await readdir(dir, { withFileTypes: true })).sort(byName);
    } catch (e) {
      if (dir === root) throw e;
      listing.unreadable.push({ file: dir, reason: `cannot read the folder: ${(e as Error).message}` });
      return;
    }
    for (const e of entries) {
      const full = path.join(dir, e.name);
      if (e.name.startsWith('.')) {
        listing.ignored.push({ file: full, reason: 'hidden' });
        continue;
      }
      const target = e.isSymbolicLink() ? await realpath(full).catch(() => undefined) : full;
      if (target !== undefined && !isWithin(rootReal, target)) {
        listing.ignored.push({ file: full, reason: 'symbolic link leads outside the folder' });
        continue;
      }
      const s = e.isSymbolicLink() ? await stat(full).catch(() => undefined) : e;
      if (!s) listing.ignored.push({ file: full, reason: 'broken symbolic link' });
      else if (s.isDirectory()) await visit(full);
      else if (s.isFile()) listing.files.push(full);
      else listing.ignored.push({ file: full, reason: 'not a regular file' });
    }
  }
  await visit(root);
  return listing;
}

/**
 * The label file for a recording `x.wav`: `x.labels.txt` or `x.txt` beside it (case-insensitive).
 * When both exist the more specific `x.labels.txt` wins and the other is reported.
 */
function pairLabels(
  wav: string,
  byLowerName: Map<string, string>,
): { labelFile: string | null; shadowed: string | null } {
  const base = path.basename(wav).replace(WAV, '').toLowerCase();
  const specific = byLowerName.get(`${base}.labels.txt`) ?? null;
  const plain = byLowerName.get(`${base}.txt`) ?? null;
  return specific ? { labelFile: specific, shadowed: plain } : { labelFile: plain, shadowed: null };
}

/**
 * Scans a folder, recursively, for WAV recordings and the Audacity label files beside them, and
 * cuts the labelled segments (see segmentsFromLabels for `options`). Only headers are read here;
 * span-samples.ts reads the audio. Nothing is dropped silently: unreadable recordings, label
 * lines that cannot be used, label files without a recording and other files all appear in the
 * report with the reason. Throws NOT_FOUND when the folder cannot be read or has no WAV at all.
 */
export async function scanAudioFolder(root: string, options: AudioScanOptions = {}): Promise<AudioScan> {
  let listing: Listing;
  try {
    listing = await walk(root);
  } catch (e) {
    throw new LoupeError(
      'NOT_FOUND',
      `cannot read the audio folder ${root}: ${(e as Error).message}`,
      { root },
      { cause: e },
    );
  }
  const wavs = listing.files.filter((f) => WAV.test(f));
  if (!wavs.length) throw new LoupeError('NOT_FOUND', `no .wav recordings under ${root}`, { root });

  const problems: AudioProblem[] = listing.unreadable.map((u) => ({
    file: u.file,
    severity: 'skipped' as const,
    code: 'unreadable' as const,
    reason: u.reason,
  }));
  const ignored = [...listing.ignored];
  const dirs = new Map<string, Map<string, string>>();
  for (const f of listing.files) {
    const dir = path.dirname(f);
    if (!dirs.has(dir)) dirs.set(dir, new Map());
    dirs.get(dir)!.set(path.basename(f).toLowerCase(), f);
  }
  const claimed = new Set<string>();
  const recordings: AudioRecording[] = [];
  const segments: LabelledSegment[] = [];

  for (const wav of wavs) {
    const { labelFile, shadowed } = pairLabels(wav, dirs.get(path.dirname(wav))!);
    if (labelFile) claimed.add(labelFile);
    if (shadowed) {
      claimed.add(shadowed);
      problems.push({
        file: shadowed,
        severity: 'skipped',
        code: 'ambiguous-labels',
        reason: `both ${path.basename(labelFile!)} and ${path.basename(shadowed)} label ${path.basename(wav)}; ${path.basename(labelFile!)} is used, this one is not`,
      });
    }
    let info: WavInfo;
    try {
      info = await readWavInfo(wav);
    } catch (e) {
      if (!isLoupeError(e)) throw e;
      const unsupported = /unsupported|not supported/.test(e.message);
      problems.push({
        file: wav,
        severity: 'skipped',
        code: unsupported ? 'unsupported-audio' : 'corrupt-audio',
        reason: `${e.message}${labelFile ? ` (so its labels in ${path.basename(labelFile)} are not used)` : ''}`,
      });
      continue;
    }
    const recording: AudioRecording = { file: wav, labelFile, info };
    recordings.push(recording);
    if (!labelFile) continue;
    let text: string;
    try {
      text = await readFile(labelFile, 'utf8');
    } catch (e) {
      problems.push({
        file: labelFile,
        severity: 'skipped',
        code: 'unreadable',
        reason: (e as Error).message,
      });
      continue;
    }
    const parsed = parseAudacityLabels(text);
    for (const p of parsed.problems) problems.push({ file: labelFile, severity: 'skipped', ...p });
    if (!parsed.labels.length && !parsed.problems.length)
      problems.push({
        file: labelFile,
        severity: 'warning',
        code: 'empty-labels',
        reason: `the label file is empty, so ${path.basename(wav)} gives no segments (it is not treated as unlabelled)`,
      });
    const cut = segmentsFromLabels(
      parsed.labels,
      { file: wav, duration: info.duration, sampleRate: info.sampleRate },
      labelFile,
      options,
    );
    segments.push(...cut.segments);
    problems.push(...cut.problems);
  }

  for (const f of listing.files) {
    if (WAV.test(f) || claimed.has(f)) continue;
    if (LABELS.test(f))
      problems.push({
        file: f,
        severity: 'skipped',
        code: 'orphan-labels',
        reason: `no recording beside it (expected ${path.basename(f).replace(/(\.labels)?\.txt$/i, '')}.wav)`,
      });
    else if (OTHER_AUDIO.test(f))
      problems.push({
        file: f,
        severity: 'skipped',
        code: 'unsupported-audio',
        reason: `only WAV is read; convert it, e.g. \`sox ${path.basename(f)} ${path.basename(f).replace(OTHER_AUDIO, '.wav')}\``,
      });
    else ignored.push({ file: f, reason: 'not a WAV recording or label file' });
  }

  const sampleRates: Record<string, number> = {};
  for (const r of recordings) sampleRates[r.info.sampleRate] = (sampleRates[r.info.sampleRate] ?? 0) + 1;
  if (Object.keys(sampleRates).length > 1)
    problems.push({
      file: root,
      severity: 'warning',
      code: 'mixed-sample-rates',
      reason: `recordings have different sample rates (${Object.keys(sampleRates).join(', ')} Hz): read them at one rate (the sampleRate option) to build a dataset`,
    });

  const classes = [...new Set(segments.map((s) => s.label))].sort();
  const segmentsPerClass: Record<string, number> = {};
  const secondsPerClass: Record<string, number> = {};
  for (const c of classes) {
    segmentsPerClass[c] = 0;
    secondsPerClass[c] = 0;
  }
  for (const s of segments) {
    segmentsPerClass[s.label]!++;
    secondsPerClass[s.label]! += s.end - s.start;
  }
  for (const c of classes) secondsPerClass[c] = roundTime(secondsPerClass[c]!);
  const unlabelled = recordings.filter((r) => !r.labelFile);
  return {
    root,
    recordings,
    unlabelled,
    classes,
    segments,
    report: {
      root,
      recordings: recordings.length,
      labelledRecordings: recordings.length - unlabelled.length,
      unlabelledRecordings: unlabelled.map((r) => r.file),
      segments: segments.length,
      segmentsPerClass,
      secondsPerClass,
      sampleRates,
      problems,
      ignored,
    },
  };
}
