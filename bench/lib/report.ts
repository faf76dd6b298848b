import type { MachineInfo } from './machine.js';
import { secondsSince } from './stats.js';

/** A metric column of a result table. */
export interface Column {
  key: string;
  label: string;
  /** Decimals shown; the JSON keeps full precision. */
  digits: number;
  /** Shown multiplied by 100 with a % sign. */
  percent?: boolean;
}

export type Side = Record<string, number | string | boolean | null | number[]>;

export interface BenchResult {
  name: string;
  title: string;
  quick: boolean;
  date: string;
  durationS: number;
  machine: MachineInfo;
  config: Record<string, unknown>;
  columns: Column[];
  /** One entry per contender, e.g. loupe, pytorch, pytorch_preloaded. */
  sides: Record<string, Side>;
  /** Keys say what is compared with what: train_ratio_vs_pytorch = loupe / pytorch. */
  ratios: Record<string, number>;
  notes: string[];
}

/** What every result says of its run: shrunk or not, when it ended, how long it took, where. */
export function runFacts(
  o: { quick: boolean; machine: MachineInfo },
  started: number,
): Pick<BenchResult, 'quick' | 'date' | 'durationS' | 'machine'> {
  return {
    quick: o.quick,
    date: new Date().toISOString(),
    durationS: secondsSince(started),
    machine: o.machine,
  };
}

function cell(side: Side, c: Column): string {
  const v = side[c.key];
  if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
  if (c.percent) return `${(v * 100).toFixed(c.digits)}%`;
  return v.toLocaleString('en-US', { minimumFractionDigits: c.digits, maximumFractionDigits: c.digits });
}

function formatRatio(key: string, v: number): string {
  return key.startsWith('accuracy_diff')
    ? `${v >= 0 ? '+' : ''}${(v * 100).toFixed(2)} pp`
    : `${v.toFixed(2)}×`;
}

export function renderResult(r: BenchResult): string {
  const lines = [`## ${r.title}${r.quick ? ' (quick mode: shrunk, numbers not representative)' : ''}`, ''];
  lines.push(`| contender | ${r.columns.map((c) => c.label).join(' | ')} |`);
  lines.push(`|---|${r.columns.map(() => '---:').join('|')}|`);
  for (const [name, side] of Object.entries(r.sides))
    lines.push(`| ${name} | ${r.columns.map((c) => cell(side, c)).join(' | ')} |`);
  lines.push('');
  const ratios = Object.entries(r.ratios);
  if (ratios.length) {
    lines.push('| comparison | value |', '|---|---:|');
    for (const [k, v] of ratios) lines.push(`| \`${k}\` | ${Number.isFinite(v) ? formatRatio(k, v) : '—'} |`);
    lines.push('');
  }
  for (const n of r.notes) lines.push(`- ${n}`);
  if (r.notes.length) lines.push('');
  return lines.join('\n');
}

export function renderMachine(m: MachineInfo): string {
  return [
    `Machine: ${m.cpuModel}, ${m.cores} cores (${m.availableParallelism} available), ${m.memoryGiB} GiB, ${m.os}.`,
    `Runtimes: Node ${m.node}, libtorch ${m.libtorch ?? '?'}, onnxruntime-node ${m.onnxruntime ?? '?'}, ` +
      `PyTorch ${m.pytorch ?? '?'} / torchvision ${m.torchvision ?? '?'} (Python ${m.python ?? '?'}), ` +
      `OPENBLAS_NUM_THREADS=${m.openblasThreads ?? 'unset'}, commit ${m.gitCommit ?? '?'}.`,
  ].join('\n');
}

export function renderReport(results: BenchResult[]): string {
  const first = results[0];
  const head = [
    '# Benchmark results',
    '',
    'Written by `node --import tsx bench/run.ts` (`make bench`); do not edit by hand.',
    '',
  ];
  if (first) head.push(`Run ${first.date}. ${renderMachine(first.machine)}`, '');
  return [...head, ...results.map(renderResult)].join('\n');
}
