import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { LoupeError } from '../../errors/loupe-error.js';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif']);
export const SPLITS = ['train', 'val', 'test'] as const;
export type SplitName = (typeof SPLITS)[number];

export interface FolderListing {
  classes: string[];
  /** Image paths and class indices per predefined split; a flat folder is all "train". */
  splits: Partial<Record<SplitName, { paths: string[]; labels: number[] }>>;
  /** Whether the folder had train/ val/ test/ subfolders (otherwise nothing was decided). */
  predefined: boolean;
}

async function subfolders(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

/**
 * Lists a folder-per-class tree: `root/<class>/*` or, with predefined splits,
 * `root/{train,val,test}/<class>/*`. Class indices follow the sorted union of class names.
 */
export async function listImageFolder(root: string): Promise<FolderListing> {
  let top: string[];
  try {
    top = await subfolders(root);
  } catch (e) {
    throw new LoupeError('NOT_FOUND', `cannot read the image folder ${root}`, { root }, { cause: e });
  }
  const splitDirs = top.filter((d): d is SplitName => (SPLITS as readonly string[]).includes(d));
  const layout: [SplitName, string][] = splitDirs.length
    ? splitDirs.map((s) => [s, path.join(root, s)])
    : [['train', root]];
  const perSplit = new Map<SplitName, Map<string, string[]>>();
  const classNames = new Set<string>();
  for (const [split, dir] of layout) {
    const byClass = new Map<string, string[]>();
    for (const cls of await subfolders(dir)) {
      const files = (await readdir(path.join(dir, cls), { withFileTypes: true }))
        .filter((f) => f.isFile() && IMAGE_EXTENSIONS.has(path.extname(f.name).toLowerCase()))
        .map((f) => path.join(dir, cls, f.name))
        .sort();
      if (files.length) {
        byClass.set(cls, files);
        classNames.add(cls);
      }
    }
    perSplit.set(split, byClass);
  }
  const classes = [...classNames].sort();
  if (!classes.length)
    throw new LoupeError('NOT_FOUND', `no class folders with images under ${root}`, { root });
  const splits: FolderListing['splits'] = {};
  for (const [split, byClass] of perSplit) {
    const paths: string[] = [];
    const labels: number[] = [];
    for (const [cls, files] of byClass) {
      paths.push(...files);
      labels.push(...files.map(() => classes.indexOf(cls)));
    }
    splits[split] = { paths, labels };
  }
  return { classes, splits, predefined: splitDirs.length > 0 };
}
