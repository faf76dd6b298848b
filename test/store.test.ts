import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { FsBlobStore, sha256 } from '../src/store/blob-store.js';
import { openDatabase } from '../src/store/database.js';

let dir: string;
before(async () => (dir = await mkdtemp(path.join(tmpdir(), 'loupe-store-'))));
after(() => rm(dir, { recursive: true, force: true }));

describe('blob store', () => {
  it('stores content once under its SHA-256 and reads it back', async () => {
    const blobs = new FsBlobStore(path.join(dir, 'blobs'));
    const bytes = new TextEncoder().encode('hello blobs');
    const a = await blobs.put(bytes);
    const b = await blobs.put(bytes);
    assert.equal(a, sha256(bytes));
    assert.equal(a, b);
    assert.deepEqual(Buffer.from(await blobs.get(a)), Buffer.from(bytes));
    assert.equal(await blobs.has(a), true);
    assert.equal(await blobs.verify(a), true);
  });

  it('streams files in and detects corruption', async () => {
    const blobs = new FsBlobStore(path.join(dir, 'blobs2'));
    const src = path.join(dir, 'big.bin');
    const data = Buffer.alloc(3 * 1024 * 1024, 7);
    await writeFile(src, data);
    const { hash, bytes } = await blobs.putFile(src);
    assert.equal(bytes, data.length);
    assert.equal(hash, sha256(data));
    await writeFile(blobs.pathOf(hash), 'tampered');
    assert.equal(await blobs.verify(hash), false);
  });

  it('refuses names that are not hashes and reports missing blobs and files', async () => {
    const blobs = new FsBlobStore(path.join(dir, 'blobs3'));
    assert.throws(
      () => blobs.pathOf('../../etc/passwd'),
      (e) => isLoupeError(e, 'INVALID_ARGUMENT'),
    );
    await assert.rejects(
      () => blobs.get('0'.repeat(64)),
      (e) => isLoupeError(e, 'NOT_FOUND'),
    );
    await assert.rejects(
      () => blobs.putFile(path.join(dir, 'nope')),
      (e) => isLoupeError(e, 'NOT_FOUND'),
    );
  });
});

describe('workspace database', () => {
  it('creates and migrates a SQLite file, and reopens it unchanged', async () => {
    const file = path.join(dir, 'db', 'loupe.db');
    const db = await openDatabase(file);
    await db
      .insertInto('downloads')
      .values({
        url: 'https://example.org/a.jpg',
        status: 'ok',
        blob_hash: 'ab',
        content_type: 'image/jpeg',
        bytes: 2,
        final_url: null,
        error: null,
        attempts: 1,
        updated_at: 'now',
      })
      .execute();
    await db.destroy();
    const again = await openDatabase(file);
    const rows = await again.selectFrom('downloads').selectAll().execute();
    assert.equal(rows.length, 1);
    await again.destroy();
  });

  it('reports a file that is not a database', async () => {
    const file = path.join(dir, 'junk.db');
    await writeFile(file, 'this is not sqlite'.repeat(100));
    await assert.rejects(
      () => openDatabase(file),
      (e) => isLoupeError(e, 'CORRUPT_FILE'),
    );
  });
});
