import sharp, { type OverlayOptions } from 'sharp';
import type { BlobStore } from '../../store/blob-store.js';
import type { ManifestItem } from './manifest.js';
import { stableSort } from '../splits/stable-order.js';

const escapeXml = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * A PNG with one row per class: its name and up to `perClass` sample thumbnails, chosen by a
 * seeded hash so the same version always shows the same samples. People check a dataset by
 * looking at it; a table of counts does not show that a class is full of the wrong pictures.
 */
export async function contactSheet(
  items: readonly ManifestItem[],
  blobs: BlobStore,
  o: { perClass?: number; thumb?: number; labelWidth?: number } = {},
): Promise<Buffer> {
  const perClass = o.perClass ?? 8;
  const thumb = o.thumb ?? 96;
  const labelWidth = o.labelWidth ?? 200;
  const gap = 4;
  const byClass = new Map<string, ManifestItem[]>();
  for (const item of items)
    if (item.kind === 'image') byClass.set(item.label, [...(byClass.get(item.label) ?? []), item]);
  const classes = [...byClass.keys()].sort();
  const width = labelWidth + perClass * (thumb + gap) + gap;
  const height = Math.max(1, classes.length) * (thumb + gap) + gap;
  const layers: OverlayOptions[] = [];
  for (const [row, label] of classes.entries()) {
    const top = gap + row * (thumb + gap);
    const members = new Map(byClass.get(label)!.map((i) => [i.id, i]));
    const samples = stableSort(0, members.keys())
      .slice(0, perClass)
      .map((id) => members.get(id)!);
    const count = byClass.get(label)!.length;
    const text = `<svg width="${labelWidth}" height="${thumb}"><text x="8" y="${thumb / 2}" font-family="sans-serif" font-size="15" fill="#111">${escapeXml(label.slice(0, 24))}</text><text x="8" y="${thumb / 2 + 20}" font-family="sans-serif" font-size="12" fill="#555">${count} items</text></svg>`;
    layers.push({ input: Buffer.from(text), left: 0, top });
    for (const [col, item] of samples.entries()) {
      const tile = await sharp(blobs.pathOf(item.blob), { failOn: 'none' })
        .resize(thumb, thumb, { fit: 'contain', background: '#ffffff' })
        .flatten({ background: '#ffffff' })
        .png()
        .toBuffer()
        .catch(() =>
          sharp({ create: { width: thumb, height: thumb, channels: 3, background: '#cc3333' } })
            .png()
            .toBuffer(),
        );
      layers.push({ input: tile, left: labelWidth + gap + col * (thumb + gap), top });
    }
  }
  return sharp({ create: { width, height, channels: 3, background: '#f4f4f4' } })
    .composite(layers)
    .png()
    .toBuffer();
}
