import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ProgressLine } from '../src/cli/progress.js';
import { listVersions } from '../src/data/versions/version-store.js';
import { getRun } from '../src/track/run-store.js';
import { JobRunner } from '../src/web/jobs/job-runner.js';
import type { Job, JobKind } from '../src/web/jobs/job-store.js';
import { initWorkspace, openWorkspace, type Workspace } from '../src/workspace/workspace.js';
import { webConfigSchema } from '../src/web/web-config.js';
import { repoRoot } from './helpers/run-cli.js';
import { expectProblem, startServer, waitFor, type RunningServer } from './helpers/serve-fixture.js';
import { clientsByRole, userWithRole, type ApiClient } from './helpers/web-api.js';

// The jobs run the built CLI (dist/): build with `npx tsc -p tsconfig.json` first.

let root: string;
let dir: string;
let data: string;
let ws: Workspace;
let server: RunningServer;
let viewer: ApiClient;
let annotator: ApiClient;
let admin: ApiClient;

/** A tiny CNN, so a training job takes seconds: the `ci` profile's network. */
const TINY = [
  'scratch.filters=[8, 16]',
  'scratch.convsPerBlock=1',
  'scratch.classifier=[32]',
  'trainMetricsSample=64',
];

before(async () => {
  // Real: ingest jobs run on the resolved path, which the tests compare with.
  root = await realpath(await mkdtemp(path.join(tmpdir(), 'loupe-web-jobs-')));
  dir = path.join(root, 'ws');
  data = path.join(root, 'data');
  const source = path.join(repoRoot, 'samples/fashion-mnist/train');
  for (const c of (await readdir(source)).sort().slice(0, 3)) {
    const files = (await readdir(path.join(source, c))).sort().slice(0, 16);
    await Promise.all(files.map((f) => cp(path.join(source, c, f), path.join(data, c, f))));
  }
  await initWorkspace(dir);
  // The images are beside the workspace, not in it: ingest jobs may read them once allowed.
  ws = await openWorkspace({ workspace: dir, env: { LOUPE__WEB__JOBS__INGESTROOTS: '[../data]' } });
  server = await startServer(ws, {});
  ({ viewer, annotator, admin } = await clientsByRole(server.url, ws));
});

after(async () => {
  await server?.close();
  await ws?.close();
  await rm(root, { recursive: true, force: true });
});

interface SseEvent {
  event: string;
  data: unknown;
}

/** Reads a job's event stream until it ends, calling `onEvent` for each event as it arrives. */
async function follow(client: ApiClient, id: string, onEvent: (e: SseEvent) => void = () => undefined) {
  const res = await client.call(`/api/jobs/${id}/events`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const events: SseEvent[] = [];
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body!) {
    buffer += decoder.decode(chunk as Uint8Array, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (block.startsWith(':')) continue;
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const e = { event, data: JSON.parse(/^data: (.*)$/m.exec(block)![1]!) as unknown };
      events.push(e);
      onEvent(e);
    }
  }
  return events;
}

/** A jobs row for a job that stopped, as a server would have left it. */
const stoppedRow = (id: string, kind: JobKind, args: Record<string, unknown>, startedBy: string) => ({
  id,
  kind,
  args: JSON.stringify(args),
  argv: JSON.stringify([kind]),
  status: 'cancelled' as const,
  started_by: startedBy,
  created_at: new Date().toISOString(),
  ended_at: new Date().toISOString(),
  server: 'elsewhere:1',
  pid: null,
  progress: null,
  log_tail: '',
  exit_code: 130,
  run_id: null,
  resumed_from: null,
});

const start = (client: ApiClient, kind: string, args: Record<string, unknown>) =>
  client.post<{ job: Job }>('/api/jobs', { kind, args }, 201).then((r) => r.job);

