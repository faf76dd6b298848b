import path from 'node:path';
import type { AudioProblem } from './audio-items.js';

/** What a folder scan found, and everything it left out with the reason. */
export interface AudioScanReport {
  root: string;
  /** Readable WAV recordings. */
  recordings: number;
  labelledRecordings: number;
  /** Recordings without a label file: usable for windowing and prediction. */
  unlabelledRecordings: string[];
  segments: number;
  segmentsPerClass: Record<string, number>;
  /** Seconds of labelled audio per class (spans as cut, padding excluded). */
  secondsPerClass: Record<string, number>;
  /** Number of recordings at each sample rate (Hz). */
  sampleRates: Record<string, number>;
  problems: AudioProblem[];
  /** Files that are neither recordings nor label files (hidden ones included). */
  ignored: { file: string; reason: string }[];
}

/** A few lines for a terminal: counts, classes, then every problem with its place. */
export function formatAudioScanReport(report: AudioScanReport, maxProblems = 50): string {
  const rel = (f: string) => path.relative(report.root, f) || '.';
  const rates = Object.keys(report.sampleRates).map((r) => `${r} Hz`);
  const lines = [
    `audio      ${report.root}: ${report.recordings} recordings (${report.labelledRecordings} labelled, ${report.unlabelledRecordings.length} unlabelled), ${rates.join(' / ') || 'no audio'}`,
    `segments   ${report.segments} in ${Object.keys(report.segmentsPerClass).length} classes: ${
      Object.entries(report.segmentsPerClass)
        .map(([c, n]) => `${c} ${n} (${(report.secondsPerClass[c] ?? 0).toFixed(1)} s)`)
        .join(', ') || 'none'
    }`,
  ];
  if (report.unlabelledRecordings.length)
    lines.push(`unlabelled ${report.unlabelledRecordings.map(rel).join(', ')}`);
  const skipped = report.problems.filter((p) => p.severity === 'skipped').length;
  const warnings = report.problems.length - skipped;
  if (report.problems.length) lines.push(`problems   ${skipped} skipped, ${warnings} warnings`);
  for (const p of report.problems.slice(0, maxProblems))
    lines.push(
      `  ${p.severity.padEnd(8)} ${rel(p.file)}${p.line ? `:${p.line}` : ''}  ${p.code}: ${p.reason}`,
    );
  if (report.problems.length > maxProblems)
    lines.push(`  ... and ${report.problems.length - maxProblems} more`);
  if (report.ignored.length) lines.push(`ignored    ${report.ignored.length} other files`);
  return lines.join('\n');
}
