import type { PrelabelItem, Prelabels } from './prelabels.js';

export const PRELABEL_FORMATS = ['json', 'csv', 'audacity'] as const;
export type PrelabelFormat = (typeof PRELABEL_FORMATS)[number];

export function prelabelsJson(doc: Prelabels): string {
  return `${JSON.stringify(doc, null, 1)}\n`;
}

// Quoted only when needed (RFC 4180), so ordinary paths and labels stay readable.
const cell = (v: string | number | undefined) => {
  const s = v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** `path,start,end,label1,p1,label2,p2,…`: one row per item, the skipped files left to the JSON and the console. */
export function prelabelsCsv(doc: Prelabels): string {
  const k = Math.max(1, ...doc.items.map((i) => i.top.length));
  const header = [
    'path',
    'start',
    'end',
    ...Array.from({ length: k }, (_, i) => [`label${i + 1}`, `p${i + 1}`]).flat(),
  ];
  const rows = doc.items.map((i) =>
    [i.path, i.start, i.end, ...i.top.flatMap((t) => [t.label, t.probability])].map(cell).join(','),
  );
  return [header.join(','), ...rows].join('\n') + '\n';
}

/**
 * An Audacity label file (File › Import › Labels) for one recording's items: `start<TAB>end<TAB>label`
 * with the top label, times to the microsecond as Audacity writes them. Loupe reads the same
 * format back when the reviewed file is ingested.
 */
export function audacityLabels(items: readonly PrelabelItem[]): string {
  return items
    .map((i) => `${(i.start ?? 0).toFixed(6)}\t${(i.end ?? 0).toFixed(6)}\t${i.top[0]!.label}\n`)
    .join('');
}
