import { renderTable } from '../../util/render-table.js';
import { CHECK_NAMES } from './validation-policy.js';
import type { ValidationExample, ValidationReport } from './validation-report.js';

/** Classes listed in full up to this many; past it, only the classes something happened to. */
const ALL_CLASSES_UP_TO = 30;

const n = (x: number) => x.toLocaleString('en');

function example(e: ValidationExample): string {
  const where = (source: string | undefined, split: string | undefined) =>
    `${source ?? ''}${split ? ` [${split}]` : ''}`;
  const head = e.source ? `${where(e.source, e.split)}: ` : '';
  const others = e.related?.map(
    (r) => `${where(r.source, r.split)}${r.distance !== undefined ? ` (distance ${r.distance})` : ''}`,
  );
  return `${head}${e.message}${others?.length ? `; see ${others.join(', ')}` : ''}`;
}

/** The report for a terminal: a summary line, the checks that found something, classes, examples. */
export function renderValidationTable(report: ValidationReport): string {
  const out: string[] = [];
  const extra = [
    report.normalised ? `${n(report.normalised)} to be converted` : '',
    report.moved ? `${n(report.moved)} moved between splits` : '',
  ].filter(Boolean);
  out.push(
    `validation  ${n(report.items)} items: ${n(report.kept)} kept${extra.length ? ` (${extra.join(', ')})` : ''}, ` +
      `${n(report.skipped)} skipped, in ${report.seconds.total.toFixed(1)} s`,
  );

  const found = CHECK_NAMES.filter((c) => report.checks[c].found > 0);
  if (!found.length) {
    out.push('no problems found');
  } else {
    const rows = found.map((c) => {
      const s = report.checks[c];
      return [c, s.action, s.found, s.skipped, s.moved, s.groups ? `${n(s.groups)} groups` : ''];
    });
    out.push('', renderTable(['check', 'action', 'found', 'skipped', 'moved', ''], rows));
  }

  const nd = report.nearDuplicates;
  if (nd.enabled) {
    const small = nd.tooSmallToCompare ? `; ${n(nd.tooSmallToCompare)} too small to compare` : '';
    const oversized = nd.oversizedGroups
      ? `; ${n(nd.oversizedGroups)} groups larger than allowed were left alone (distance too loose for these images?)`
      : '';
    out.push(
      '',
      `near duplicates  ${n(nd.compared)} distinct images compared at distance ≤ ${nd.maxDistance} in ${nd.seconds.toFixed(2)} s: ` +
        `${n(nd.pairs)} pairs, ${n(nd.groups)} groups (largest ${n(nd.largestGroup)})${small}${oversized}`,
    );
  }

  const labels = Object.keys(report.classes).sort();
  const eventful = (l: string) => {
    const c = report.classes[l]!;
    return c.skipped > 0 || c.moved > 0 || Object.keys(c.checks).length > 0;
  };
  const shown = labels.length <= ALL_CLASSES_UP_TO ? labels : labels.filter(eventful);
  if (shown.length) {
    const rows = shown.map((l) => {
      const c = report.classes[l]!;
      const checks = Object.entries(c.checks)
        .map(([check, count]) => `${check} ${n(count)}`)
        .join(', ');
      return [l, c.items, c.kept, c.skipped, c.moved, c.normalised, checks];
    });
    out.push('', renderTable(['class', 'items', 'kept', 'skipped', 'moved', 'converted', 'found'], rows));
  }
  if (shown.length < labels.length)
    out.push(`… and ${n(labels.length - shown.length)} classes with nothing to report`);

  const withExamples = found.filter((c) => report.checks[c].examples.length);
  if (withExamples.length) {
    out.push('', 'examples');
    const width = Math.max(...withExamples.map((c) => c.length));
    for (const c of withExamples) {
      report.checks[c].examples.forEach((e, i) =>
        out.push(`  ${(i === 0 ? c : '').padEnd(width)}  ${example(e)}`),
      );
    }
  }
  if (report.failed.length) out.push('', `failed: ${report.failed.join(', ')} (set to fail in the policy)`);
  return out.join('\n');
}
