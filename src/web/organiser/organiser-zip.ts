import path from 'node:path';
import { ZipArchive } from 'archiver';
import type { BlobStore } from '../../store/blob-store.js';
import type { Database } from '../../store/database.js';
import { allImages } from './organiser-store.js';
import { downloadName, uniqueName } from './safe-names.js';

/**
 * The organised images as one zip streamed while it is made: <class folder>/<uploaded name>.
 * Every name is a safe segment (no separators, dot-names or control characters, so nothing
 * unpacks outside the folder it is unpacked in) and unique without regard to case; images already
 * compressed are stored as they are rather than deflated again. The bytes come from the blob
 * store, which a correction moving a file at the same moment cannot disturb.
 */
export function organiserZip(db: Database, blobs: BlobStore, o: { label?: string } = {}): ZipArchive {
  const zip = new ZipArchive({ store: true });
  const folders = new Map<string, string>();
  const takenFolders = new Set<string>();
  const takenFiles = new Map<string, Set<string>>();
  void (async () => {
    for await (const image of allImages(db, o)) {
      if (zip.destroyed) return;
      let folder = folders.get(image.label);
      if (folder === undefined) {
        folder = uniqueName(takenFolders, image.classFolder, { isFile: false });
        folders.set(image.label, folder);
        takenFiles.set(folder, new Set());
      }
      const name = uniqueName(
        takenFiles.get(folder)!,
        downloadName(image.originalName, path.extname(image.storedName).slice(1)),
        { isFile: true },
      );
      zip.file(blobs.pathOf(image.blobHash), {
        name: `${folder}/${name}`,
        date: new Date(image.createdAt),
      });
    }
    await zip.finalize();
  })().catch((e: unknown) => zip.destroy(e as Error));
  return zip;
}

/**
 * A Content-Disposition that downloads as `name`: an ASCII fallback for old clients, and the
 * exact name in RFC 8187 form. Written here because the `content-disposition` package is not a
 * dependency, and only this one form is needed.
 */
export function attachment(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
