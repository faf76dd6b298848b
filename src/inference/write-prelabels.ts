import { access, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { LoupeError } from '../errors/loupe-error.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import { audacityLabels, prelabelsCsv, prelabelsJson, type PrelabelFormat } from './prelabel-formats.js';
import type { PrelabelItem, Prelabels } from './prelabels.js';

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

const stem = (recording: string) => path.basename(recording).replace(/\.wav$/i, '');

/**
 * Where each recording's Audacity labels go: `<name>.labels.txt` beside it (the name `loupe ingest
 * audio` pairs with `<name>.wav`, so the reviewed file is ingested as is) or in `outDir`. Throws
 * when any target is taken: a label file beside a recording may be someone's hand-made labels,
 * and `x.labels.txt` would also shadow an existing `x.txt` at ingest. Worth calling before
 * predicting too, so a clash is found before the work rather than after it.
 */
export async function audacityTargets(
  recordings: Iterable<string>,
  outDir?: string,
): Promise<Map<string, string>> {
  const targets = new Map<string, string>();
  const owner = new Map<string, string>();
  for (const recording of recordings) {
    const dir = path.resolve(outDir ?? path.dirname(recording));
    const file = path.join(dir, `${stem(recording)}.labels.txt`);
    const clash = owner.get(file);
    if (clash)
      throw new LoupeError(
        'CONFLICT',
        `${clash} and ${recording} would both write ${file}; write them to separate folders with --out`,
      );
    owner.set(file, recording);
    if (dir === path.resolve(path.dirname(recording)))
      for (const taken of [file, path.join(dir, `${stem(recording)}.txt`)])
        if (await exists(taken))
          throw new LoupeError(
            'CONFLICT',
            `${taken} already labels ${recording}; it is left alone (it may be labels made by hand), ` +
              'so no label file was written: write the pre-labels elsewhere with --out DIR',
            { file: taken },
          );
    targets.set(recording, file);
  }
  return targets;
}

async function audacityFiles(items: readonly PrelabelItem[], outDir?: string) {
  const byRecording = new Map<string, PrelabelItem[]>();
  for (const i of items) {
    const list = byRecording.get(i.path);
    if (list) list.push(i);
    else byRecording.set(i.path, [i]);
  }
  const targets = await audacityTargets(byRecording.keys(), outDir);
  return [...byRecording].map(
    ([recording, list]) => [targets.get(recording)!, audacityLabels(list)] as const,
  );
}

/**
 * Writes pre-labels as JSON or CSV to one file (default prelabels.json / prelabels.csv), or as one
 * Audacity label file per recording. Each file is written whole or not at all (atomic rename),
 * and every check that could refuse happens before the first one. Returns the files written.
 */
export async function writePrelabels(
  doc: Prelabels,
  format: PrelabelFormat,
  out?: string,
): Promise<string[]> {
  const files =
    format === 'audacity'
      ? await audacityFiles(doc.items, out)
      : [
          [
            path.resolve(out ?? `prelabels.${format}`),
            format === 'json' ? prelabelsJson(doc) : prelabelsCsv(doc),
          ] as const,
        ];
  for (const [file, text] of files) {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, Buffer.from(text));
  }
  return files.map(([file]) => file);
}
