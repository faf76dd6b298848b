import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { configSchema } from '../src/config/schema.js';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { initWorkspace, openWorkspace } from '../src/workspace/workspace.js';

let dir: string;
before(async () => (dir = await mkdtemp(path.join(tmpdir(), 'loupe-ws-'))));
after(() => rm(dir, { recursive: true, force: true }));

const invalidConfig = (pattern: RegExp) => (e: unknown) =>
  isLoupeError(e, 'INVALID_CONFIG') && pattern.test(e.message);

describe('workspaces', () => {
  it('init writes a documented loupe.yaml whose values are the defaults, and a state folder', async () => {
    const root = path.join(dir, 'proj');
    const { created } = await initWorkspace(root, { name: 'birds' });
    assert.equal(created, true);
    const ws = await openWorkspace({ workspace: root, env: {} });
    const { profiles: _p, name, ...rest } = ws.config;
    const { profiles: _d, name: _n, ...defaults } = configSchema.parse({});
    assert.equal(name, 'birds');
    assert.deepEqual(rest, defaults);
    await ws.close();
    const again = await initWorkspace(root, { name: 'other' });
    assert.equal(again.created, false);
    assert.match(await readFile(path.join(root, 'loupe.yaml'), 'utf8'), /name: "birds"/);
  });

  it('is found from a subfolder, and its absence is explained', async () => {
    const root = path.join(dir, 'found');
    await initWorkspace(root);
    await mkdir(path.join(root, 'a', 'b'), { recursive: true });
    const ws = await openWorkspace({ cwd: path.join(root, 'a', 'b'), env: {} });
    assert.equal(ws.root, root);
    await ws.close();
    await assert.rejects(
      () => openWorkspace({ cwd: tmpdir(), env: {} }),
      (e) => isLoupeError(e, 'NO_WORKSPACE') && /loupe init/.test(e.message),
    );
  });

  it('applies a profile, then environment overrides with their types', async () => {
    const root = path.join(dir, 'prof');
    await initWorkspace(root);
    const ci = await openWorkspace({ workspace: root, profile: 'ci', env: {} });
    assert.equal(ci.config.data.download.concurrency, 4);
    await ci.close();
    const env = {
      LOUPE_PROFILE: 'ci',
      LOUPE__DATA__SPLIT__SEED: '7',
      LOUPE__DATA__SPLIT__STRATIFY: 'false',
      LOUPE__DATA__DOWNLOAD__PERHOST: '2',
    };
    const ws = await openWorkspace({ workspace: root, env });
    assert.equal(ws.profile, 'ci');
    assert.equal(ws.config.data.split.seed, 7);
    assert.equal(ws.config.data.split.stratify, false);
    assert.equal(ws.config.data.download.perHost, 2);
    assert.equal(ws.config.data.download.concurrency, 4);
    await ws.close();
    await assert.rejects(
      () => openWorkspace({ workspace: root, profile: 'staging', env: {} }),
      invalidConfig(/no profile "staging"; it has: local, ci, prod/),
    );
  });

  it('rejects bad settings with the file and the setting named', async () => {
    const root = path.join(dir, 'bad');
    await initWorkspace(root);
    const file = path.join(root, 'loupe.yaml');
    await writeFile(file, 'data:\n  split:\n    val: "a lot"\n');
    await assert.rejects(
      () => openWorkspace({ workspace: root, env: {} }),
      invalidConfig(/loupe\.yaml: data\.split\.val/),
    );
    await writeFile(file, 'data:\n  splitt: {}\n');
    await assert.rejects(() => openWorkspace({ workspace: root, env: {} }), invalidConfig(/splitt/));
    await writeFile(file, 'data: [unclosed\n');
    await assert.rejects(() => openWorkspace({ workspace: root, env: {} }), invalidConfig(/loupe\.yaml/));
    await writeFile(file, 'name: x\n');
    await assert.rejects(
      () => openWorkspace({ workspace: root, env: { LOUPE__DATA__SPLIT__TEST: '2' } }),
      invalidConfig(/data\.split\.test/),
    );
  });
});
