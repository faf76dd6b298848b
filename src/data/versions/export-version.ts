import { copyFile, mkdir, open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LoupeError } from '../../errors/loupe-error.js';
import type { BlobStore } from '../../store/blob-store.js';
import { mapConcurrent } from '../../util/map-concurrent.js';
import { SNIFF_BYTES, sniffImage } from '../content/sniff-image.js';
import type { ManifestItem } from './manifest.js';

export type ExportFormat = 'folder' | 'csv' | 'json';

/** A label as a folder name: no separators, no dot-names, nothing a filesystem would refuse. */
export function safeName(label: string): string {
  const s = [...label.normalize('NFC')]
    .map((ch) => (ch.charCodeAt(0) < 0x20 || '/\\:*?"<>|'.includes(ch) ? '_' : ch))
    .join('')
    .trim();
  return !s || s === '.' || s === '..' ? '_' : s.slice(0, 120);
}

async function readHead(file: string, bytes: number): Promise<Uint8Array> {
  const fh = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(bytes), 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

const csvCell = (v: unknown) => {
  const s = v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/**
 * Writes a version out: class folders (<split>/<label>/<id>.<ext>, images copied from the blob
 * store), or the manifest as CSV or JSON.
 */
export async function exportVersion(
  items: readonly ManifestItem[],
  blobs: BlobStore,
  format: ExportFormat,
  out: string,
): Promise<{ written: number; path: string }> {
  if (format === 'json' || format === 'csv') {
    const file = path.extname(out) ? out : path.join(out, `manifest.${format}`);
    await mkdir(path.dirname(file), { recursive: true });
    const columns = [
      'id',
      'kind',
      'label',
      'split',
      'fold',
      'source',
      'group',
      'start',
      'end',
      'blob',
    ] as const;
    const text =
      format === 'json'
        ? `${JSON.stringify(items, null, 1)}\n`
        : [columns.join(','), ...items.map((i) => columns.map((c) => csvCell(i[c])).join(','))].join('\n') +
          '\n';
    await writeFile(file, text);
    return { written: items.length, path: file };
  }
  if (items.some((i) => i.kind !== 'image')) {
    throw new LoupeError(
      'INVALID_ARGUMENT',
      'folder export writes images; export audio versions as csv or json',
    );
  }
  await mapConcurrent(items, 8, async (item) => {
    const ext = sniffImage(await readHead(blobs.pathOf(item.blob), SNIFF_BYTES))?.ext ?? 'bin';
    const dir = path.join(out, item.split, safeName(item.label));
    await mkdir(dir, { recursive: true });
    await copyFile(blobs.pathOf(item.blob), path.join(dir, `${item.id.slice(0, 16)}.${ext}`));
  });
  return { written: items.length, path: out };
}
