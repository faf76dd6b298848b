import { fsError } from '../../errors/fs-error.js';
import { parse } from 'csv-parse';
import { createReadStream } from 'node:fs';
import { LoupeError } from '../../errors/loupe-error.js';

/**
 * A CSV of image URLs with labels: an iNaturalist observations export by default, or any CSV
 * through column options. Rows that cannot become items (no image URL, no label, filtered out)
 * are reported with their reason, never silently dropped.
 */
export interface CsvUrlOptions {
  /** Column holding the image URL; default: image_url, then url, image. */
  imageColumn?: string;
  /** Column holding the label; default: scientific_name, then label, species_guess. */
  labelColumn?: string;
  /** Column grouping rows that must stay in one split; default: id (the observation) if present. */
  groupColumn?: string;
  /** Keep only rows whose quality_grade is one of these (iNaturalist: research, needs_id, casual). */
  qualityGrades?: string[];
  /** Keep only rows whose license is one of these (case-insensitive, e.g. cc0, cc-by). */
  licenses?: string[];
  /** Drop classes with fewer rows than this (after the other filters). */
  minPerClass?: number;
  /** Keep only the K most frequent classes. */
  topK?: number;
}

export interface CsvUrlRow {
  url: string;
  label: string;
  group?: string;
  /** 1-based line in the file, header included, for reports. */
  line: number;
  meta: Record<string, string>;
}

export interface CsvSkip {
  line: number;
  reason:
    | 'no image URL'
    | 'no label'
    | 'quality grade'
    | 'license'
    | 'class below minimum'
    | 'not in top K classes';
  detail?: string;
}

export interface CsvUrlListing {
  rows: CsvUrlRow[];
  skipped: CsvSkip[];
  columns: { image: string; label: string; group?: string };
}

/** iNaturalist columns worth keeping with each item (provenance and later filtering). */
const META_COLUMNS = [
  'id',
  'observed_on',
  'user_login',
  'quality_grade',
  'license',
  'url',
  'common_name',
  'iconic_taxon_name',
  'taxon_id',
  'latitude',
  'longitude',
];

function pick(
  columns: string[],
  wanted: string | undefined,
  defaults: string[],
  what: string,
  file: string,
): string {
  if (wanted) {
    if (!columns.includes(wanted)) {
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `${file} has no ${what} column "${wanted}"; its columns are: ${columns.join(', ')}`,
      );
    }
    return wanted;
  }
  const found = defaults.find((d) => columns.includes(d));
  if (!found) {
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `${file} has none of the usual ${what} columns (${defaults.join(', ')}); name one with --${what}-column. Its columns are: ${columns.join(', ')}`,
    );
  }
  return found;
}

export async function readCsvUrls(file: string, o: CsvUrlOptions = {}): Promise<CsvUrlListing> {
  const input = createReadStream(file);
  const parser = input.pipe(
    parse({
      columns: true,
      skip_empty_lines: true,
      bom: true,
      trim: true,
      relax_column_count: true,
      info: true,
    }),
  );
  // pipe() does not forward the source's errors (a missing file); the parser must see them.
  input.on('error', (e) => parser.destroy(e));
  const rows: CsvUrlRow[] = [];
  const skipped: CsvSkip[] = [];
  let columns: CsvUrlListing['columns'] | undefined;
  const grades = o.qualityGrades?.map((g) => g.toLowerCase());
  const licenses = o.licenses?.map((l) => l.toLowerCase());
  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: Record<string, string>;
      info: { lines: number };
    }>) {
      const line = info.lines;
      if (!columns) {
        const names = Object.keys(record);
        columns = {
          image: pick(names, o.imageColumn, ['image_url', 'url', 'image'], 'image', file),
          label: pick(names, o.labelColumn, ['scientific_name', 'label', 'species_guess'], 'label', file),
        };
        const group = o.groupColumn ?? (names.includes('id') ? 'id' : undefined);
        if (group) columns.group = pick(names, group, [], 'group', file);
      }
      const url = record[columns.image]?.trim();
      const label = record[columns.label]?.trim();
      if (!url) skipped.push({ line, reason: 'no image URL' });
      else if (!label) skipped.push({ line, reason: 'no label' });
      else if (grades && !grades.includes((record.quality_grade ?? '').toLowerCase()))
        skipped.push({ line, reason: 'quality grade', detail: record.quality_grade ?? '' });
      else if (licenses && !licenses.includes((record.license ?? '').toLowerCase()))
        skipped.push({ line, reason: 'license', detail: record.license ?? '' });
      else {
        const meta = Object.fromEntries(META_COLUMNS.filter((c) => record[c]).map((c) => [c, record[c]!]));
        const group = columns.group ? record[columns.group] : undefined;
        rows.push({ url, label, line, meta, ...(group ? { group } : {}) });
      }
    }
  } catch (e) {
    throw fsError(e, file, {
      otherwise: (err) =>
        new LoupeError(
          'CORRUPT_FILE',
          `${file} is not a readable CSV: ${err.message}`,
          { file },
          { cause: err },
        ),
    });
  }
  if (!columns) throw new LoupeError('CORRUPT_FILE', `${file} has no rows`, { file });
  return { ...applyClassFilters(rows, skipped, o), columns };
}

function applyClassFilters(
  rows: CsvUrlRow[],
  skipped: CsvSkip[],
  o: CsvUrlOptions,
): { rows: CsvUrlRow[]; skipped: CsvSkip[] } {
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.label, (counts.get(r.label) ?? 0) + 1);
  const ranked = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const top = o.topK ? new Set(ranked.slice(0, o.topK).map(([l]) => l)) : undefined;
  const kept: CsvUrlRow[] = [];
  for (const r of rows) {
    if ((counts.get(r.label) ?? 0) < (o.minPerClass ?? 0))
      skipped.push({ line: r.line, reason: 'class below minimum', detail: r.label });
    else if (top && !top.has(r.label))
      skipped.push({ line: r.line, reason: 'not in top K classes', detail: r.label });
    else kept.push(r);
  }
  return { rows: kept, skipped };
}
