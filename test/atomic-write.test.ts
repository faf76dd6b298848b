import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { writeFileAtomic } from '../src/store/atomic-write.js';

// A real full disk: a 64 KiB tmpfs. Mounting needs root (CI runs as root); elsewhere it is skipped.
const isRoot = process.getuid?.() === 0;
let dir: string;
let mounted = false;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'loupe-full-'));
  if (isRoot) {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
    mounted = true;
  }
});
after(async () => {
  if (mounted) execFileSync('umount', [dir]);
  await rm(dir, { recursive: true, force: true });
});

describe(
  'atomic writes on a full disk',
  { skip: isRoot ? false : 'mounting a small tmpfs needs root' },
  () => {
    it('fail with DISK_FULL, keep the previous file and leave no temporary file', async () => {
      const file = path.join(dir, 'weights.bin');
      await writeFile(file, 'previous');
      await assert.rejects(
        () => writeFileAtomic(file, new Uint8Array(200 * 1024)),
        (e) => isLoupeError(e, 'DISK_FULL') && /no space left.*weights\.bin/.test(e.message),
      );
      assert.equal(await readFile(file, 'utf8'), 'previous');
      assert.deepEqual(await readdir(dir), ['weights.bin']);
    });
  },
);
