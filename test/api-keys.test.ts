import BetterSqlite3 from 'better-sqlite3';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { main } from '../src/cli/main.js';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { createKey, hasScope, listKeys, parseToken, revokeKey, verifyToken } from '../src/serve/api-keys.js';
import { initWorkspace, openWorkspace, type Workspace } from '../src/workspace/workspace.js';
import { repoRoot, runLoupe } from './helpers/run-cli.js';

let dir: string;
let root: string;
let ws: Workspace;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'loupe-keys-'));
  root = path.join(dir, 'ws');
  await initWorkspace(root);
  ws = await openWorkspace({ workspace: root, env: {} });
});
after(async () => {
  await ws.close();
  await rm(dir, { recursive: true, force: true });
});

const dbFile = () => path.join(root, '.loupe', 'loupe.db');

/** The database's bytes as they are on disk, the write-ahead log included. */
async function rawDatabase(): Promise<Buffer> {
  const parts = [await readFile(dbFile())];
  if (existsSync(`${dbFile()}-wal`)) parts.push(await readFile(`${dbFile()}-wal`));
  return Buffer.concat(parts);
}

describe('API keys', () => {
  it('creates a key whose token is returned once and of which only a hash is stored', async () => {
    const { key, token } = await createKey(ws.db, { name: 'mobile-app', scopes: ['predict'], actor: 'ana' });
    assert.match(token, /^loupe_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const { id, secret } = parseToken(token)!;
    assert.equal(id, key.id);
    assert.equal(Buffer.from(secret, 'base64url').length, 32);
    assert.deepEqual(key.scopes, ['predict']);
    assert.equal(key.ratePerMinute, 600);
    assert.equal(key.createdBy, 'ana');
    assert.equal(key.lastUsedAt, null);
    assert.equal(key.revokedAt, null);

    const row = await ws.db
      .selectFrom('api_keys')
      .selectAll()
      .where('id', '=', key.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.secret_hash, crypto.createHash('sha256').update(secret).digest('hex'));
    for (const value of Object.values(row)) assert.ok(!String(value).includes(secret));
    const raw = await rawDatabase();
    assert.equal(raw.includes(secret), false, 'the secret is somewhere in the database file');
    assert.equal(raw.includes(Buffer.from(secret, 'base64url')), false);
    assert.equal(raw.includes(key.id), true, 'sanity: the id is stored');

    const listed = await listKeys(ws.db);
    assert.deepEqual(
      listed.find((k) => k.id === key.id),
      key,
    );
    assert.ok(!JSON.stringify(listed).includes(secret));
  });

  it('verifies a good token, and refuses wrong, unknown, malformed and revoked ones alike', async () => {
    const { key, token } = await createKey(ws.db, { name: 'verify-me', scopes: ['predict'], actor: 't' });
    const { id, secret } = parseToken(token)!;
    assert.equal((await verifyToken(ws.db, token))?.id, key.id);
    assert.equal((await verifyToken(ws.db, ` ${token}\n`))?.id, key.id, 'surrounding whitespace is ignored');

    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    const other = crypto.randomBytes(32).toString('base64url');
    const refused = [
      `loupe_${id}_${flip(secret)}`,
      `loupe_${id}_${other}`,
      `loupe_${'0'.repeat(16)}_${secret}`,
      '',
      'loupe_',
      token.slice(0, -1),
      `${token}x`,
      token.toUpperCase(),
      token.replace('loupe_', 'loupa_'),
      `loupe_${id}${secret}`,
      `Bearer ${token}`,
      secret,
    ];
    for (const bad of refused) assert.equal(await verifyToken(ws.db, bad), undefined, `accepted ${bad}`);

    await revokeKey(ws.db, key.id);
    assert.equal(await verifyToken(ws.db, token), undefined, 'a revoked key is refused');
  });

  it('compares secrets in constant time, also when the key id is unknown', async () => {
    const { token } = await createKey(ws.db, { name: 'timing', scopes: ['predict'], actor: 't' });
    const { id, secret } = parseToken(token)!;
    const spy = mock.method(crypto, 'timingSafeEqual');
    try {
      const cases: [string, boolean][] = [
        [token, true],
        [`loupe_${id}_${crypto.randomBytes(32).toString('base64url')}`, false],
        [`loupe_${'f'.repeat(16)}_${secret}`, false],
      ];
      for (const [t, ok] of cases) {
        spy.mock.resetCalls();
        assert.equal((await verifyToken(ws.db, t)) !== undefined, ok);
        assert.equal(spy.mock.callCount(), 1, 'one constant-time comparison per verification');
        const [a, b] = spy.mock.calls[0]!.arguments as [Buffer, Buffer];
        assert.equal(a.length, 32);
        assert.equal(b.length, 32);
      }
      spy.mock.resetCalls();
      await verifyToken(ws.db, 'not-a-token');
      assert.equal(spy.mock.callCount(), 0, 'a malformed token is refused before any lookup');
    } finally {
      spy.mock.restore();
    }
  });

  it('records last use at most once a minute, and never waits for a busy database to do it', async () => {
    const { key, token } = await createKey(ws.db, { name: 'last-used', scopes: ['predict'], actor: 't' });
    const t0 = new Date('2030-01-01T00:00:00Z');
    const stamp = async () =>
      (
        await ws.db
          .selectFrom('api_keys')
          .select('last_used_at')
          .where('id', '=', key.id)
          .executeTakeFirstOrThrow()
      ).last_used_at;
    assert.equal((await verifyToken(ws.db, token, { now: t0 }))?.lastUsedAt, t0.toISOString());
    assert.equal(await stamp(), t0.toISOString());
    await verifyToken(ws.db, token, { now: new Date(t0.getTime() + 30_000) });
    assert.equal(await stamp(), t0.toISOString(), 'not rewritten within the minute');
    const t2 = new Date(t0.getTime() + 61_000);
    await verifyToken(ws.db, token, { now: t2 });
    assert.equal(await stamp(), t2.toISOString());

    const lock = new BetterSqlite3(dbFile());
    try {
      lock.exec('BEGIN IMMEDIATE');
      const started = Date.now();
      const t3 = new Date(t2.getTime() + 120_000);
      const verified = await verifyToken(ws.db, token, { now: t3 });
      assert.equal(verified?.id, key.id, 'a busy database does not fail verification');
      assert.ok(Date.now() - started < 1000, 'verification waited for the write lock');
      assert.equal(await stamp(), t2.toISOString());
    } finally {
      lock.exec('ROLLBACK');
      lock.close();
    }
  });

  it('checks scopes: admin may do everything, others only what they name', async () => {
    const a = await createKey(ws.db, {
      name: 'labeller',
      scopes: ['feedback', 'predict', 'predict'],
      actor: 't',
    });
    assert.deepEqual(a.key.scopes, ['predict', 'feedback']);
    assert.equal(hasScope(a.key, 'predict'), true);
    assert.equal(hasScope(a.key, 'feedback'), true);
    assert.equal(hasScope(a.key, 'admin'), false);
    const admin = await createKey(ws.db, { name: 'ops', scopes: ['admin'], actor: 't' });
    for (const s of ['predict', 'feedback', 'admin'] as const) assert.equal(hasScope(admin.key, s), true);
    const p = await createKey(ws.db, { name: 'predict-only', actor: 't' });
    assert.deepEqual(p.key.scopes, ['predict'], 'predict is the default scope');
    assert.equal(hasScope(p.key, 'feedback'), false);
    assert.equal(hasScope(undefined, 'predict'), false);
    const verified = await verifyToken(ws.db, a.token);
    assert.deepEqual(verified?.scopes, ['predict', 'feedback']);

    await assert.rejects(
      () => createKey(ws.db, { name: 'x1', scopes: ['predict', 'root'], actor: 't' }),
      (e) =>
        isLoupeError(e, 'INVALID_ARGUMENT') &&
        /unknown scope "root"; scopes are: predict, feedback, admin/.test(e.message),
    );
    await assert.rejects(
      () => createKey(ws.db, { name: 'x2', scopes: [], actor: 't' }),
      (e) => isLoupeError(e, 'INVALID_ARGUMENT') && /at least one scope/.test(e.message),
    );
  });

  it('takes a rate limit, the configured default, or none', async () => {
    assert.equal(
      (await createKey(ws.db, { name: 'r1', actor: 't', ratePerMinute: 60 })).key.ratePerMinute,
      60,
    );
    assert.equal(
      (await createKey(ws.db, { name: 'r2', actor: 't', ratePerMinute: null })).key.ratePerMinute,
      null,
    );
    assert.equal(
      (await createKey(ws.db, { name: 'r3', actor: 't', defaultRatePerMinute: 42 })).key.ratePerMinute,
      42,
    );
    for (const bad of [0, -5, 1.5, Number.NaN])
      await assert.rejects(
        () => createKey(ws.db, { name: 'r4', actor: 't', ratePerMinute: bad }),
        (e) => isLoupeError(e, 'INVALID_ARGUMENT') && /requests per minute/.test(e.message),
      );
  });

  it('keeps live names unique, revokes by id or name, and explains what it cannot do', async () => {
    const first = await createKey(ws.db, { name: 'ci', actor: 't' });
    await assert.rejects(
      () => createKey(ws.db, { name: 'ci', actor: 't' }),
      (e) =>
        isLoupeError(e, 'CONFLICT') && e.message.includes(`a key named "ci" exists (id ${first.key.id})`),
    );
    const revoked = await revokeKey(ws.db, 'ci');
    assert.equal(revoked.key.id, first.key.id);
    assert.equal(revoked.alreadyRevoked, false);
    assert.ok(revoked.key.revokedAt);
    const second = await createKey(ws.db, { name: 'ci', actor: 't' });
    assert.equal((await revokeKey(ws.db, 'ci')).key.id, second.key.id, 'a name means its live key');
    const again = await revokeKey(ws.db, first.key.id);
    assert.equal(again.alreadyRevoked, true);
    assert.equal(again.key.revokedAt, revoked.key.revokedAt);
    assert.equal((await revokeKey(ws.db, 'ci')).alreadyRevoked, true);
    assert.equal(await verifyToken(ws.db, second.token), undefined);

    const live = await listKeys(ws.db, { live: true });
    assert.ok(!live.some((k) => k.name === 'ci'));
    assert.equal((await listKeys(ws.db)).filter((k) => k.name === 'ci').length, 2);

    await assert.rejects(
      () => revokeKey(ws.db, 'nobody'),
      (e) => isLoupeError(e, 'NOT_FOUND') && /no API key with id or name "nobody"/.test(e.message),
    );
    for (const name of ['', 'has space', '-dash', 'a'.repeat(65), '0123456789abcdef'])
      await assert.rejects(
        () => createKey(ws.db, { name, actor: 't' }),
        (e) => isLoupeError(e, 'INVALID_ARGUMENT'),
        `accepted the name ${JSON.stringify(name)}`,
      );
  });
});

/** Runs the CLI in this process, capturing what it prints. */
async function inProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const log = mock.method(console, 'log', (...a: unknown[]) => (stdout += `${a.join(' ')}\n`));
  const err = mock.method(console, 'error', (...a: unknown[]) => (stderr += `${a.join(' ')}\n`));
  try {
    const code = await main(['node', 'loupe', ...args]);
    return { code, stdout, stderr };
  } finally {
    log.mock.restore();
    err.mock.restore();
  }
}

