import { splitCode } from '../splits/split-codes.js';
import type { IngestStaging } from './ingest-staging.js';

/** The staged items as columns, indexed by seq - 1: what validation, splits and folds work on. */
export interface ItemColumns {
  count: number;
  /** 1 for an audio segment, 0 for an image. */
  audio: Uint8Array;
  /** An index into `labels`, numbered by first appearance. */
  label: Int32Array;
  labels: string[];
  /** The split it comes with (see split-codes). */
  split: Uint8Array;
  /** 1 for an item of the version added to. */
  base: Uint8Array;
  /** Its group (the staging's numbering), -1 for none. */
  group: Int32Array;
  /** Its image (the staging's numbering), -1 for audio. */
  image: Int32Array;
}

export async function readItemColumns(staging: IngestStaging, count: number): Promise<ItemColumns> {
  const c: ItemColumns = {
    count,
    audio: new Uint8Array(count),
    label: new Int32Array(count),
    labels: [],
    split: new Uint8Array(count),
    base: new Uint8Array(count),
    group: new Int32Array(count),
    image: new Int32Array(count),
  };
  const labelOf = new Map<string, number>();
  for await (const page of staging.columns())
    for (const r of page) {
      const i = r.seq - 1;
      let label = labelOf.get(r.label);
      if (label === undefined) labelOf.set(r.label, (label = c.labels.push(r.label) - 1));
      c.audio[i] = r.kind === 'audio' ? 1 : 0;
      c.label[i] = label;
      c.split[i] = splitCode(r.split);
      c.base[i] = r.base;
      c.group[i] = r.group ?? -1;
      c.image[i] = r.image ?? -1;
    }
  return c;
}
