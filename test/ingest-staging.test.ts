import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { collectCandidates, type CandidateStream } from '../src/data/ingest/candidate.js';
import { folderCandidates } from '../src/data/ingest/from-folder.js';
import { ingest } from '../src/data/ingest/ingest.js';
import { listVersions, readVersionItems } from '../src/data/versions/version-store.js';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { initWorkspace, openWorkspace, type Workspace } from '../src/workspace/workspace.js';
import { repoRoot } from './helpers/run-cli.js';

const sample = path.join(repoRoot, 'samples/fashion-mnist');
const module = (file: string) => JSON.stringify(pathToFileURL(path.join(repoRoot, file)).href);

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'loupe-ingest-staging-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function workspace(name: string): Promise<Workspace> {
  await initWorkspace(path.join(dir, name));
  return openWorkspace({ workspace: path.join(dir, name), env: {} });
}

/** Tables whose name says they are ingest staging, in the database file and this connection's temp schema. */
async function stagingTables(ws: Workspace): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    SELECT name FROM sqlite_master WHERE name LIKE 'ingest%'
    UNION ALL SELECT name FROM sqlite_temp_master WHERE name LIKE 'ingest%'`.execute(ws.db);
  return rows.map((r) => r.name);
}

/** Runs `code` (an ES module) in a child process with the repository's TypeScript loader. */
function child(code: string, args: string[], nodeFlags: string[] = []) {
  return spawn(
    process.execPath,
    [...nodeFlags, '--import', 'tsx', '--input-type=module', '-e', code, ...args],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
}

describe('ingest staging', () => {
  it('a killed ingest leaves no version and nothing staged; the next run gives the uninterrupted version', async () => {
    const killedAt = path.join(dir, 'killed');
    await initWorkspace(killedAt);
    // The child stages the sample folder, says so halfway, and slows down so it is killed mid-ingest.
    const proc = child(
      `import { ingest } from ${module('src/data/ingest/ingest.ts')};
       import { folderCandidates } from ${module('src/data/ingest/from-folder.ts')};
       import { openWorkspace } from ${module('src/workspace/workspace.ts')};
       const ws = await openWorkspace({ workspace: process.argv[1], env: {} });
       const folder = folderCandidates(${JSON.stringify(sample)}, ws.blobs);
       let n = 0;
       await ingest(ws, (sink) => folder(async (c) => {
         if (++n === 1000) console.log('staging');
         if (n > 1000) await new Promise((r) => setTimeout(r, 20));
         await sink(c);
       }), { dataset: 'fashion', source: 'killed' });
       console.log('finished');`,
      [killedAt],
    );
    const lines = createInterface({ input: proc.stdout });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      proc.on('exit', (_code, signal) => resolve(signal)),
    );
    for await (const line of lines) {
      assert.notEqual(line, 'finished', 'the ingest finished before it could be killed');
      if (line === 'staging') break;
    }
    proc.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');

    const ws = await openWorkspace({ workspace: killedAt, env: {} });
    try {
      assert.deepEqual(await listVersions(ws.db), [], 'no version');
      assert.deepEqual(await stagingTables(ws), [], 'nothing staged survives the process');
      const again = await ingest(ws, folderCandidates(sample, ws.blobs), {
        dataset: 'fashion',
        source: 'again',
      });
      assert.equal(again.items.after, 3600);
      const fresh = await workspace('fresh');
      try {
        const whole = await ingest(fresh, await collectCandidates(folderCandidates(sample, fresh.blobs)), {
          dataset: 'fashion',
          source: 'whole',
        });
        assert.equal(
          again.version,
          whole.version,
          'a streamed source and a listed one give the same version',
        );
      } finally {
        await fresh.close();
      }
    } finally {
      await ws.close();
    }
  });

  it('an interrupted ingest (Ctrl-C) stops, drops its staging, and the next run works', async () => {
    const ws = await workspace('interrupted');
    try {
      const controller = new AbortController();
      const folder = folderCandidates(sample, ws.blobs);
      let n = 0;
      const stopping: CandidateStream = (sink) =>
        folder(async (c) => {
          if (++n === 500) controller.abort();
          await sink(c);
        });
      await assert.rejects(
        ingest(ws, stopping, { dataset: 'fashion', source: 'interrupted', signal: controller.signal }),
        (e: unknown) => isLoupeError(e, 'INTERRUPTED'),
      );
      assert.deepEqual(await listVersions(ws.db), []);
      assert.deepEqual(await stagingTables(ws), []);
      const report = await ingest(ws, folder, { dataset: 'fashion', source: 'again' });
      assert.equal(report.items.after, 3600);
      assert.deepEqual(await stagingTables(ws), [], 'a finished ingest drops its staging too');
      // Adding to the version reads its manifest back through the staging.
      const same = await ingest(ws, folder, { dataset: 'fashion', source: 'same' });
      assert.deepEqual([same.created, same.items.alreadyPresent], [false, 3600]);
      const items = await readVersionItems(ws, (await listVersions(ws.db, 'fashion'))[0]!);
      assert.equal(items.length, 3600);
    } finally {
      await ws.close();
    }
  });

  it('holds no object per item: 60,000 items ingest within a 64 MB JavaScript heap', async () => {
    // Audio segments are not decoded, so this measures ingest's own bookkeeping: at the
    // kilobyte an item that objects for every item cost, it would not fit.
    const at = path.join(dir, 'many');
    await initWorkspace(at);
    const proc = child(
      `import { ingest } from ${module('src/data/ingest/ingest.ts')};
       import { openWorkspace } from ${module('src/workspace/workspace.ts')};
       const ws = await openWorkspace({ workspace: process.argv[1], env: {} });
       const blob = (n) => n.toString(16).padStart(64, '0');
       const report = await ingest(ws, async (sink) => {
         for (let i = 0; i < 60000; i++) {
           const recording = Math.floor(i / 100);
           const start = (i % 100) * 0.5;
           await sink({ kind: 'audio', blob: blob(recording), label: 'class' + (i % 10),
             source: 'rec' + recording + '.wav#t=' + start + ',' + (start + 0.5), group: 'rec' + recording + '.wav',
             start, end: start + 0.5, meta: { sampleRate: 16000 } });
         }
         return { rejected: [], details: {} };
       }, { dataset: 'many', source: 'synthetic' });
       await ws.close();
       console.log(JSON.stringify(report.items));`,
      [at],
      ['--max-old-space-size=64'],
    );
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
    assert.equal(code, 0, stderr);
    assert.deepEqual(JSON.parse(stdout.trim()), {
      before: 0,
      added: 60000,
      alreadyPresent: 0,
      relabelled: 0,
      after: 60000,
    });
    assert.deepEqual((await readdir(path.join(at, '.loupe', 'reports'))).length, 1, 'the report was written');
  });
});
