import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import { LoupeError } from '../../errors/loupe-error.js';
import type { UserRole } from '../../store/schema.js';
import { requireRole } from '../accounts/require-role.js';
import { roleAtLeast } from '../accounts/roles.js';
import { parseInput } from '../parse-input.js';
import type { WebDeps } from '../web-app.js';
import { JobRunner, loupeCommands } from './job-runner.js';
import { resumeOf } from './job-resume.js';
import {
  getJob,
  JOB_KINDS,
  JOB_STATUSES,
  listJobs,
  type Job,
  type JobKind,
  type JobKindInfo,
} from './job-store.js';

const viewer = { preHandler: requireRole('viewer'), schema: { hide: true } };
const annotator = { preHandler: requireRole('annotator'), schema: { hide: true } };

/** Who may start each kind: adding data is an annotator's work; training and tuning use the machine for hours. */
export const JOB_ROLES: Record<JobKind, UserRole> = {
  ingest: 'annotator',
  train: 'admin',
  tune: 'admin',
  retrain: 'admin',
};

const jobParams = z.object({ id: z.string().regex(/^[0-9a-z]{13}$/, 'a job id') });
const listQuery = z.object({
  status: z.enum(JOB_STATUSES).optional(),
  kind: z.enum(JOB_KINDS).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});
const startBody = z.strictObject({
  kind: z.enum(JOB_KINDS),
  args: z.record(z.string(), z.unknown()).default({}),
});

/** Keeps a proxy or the browser from closing a quiet event stream. */
const KEEP_ALIVE_MS = 15_000;

function mayStart(request: FastifyRequest, kind: JobKind): void {
  const role = JOB_ROLES[kind];
  if (!roleAtLeast(request.user!.role, role))
    throw new LoupeError(
      'FORBIDDEN',
      `starting a ${kind} job needs the ${role} role; your account is ${request.user!.role}`,
    );
}

/** A job is stopped or resumed by whoever started it, or an admin. */
function mayControl(request: FastifyRequest, job: Job): void {
  mayStart(request, job.kind);
  if (job.startedBy !== request.user!.email && request.user!.role !== 'admin')
    throw new LoupeError(
      'FORBIDDEN',
      `job ${job.id} was started by ${job.startedBy}; only they or an admin may stop or resume it`,
    );
}

function sendEvent(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/**
 * Long commands from the page: start one (as a child `loupe` process), follow it live as
 * Server-Sent Events (its progress bars and output), cancel it (Ctrl-C) and resume it.
 */
export async function registerJobsRoutes(app: FastifyInstance, deps: WebDeps): Promise<void> {
  const runner = new JobRunner(deps.ws, { ingestRoots: deps.config.web.jobs.ingestRoots });
  await runner.start();
  const streams = new Set<ServerResponse>();
  // preClose, not onClose: the server waits for open requests, and an event stream stays open
  // while its job runs. Stopping the jobs ends their streams; any left are ended here.
  app.addHook('preClose', async () => {
    await runner.close();
    for (const res of streams) res.end();
  });

  app.get('/api/jobs', viewer, async (request) =>
    listJobs(deps.ws.db, parseInput(listQuery, request.query, 'query')),
  );

  app.get('/api/jobs/kinds', viewer, async () => {
    const have = await loupeCommands();
    const kinds = JOB_KINDS.map((kind): JobKindInfo => ({
      kind,
      role: JOB_ROLES[kind],
      available: have.has(kind),
    }));
    return { kinds };
  });

  app.post('/api/jobs', annotator, async (request, reply) => {
    const body = parseInput(startBody, request.body, 'job');
    mayStart(request, body.kind);
    const job = await runner.launch(body.kind, body.args, { startedBy: request.user!.email });
    return reply.code(201).send({ job });
  });

  app.get('/api/jobs/:id', viewer, async (request) => ({
    job: await runner.current(parseInput(jobParams, request.params, 'job').id),
  }));

  app.post('/api/jobs/:id/cancel', annotator, async (request) => {
    const { id } = parseInput(jobParams, request.params, 'job');
    mayControl(request, await getJob(deps.ws.db, id));
    return { job: await runner.cancel(id) };
  });

  app.post('/api/jobs/:id/resume', annotator, async (request, reply) => {
    const { id } = parseInput(jobParams, request.params, 'job');
    const stopped = await getJob(deps.ws.db, id);
    mayControl(request, stopped);
    const next = await resumeOf(deps.ws.db, stopped);
    const job = await runner.launch(next.kind, next.args, {
      startedBy: request.user!.email,
      resumedFrom: id,
    });
    return reply.code(201).send({ job });
  });

  app.get('/api/jobs/:id/events', viewer, async (request, reply) => {
    const { id } = parseInput(jobParams, request.params, 'job');
    await getJob(deps.ws.db, id);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // Subscribed before the snapshot is read, so nothing falls between the two.
    const unsubscribe = runner.subscribe(id, (e) => {
      if (e.type === 'end') {
        sendEvent(res, 'end', e.job);
        res.end();
      } else sendEvent(res, e.type, e.type === 'progress' ? e.progress : { line: e.line });
    });
    const job = await runner.current(id);
    sendEvent(res, 'job', job);
    if (!unsubscribe) {
      sendEvent(res, 'end', job);
      res.end();
      return;
    }
    streams.add(res);
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
    res.once('close', () => {
      clearInterval(keepAlive);
      unsubscribe();
      streams.delete(res);
    });
  });
}