describe('jobs started from the web app', () => {
  it('runs a real `loupe ingest` whose JSON progress and output arrive as server-sent events', async () => {
    const job = await start(annotator, 'ingest', { source: 'folder', path: data, dataset: 'fm' });
    assert.equal(job.status, 'running');
    assert.deepEqual(job.argv, ['ingest', 'folder', data, '--dataset', 'fm']);
    assert.equal(job.startedBy, annotator.email);
    const events = await follow(viewer, job.id);
    assert.equal(events[0]!.event, 'job');
    const progress = events.filter((e) => e.event === 'progress').map((e) => e.data as ProgressLine);
    assert.ok(progress.length >= 2, 'progress lines arrived');
    for (const p of progress) {
      assert.equal(typeof p.stage, 'string');
      assert.ok(p.done >= 0 && p.done <= p.total, JSON.stringify(p));
      assert.ok(p.rate === null || p.rate >= 0);
    }
    // A stage's last line says it is done: 48 images copied.
    assert.ok(
      progress.some((p) => p.stage === 'copy' && p.done === 48 && p.total === 48),
      JSON.stringify(progress),
    );
    const end = events.at(-1)!;
    assert.equal(end.event, 'end');
    const ended = end.data as Job;
    assert.equal(ended.status, 'finished');
    assert.equal(ended.exitCode, 0);
    assert.match(ended.logTail, /dataset {4}fm: new version \w{12}, 48 items/);
    assert.ok(!ended.logTail.includes('"stage"'), 'progress lines are not part of the log');
    assert.equal((await listVersions(ws.db, 'fm')).length, 1);
    // The row is what the stream said.
    const { job: stored } = await viewer.get<{ job: Job }>(`/api/jobs/${job.id}`);
    assert.deepEqual(stored, ended);
    const list = await viewer.get<{ jobs: Job[]; total: number }>('/api/jobs?kind=ingest');
    assert.deepEqual(
      list.jobs.map((j) => j.id),
      [job.id],
    );
  });

  it('streams a finished job as one snapshot and its end', async () => {
    const { jobs } = await viewer.get<{ jobs: Job[] }>('/api/jobs?status=finished');
    const events = await follow(viewer, jobs[0]!.id);
    assert.deepEqual(
      events.map((e) => e.event),
      ['job', 'end'],
    );
  });

  it('lets annotators ingest and only admins train, tune and retrain', async () => {
    await expectProblem(
      await viewer.call('/api/jobs', { json: { kind: 'ingest', args: { source: 'folder', path: data } } }),
      403,
      /annotator role/,
    );
    for (const kind of ['train', 'tune', 'retrain'])
      await expectProblem(
        await annotator.call('/api/jobs', { json: { kind, args: {} } }),
        403,
        new RegExp(`starting a ${kind} job needs the admin role`),
      );
    const { kinds } = await viewer.get<{ kinds: { kind: string; role: string; available: boolean }[] }>(
      '/api/jobs/kinds',
    );
    assert.deepEqual(
      kinds.map((k) => [k.kind, k.role, k.available]),
      [
        ['ingest', 'annotator', true],
        ['train', 'admin', true],
        ['tune', 'admin', true],
        ['retrain', 'admin', true],
      ],
    );
    assert.equal((await viewer.get<{ total: number }>('/api/jobs')).total, 1, 'no job was started');
  });

  it('refuses bad arguments before starting anything', async () => {
    const bad = async (kind: string, args: unknown, detail: RegExp) =>
      expectProblem(await admin.call('/api/jobs', { json: { kind, args } }), 400, detail);
    await bad('ingest', { source: 'folder', path: '--help' }, /must not start with "-"/);
    await bad('ingest', { source: 'folder', path: data, top: 3 }, /CSV source only/);
    await bad('ingest', { source: 'zip', path: data }, /source/);
    await bad('train', { epochs: -1 }, /epochs/);
    await bad('train', { set: ['no-equals'] }, /key=value/);
    await bad('train', { shell: 'rm -rf /' }, /shell|unrecognized/i);
    await bad('bake', {}, /kind/);
    await expectProblem(await admin.call('/api/jobs/notajob/cancel', { json: {} }), 400, /job id/);
    await expectProblem(await admin.call('/api/jobs/0000000000000'), 404, /no job/);
    await expectProblem(await viewer.call('/api/jobs/0000000000000/events'), 404, /no job/);
    assert.equal((await viewer.get<{ total: number }>('/api/jobs')).total, 1, 'nothing was started');
  });

  it('marks a job whose command fails as failed, with its exit code and message', async () => {
    const job = await start(admin, 'retrain', {
      model: 'nomodel',
      minFeedback: 5,
      ifDrift: true,
      dryRun: true,
    });
    assert.deepEqual(job.argv, ['retrain', 'nomodel', '--min-feedback', '5', '--if-drift', '--dry-run']);
    const ended = (await follow(viewer, job.id)).at(-1)!.data as Job;
    assert.equal(ended.status, 'failed');
    assert.equal(ended.exitCode, 2);
    assert.match(ended.logTail, /no model named "nomodel"/);
  });

  it('cancels a training job with Ctrl-C, so its run is killed, then resumes it to the end', async () => {
    const job = await start(admin, 'train', {
      mode: 'scratch',
      data: 'fm',
      epochs: 3,
      batchSize: 16,
      set: TINY,
    });
    let cancelled = false;
    const events = await follow(admin, job.id, (e) => {
      // Cancelled once an epoch has run, so there is a checkpoint to resume from.
      if (!cancelled && e.event === 'log' && /epoch {3}1\/3/.test((e.data as { line: string }).line)) {
        cancelled = true;
        void annotator
          .call(`/api/jobs/${job.id}/cancel`, { json: {} })
          .then((r) => assert.equal(r.status, 403, 'an annotator may not stop an admin’s training'))
          .then(() => admin.post(`/api/jobs/${job.id}/cancel`, {}));
      }
    });
    assert.ok(cancelled, 'an epoch ended before the job did');
    const ended = events.at(-1)!.data as Job;
    assert.equal(ended.status, 'cancelled');
    assert.equal(ended.exitCode, 130);
    assert.match(ended.logTail, /continue it with: loupe train --resume/);
    assert.ok(
      events.some((e) => e.event === 'progress' && /^epoch \d\/3$/.test((e.data as ProgressLine).stage)),
    );
    assert.ok(ended.runId);
    assert.equal((await getRun(ws.db, ended.runId)).status, 'killed');
    await expectProblem(await admin.call(`/api/jobs/${job.id}/cancel`, { json: {} }), 409, /not running/);

    const { job: resumed } = await admin.post<{ job: Job }>(`/api/jobs/${job.id}/resume`, {}, 201);
    assert.deepEqual(resumed.argv, ['train', '--resume', ended.runId]);
    assert.equal(resumed.resumedFrom, job.id);
    const finished = (await follow(admin, resumed.id)).at(-1)!.data as Job;
    assert.equal(finished.status, 'finished', finished.logTail);
    assert.equal(finished.runId, ended.runId);
    const run = await getRun(ws.db, ended.runId);
    assert.equal(run.status, 'finished');
    await expectProblem(
      await admin.call(`/api/jobs/${resumed.id}/resume`, { json: {} }),
      409,
      /only a stopped job/,
    );
  });

  it('marks the jobs of a server that died as interrupted when a server starts, and stops its own on close', async () => {
    const args = { source: 'folder', path: data, dataset: 'fm' };
    await ws.db
      .insertInto('jobs')
      .values({
        ...stoppedRow('0000000000zzz', 'ingest', args, annotator.email),
        argv: JSON.stringify(['ingest', 'folder', data, '--dataset', 'fm']),
        status: 'running',
        ended_at: null,
        exit_code: null,
        // A pid no process has: the server that ran it is gone.
        server: `${hostname()}:999999999`,
        pid: 999999998,
      })
      .execute();
    const second = await startServer(ws, {});
    let open = true;
    try {
      const job = await waitFor('the orphan marked', async () => {
        const { job } = await viewer.get<{ job: Job }>('/api/jobs/0000000000zzz');
        return job.status === 'interrupted' && job;
      });
      assert.ok(job.endedAt);
      // Our own server's jobs were left alone: the same process runs both.
      const admin2 = await userWithRole(second.url, ws, 'admin');
      const running = await start(admin2, 'train', {
        mode: 'scratch',
        data: 'fm',
        epochs: 50,
        batchSize: 16,
        set: TINY,
      });
      await waitFor(
        'training to start',
        async () => (await admin2.get<{ job: Job }>(`/api/jobs/${running.id}`)).job.progress !== null,
        { timeoutMs: 60_000 },
      );
      await second.close();
      open = false;
      const stopped = (await viewer.get<{ job: Job }>(`/api/jobs/${running.id}`)).job;
      assert.equal(stopped.status, 'interrupted');
      assert.equal(stopped.exitCode, 130, stopped.logTail);
    } finally {
      if (open) await second.close();
    }
    // Only whoever started a job, or an admin, carries it on.
    const otherAnnotator = await userWithRole(server.url, ws, 'annotator');
    await expectProblem(
      await otherAnnotator.call('/api/jobs/0000000000zzz/resume', { json: {} }),
      403,
      /only they or an admin/,
    );
    // An interrupted ingest is run again as it was.
    const { job: again } = await annotator.post<{ job: Job }>('/api/jobs/0000000000zzz/resume', {}, 201);
    assert.deepEqual(again.argv, ['ingest', 'folder', data, '--dataset', 'fm']);
    const ended = (await follow(viewer, again.id)).at(-1)!.data as Job;
    assert.equal(ended.status, 'finished');
    assert.match(ended.logTail, /unchanged: same items as version/);
  });

  it('refuses to resume a tuning study, and to run more than 4 jobs at once', async () => {
    await ws.db
      .insertInto('jobs')
      .values(stoppedRow('0000000000tun', 'tune', {}, admin.email))
      .execute();
    await expectProblem(
      await admin.call('/api/jobs/0000000000tun/resume', { json: {} }),
      400,
      /a tuning study cannot be resumed/,
    );
    // The limit does not depend on what runs: a stand-in command that waits for its Ctrl-C.
    const waiter = path.join(root, 'wait-for-ctrl-c.mjs');
    await writeFile(
      waiter,
      "process.on('SIGINT', () => process.exit(130));\nconsole.log('waiting');\nsetInterval(() => {}, 1000);\n",
    );
    const runner = new JobRunner(ws, { bin: waiter });
    const args = { source: 'folder', path: data };
    const jobs = [];
    for (let i = 0; i < 4; i++) jobs.push(await runner.launch('ingest', args, { startedBy: admin.email }));
    await assert.rejects(runner.launch('ingest', args, { startedBy: admin.email }), /4 jobs are running/);
    // Ctrl-C once each has its handler, as a command has once it started its work.
    for (const j of jobs)
      await waitFor('the stand-in to start', async () => (await runner.current(j.id)).logTail === 'waiting');
    await runner.close();
    for (const j of jobs) {
      const ended = await runner.ended(j.id);
      assert.deepEqual([ended.status, ended.exitCode], ['interrupted', 130]);
    }
    await assert.rejects(runner.launch('ingest', args, { startedBy: admin.email }), /shutting down/);
  });
});

describe('ingest jobs read only the folders web.jobs.ingestRoots allows', () => {
  let secret: string;
  const total = async () => (await viewer.get<{ total: number }>('/api/jobs')).total;
  const refused = async (client: ApiClient, p: string, detail: RegExp) =>
    expectProblem(
      await client.call('/api/jobs', { json: { kind: 'ingest', args: { source: 'folder', path: p } } }),
      400,
      detail,
    );
  /** Another server on the workspace with these roots, and an annotator signed in to it. */
  async function serverWith(ingestRoots: string[]) {
    const s = await startServer(ws, {}, { web: webConfigSchema.parse({ jobs: { ingestRoots } }) });
    return { s, annotator: await userWithRole(s.url, ws, 'annotator') };
  }

  before(async () => {
    // Image folders a job would happily ingest, were it allowed to read them.
    secret = path.join(root, 'secret');
    await cp(data, secret, { recursive: true });
    await symlink(secret, path.join(data, 'elsewhere'));
    await symlink(path.join(data, 'loop-b'), path.join(data, 'loop-a'));
    await symlink(path.join(data, 'loop-a'), path.join(data, 'loop-b'));
  });

  it('refuses paths that lead outside the roots, by .., absolutely or through a symbolic link', async () => {
    const before = await total();
    const outside = /is outside the folders ingest jobs may read \(\/.*\/data\): .*web\.jobs\.ingestRoots/;
    await refused(annotator, '../data/../secret', outside);
    await refused(annotator, `${data}/../secret`, outside);
    await refused(annotator, secret, outside);
    await refused(annotator, '/etc', outside);
    await refused(annotator, path.join(data, 'elsewhere'), outside);
    // Through the link, a file that is not there is "outside" too: nothing says what exists there.
    await refused(annotator, path.join(data, 'elsewhere', 'no-such-folder'), outside);
    await refused(
      annotator,
      path.join(data, 'no-such-folder'),
      /no-such-folder does not exist on the server/,
    );
    await refused(annotator, '../data/loop-a', /cannot be resolved on the server \(ELOOP\)/);
    assert.equal(await total(), before, 'no job was started');
  });

  it('resolves a root that is itself a symbolic link, and runs the job on the real path', async () => {
    await symlink(data, path.join(dir, 'linked'));
    const { s, annotator: a } = await serverWith(['linked']);
    try {
      await refused(a, 'linked/../../secret', /outside the folders ingest jobs may read \(.*\/ws\/linked\)/);
      await refused(a, path.join(dir, 'linked', 'elsewhere'), /outside/);
      const job = await start(a, 'ingest', { source: 'folder', path: 'linked', dataset: 'linked' });
      assert.deepEqual(job.args, { source: 'folder', path: 'linked', dataset: 'linked' });
      assert.deepEqual(job.argv, ['ingest', 'folder', data, '--dataset', 'linked']);
      const ended = (await follow(a, job.id)).at(-1)!.data as Job;
      assert.equal(ended.status, 'finished', ended.logTail);
      // The same images as the first test's: the same content-addressed version.
      assert.match(
        ended.logTail,
        /dataset {4}linked: (new|unchanged: same items as) version \w{12}, 48 items/,
      );
    } finally {
      await s.close();
    }
  });

  it('allows only the workspace by default, and no ingest at all with no roots', async () => {
    const defaults = await serverWith(webConfigSchema.parse({}).jobs.ingestRoots);
    try {
      await refused(
        defaults.annotator,
        data,
        new RegExp(`is outside the folders ingest jobs may read \\(${dir}\\)`),
      );
    } finally {
      await defaults.s.close();
    }
    const none = await serverWith([]);
    try {
      await refused(none.annotator, data, /ingest jobs are turned off on this server/);
      await refused(none.annotator, '.', /turned off/);
    } finally {
      await none.s.close();
    }
  });
});