const built = existsSync(path.join(repoRoot, 'dist', 'cli', 'commands', 'keys.js'));

for (const [label, run] of [
  ['in process', inProcess],
  ['built (bin/loupe.js)', (args: string[]) => runLoupe(dir, args, { LOUPE_ACTOR: 'cli-user' })],
] as const) {
  describe(
    `loupe keys, ${label}`,
    { skip: label.startsWith('built') && !built ? 'dist/ not built' : false },
    () => {
      it('creates (showing the token once), lists and revokes keys', async () => {
        const cliRoot = path.join(dir, `cli-${label.split(' ')[0]}`);
        await initWorkspace(cliRoot);
        const w = ['--workspace', cliRoot];
        const created = await run([
          ...w,
          'keys',
          'create',
          'scanner',
          '--scopes',
          'predict,feedback',
          '--rate',
          '120',
        ]);
        assert.equal(created.code, 0, created.stderr);
        const token = /loupe_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/.exec(created.stdout)?.[0];
        assert.ok(token, created.stdout);
        assert.match(
          created.stdout,
          /created key "scanner" \(id [0-9a-f]{16}\): predict, feedback, 120\/min/,
        );
        assert.match(created.stderr, /cannot be shown again/);

        const json = await run([
          ...w,
          'keys',
          'create',
          'ops',
          '--scopes',
          'admin',
          '--rate',
          'unlimited',
          '--json',
        ]);
        assert.equal(json.code, 0, json.stderr);
        const ops = JSON.parse(json.stdout) as { id: string; token: string; ratePerMinute: number | null };
        assert.equal(ops.ratePerMinute, null);

        const ls = await run([...w, 'keys', 'ls']);
        assert.equal(ls.code, 0, ls.stderr);
        assert.match(ls.stdout, /id +name +scopes +rate +created +by +last used +status/);
        assert.match(ls.stdout, /scanner +predict,feedback +120\/min .* active/);
        assert.match(ls.stdout, /ops +admin +unlimited .* active/);
        assert.ok(!ls.stdout.includes(token.slice(23)), 'ls shows a secret');

        const revoked = await run([...w, 'keys', 'revoke', 'scanner']);
        assert.equal(revoked.code, 0, revoked.stderr);
        assert.match(revoked.stdout, /revoked key "scanner"/);
        const twice = await run([...w, 'keys', 'revoke', 'scanner']);
        assert.match(twice.stdout, /was already revoked/);
        assert.doesNotMatch((await run([...w, 'keys', 'ls'])).stdout, /scanner/);
        assert.match((await run([...w, 'keys', 'ls', '--all'])).stdout, /scanner .* revoked \d{4}-/);

        const missing = await run([...w, 'keys', 'revoke', 'nope']);
        assert.equal(missing.code, 2);
        assert.match(missing.stderr, /no API key with id or name "nope".*\[NOT_FOUND\]/);
        const badScope = await run([...w, 'keys', 'create', 'x', '--scopes', 'predict,everything']);
        assert.equal(badScope.code, 2);
        assert.match(badScope.stderr, /unknown scope "everything"/);
        const badRate = await run([...w, 'keys', 'create', 'x', '--rate', 'lots']);
        assert.equal(badRate.code, 2);
        assert.match(badRate.stderr, /--rate is requests per minute/);

        const check = await openWorkspace({ workspace: cliRoot, env: {} });
        try {
          assert.equal(await verifyToken(check.db, token), undefined);
          assert.equal((await verifyToken(check.db, ops.token))?.id, ops.id);
        } finally {
          await check.close();
        }
      });
    },
  );
}
