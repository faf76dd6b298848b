import { mkdir, rename, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { LoupeError } from '../../errors/loupe-error.js';
import type { BlobStore } from '../../store/blob-store.js';
import { writeFileAtomic } from '../../store/atomic-write.js';
import type { Database } from '../../store/database.js';
import { allImages, moveDone, type OrganisedImage } from './organiser-store.js';

/**
 * The class folders on disk: <dir>/<class folder>/<stored name>. The database is the record and
 * the blob store keeps every image's bytes, so a file can always be written again; each change is
 * ordered so that a crash between its steps leaves something `repair` puts right at the next start:
 *
 * - upload: bytes into the blob store, then the row, then the file (atomic write). A crash after
 *   the row leaves a row without its file: repair writes it from the blob.
 * - move (a correction): one transaction sets the row's new folder and `moved_from` (and records
 *   the feedback), then the file is renamed (one filesystem: atomic), then `moved_from` is
 *   cleared. A crash before the rename leaves the file in `moved_from`: repair renames it; after
 *   the rename, repair only clears the mark. Renaming first instead would leave, after a crash, a
 *   file in a folder the database does not know about.
 * - delete: the file goes first, then the row (and the delete's feedback) in one transaction. A
 *   crash in between leaves a row without its file, which repair writes again from the blob: the
 *   delete did not happen and can be repeated. The other order could leave a file no row claims,
 *   which repair could not tell from a file someone put there.
 */
export class ClassFolders {
  readonly dir: string;

  constructor(
    dir: string,
    private readonly blobs: BlobStore,
  ) {
    this.dir = path.resolve(dir);
  }

  /** Where a file lives; folder and name are single safe segments (see safe-names.ts). */
  pathOf(folder: string, name: string): string {
    const file = path.join(this.dir, folder, name);
    if (path.dirname(path.dirname(file)) !== this.dir)
      throw new LoupeError('INTERNAL', `organiser path escapes its folder: ${folder}/${name}`);
    return file;
  }

  fileOf(image: Pick<OrganisedImage, 'classFolder' | 'storedName'>): string {
    return this.pathOf(image.classFolder, image.storedName);
  }

  async write(image: OrganisedImage, bytes?: Uint8Array): Promise<void> {
    const file = this.fileOf(image);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, bytes ?? (await this.blobs.get(image.blobHash)));
  }

  /** Brings the file from `image.movedFrom` to where the row now says. */
  async move(image: OrganisedImage): Promise<void> {
    if (image.movedFrom === null) return;
    const from = this.pathOf(image.movedFrom, image.storedName);
    const to = this.fileOf(image);
    await mkdir(path.dirname(to), { recursive: true });
    try {
      await rename(from, to);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EXDEV') throw e;
      // Moved already (a repeated repair), lost, or a class folder mounted elsewhere: the blob
      // store has the bytes.
      if (!(await exists(to))) await this.write(image);
      await unlink(from).catch(() => undefined);
    }
    await this.removeIfEmpty(image.movedFrom);
  }

  async remove(image: OrganisedImage): Promise<void> {
    await unlink(this.fileOf(image)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    await this.removeIfEmpty(image.classFolder);
  }

  /** A class nobody's images are in any more leaves no empty folder behind. */
  private async removeIfEmpty(folder: string): Promise<void> {
    await rmdir(path.join(this.dir, folder)).catch(() => undefined);
  }

  /**
   * Puts the folders in line with the database after a crash (see the class comment): finishes
   * moves left half done and writes missing files from the blob store. Files are only ever
   * written or moved here, never deleted.
   */
  async repair(db: Database): Promise<{ moved: number; restored: number }> {
    let moved = 0;
    let restored = 0;
    for await (const image of allImages(db)) {
      if (image.movedFrom !== null) {
        await this.move(image);
        await moveDone(db, image.id);
        moved++;
      } else if (!(await exists(this.fileOf(image)))) {
        await this.write(image);
        restored++;
      }
    }
    return { moved, restored };
  }
}

const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );
