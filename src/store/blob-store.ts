import { fsError } from '../errors/fs-error.js';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LoupeError } from '../errors/loupe-error.js';
import { writeFileAtomic } from './atomic-write.js';

/** Lower-case hex SHA-256 of the content: a blob's only name. */
export type BlobHash = string;

const HASH = /^[0-9a-f]{64}$/;

export function sha256(bytes: Uint8Array): BlobHash {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Content-addressed storage: a blob is stored once under the SHA-256 of its bytes, so the same
 * image downloaded twice, or shared by two dataset versions, costs its size once, and any
 * corruption is detectable. Blobs are immutable; writes are atomic, so a killed process leaves
 * either the whole blob or nothing.
 */
export interface BlobStore {
  put(bytes: Uint8Array): Promise<BlobHash>;
  /** Streams a file in (hashing as it goes) without holding it in memory. */
  putFile(file: string): Promise<{ hash: BlobHash; bytes: number }>;
  /** Stores bytes as they are produced, never holding them all (a large manifest). */
  putStream(
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    source?: string,
  ): Promise<{ hash: BlobHash; bytes: number }>;
  has(hash: BlobHash): Promise<boolean>;
  get(hash: BlobHash): Promise<Uint8Array>;
  /** A local path to read the blob from (valid while the blob exists). */
  pathOf(hash: BlobHash): string;
  /** Re-hashes the blob; false when its bytes no longer match its name. */
  verify(hash: BlobHash): Promise<boolean>;
  /** The blob's size in bytes, or undefined when it is missing. */
  size(hash: BlobHash): Promise<number | undefined>;
  /** Deletes a blob (a damaged one, so a good copy can take its place); missing is fine. */
  remove(hash: BlobHash): Promise<void>;
}

/** A BlobStore on the local disk: <root>/<first two hex digits>/<hash>. */
export class FsBlobStore implements BlobStore {
  constructor(readonly root: string) {}

  pathOf(hash: BlobHash): string {
    if (!HASH.test(hash))
      throw new LoupeError('INVALID_ARGUMENT', `not a blob hash: ${JSON.stringify(hash)}`);
    return path.join(this.root, hash.slice(0, 2), hash);
  }

  async has(hash: BlobHash): Promise<boolean> {
    return stat(this.pathOf(hash)).then(
      () => true,
      () => false,
    );
  }

  async put(bytes: Uint8Array): Promise<BlobHash> {
    const hash = sha256(bytes);
    const file = this.pathOf(hash);
    // Storing bytes the store holds already refreshes the blob's time, as git does for objects
    // it is asked to write again: `loupe gc` deletes only unreferenced blobs older than its grace
    // period, and a writer stores its blobs before committing the row that names them, so a blob
    // stored again by a writer in progress must look new.
    const now = new Date();
    try {
      await utimes(file, now, now);
      return hash;
    } catch (e) {
      // A read-only store still answers for bytes it holds.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (await this.has(hash))) return hash;
    }
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, bytes);
    return hash;
  }

  async putFile(source: string): Promise<{ hash: BlobHash; bytes: number }> {
    // Opened lazily: a stream opened before the consumer listens reports a missing file as an
    // uncaught error instead of a rejection.
    const chunks = (async function* () {
      yield* createReadStream(source);
    })();
    return this.putStream(chunks, source);
  }

  async putStream(
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    source?: string,
  ): Promise<{ hash: BlobHash; bytes: number }> {
    await mkdir(this.root, { recursive: true });
    const tmp = path.join(this.root, `.incoming.${process.pid}.${randomBytes(4).toString('hex')}`);
    const hasher = createHash('sha256');
    let bytes = 0;
    const out = await open(tmp, 'w');
    try {
      await pipeline(
        Readable.from(chunks),
        async function* (input: AsyncIterable<Uint8Array>) {
          for await (const chunk of input) {
            hasher.update(chunk);
            bytes += chunk.length;
            yield chunk;
          }
        },
        out.createWriteStream(),
      );
      const hash = hasher.digest('hex');
      const file = this.pathOf(hash);
      await mkdir(path.dirname(file), { recursive: true });
      await rename(tmp, file);
      return { hash, bytes };
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw fsError(e, source ?? tmp);
    } finally {
      await out.close().catch(() => undefined);
    }
  }

  async get(hash: BlobHash): Promise<Uint8Array> {
    try {
      return await readFile(this.pathOf(hash));
    } catch (e) {
      throw new LoupeError('NOT_FOUND', `blob ${hash} is not in the store`, { hash }, { cause: e });
    }
  }

  async size(hash: BlobHash): Promise<number | undefined> {
    return stat(this.pathOf(hash)).then(
      (s) => s.size,
      () => undefined,
    );
  }

  async remove(hash: BlobHash): Promise<void> {
    await rm(this.pathOf(hash), { force: true });
  }

  async verify(hash: BlobHash): Promise<boolean> {
    const hasher = createHash('sha256');
    try {
      await pipeline(createReadStream(this.pathOf(hash)), hasher);
    } catch {
      return false;
    }
    return hasher.digest('hex') === hash;
  }
}
