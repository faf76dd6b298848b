import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { LoupeError } from '../../errors/loupe-error.js';
import { problemOf, sendProblem } from '../../serve/problem.js';
import type { BlobStore } from '../../store/blob-store.js';
import type { Database } from '../../store/database.js';
import { requireRole } from '../accounts/require-role.js';
import { attachment } from '../organiser/organiser-zip.js';
import { parseInput } from '../parse-input.js';
import type { WebDeps } from '../web-app.js';
import { getRecording, listRecordings, liveSegments, recordingRow } from './annotation-store.js';
import { audioModels, chooseAudioModel } from './audio-models.js';
import { readRecordingUpload } from './recording-upload.js';
import { EXPORT_FORMATS, labelFileName, segmentsAsJson, segmentsAsLabels } from './segment-export.js';
import { acceptAll, addSegment, editSegment, type SegmentEdit } from './segment-edits.js';
import { uploadRecording } from './upload-recording.js';

const viewer = { preHandler: requireRole('viewer'), schema: { hide: true } };
const annotator = { preHandler: requireRole('annotator'), schema: { hide: true } };

const recordingId = z.object({ id: z.coerce.number().int().positive() });
const segmentId = recordingId.extend({ sid: z.coerce.number().int().positive() });
const seconds = z.number();
const label = z.string().min(1).max(200);
const revision = { revision: z.number().int().positive().optional() };
const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  before: z.coerce.number().int().positive().optional(),
});
const uploadQuery = z.object({
  model: z.string().min(1).max(200).optional(),
  hop: z.coerce.number().positive().optional(),
});
const exportQuery = z.object({
  format: z.enum(EXPORT_FORMATS).default('audacity'),
  reviewed: z.enum(['true', 'false']).default('false'),
});
const newSegment = z.object({ start: seconds, end: seconds, label });
const segmentChange = z
  .object({ label: label.optional(), start: seconds.optional(), end: seconds.optional(), ...revision })
  .refine(
    (c) => c.label !== undefined || c.start !== undefined || c.end !== undefined,
    'give label, start or end',
  );
const split = z.object({ at: seconds, ...revision });
const withRevision = z.object(revision);
const deleteQuery = z.object({ revision: z.coerce.number().int().positive().optional() });

/** A recording's page data: the recording and its live segments with their history. */
async function detail(db: Database, id: number) {
  return { recording: await getRecording(db, id), segments: await liveSegments(db, id) };
}

/**
 * A blob's bytes with HTTP range support (the page's audio element seeks with Range requests),
 * conditional requests and HEAD, through @fastify/static's sender. Recordings are immutable under
 * their id, so the browser may keep them; `private` because they need a sign-in.
 */
function sendBlob(reply: FastifyReply, blobs: BlobStore, hash: string, type: string) {
  const file = blobs.pathOf(hash);
  return reply
    .type(type)
    .header('cache-control', 'private, max-age=86400')
    .header('x-content-type-options', 'nosniff')
    .sendFile(path.basename(file), path.dirname(file), { contentType: false, cacheControl: false });
}

/**
 * The sender fails a range past the end with status 416, which the server's problem handler
 * would turn into a plain 400: answer it as what it is, saying how long the file is (RFC 9110).
 */
const blobRoute = (bytes: (request: FastifyRequest) => Promise<number>) => ({
  ...viewer,
  errorHandler: async (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error.statusCode !== 416) throw error;
    const size = await bytes(request);
    const detail = new LoupeError(
      'INVALID_ARGUMENT',
      `the range asked for is outside the file (${size} bytes)`,
    );
    return sendProblem(reply.header('content-range', `bytes */${size}`), {
      ...problemOf(detail, request),
      status: 416,
      title: 'Range not satisfiable',
    });
  },
});

/**
 * The audio annotator's API (docs/web-app.md, "Audio annotator"): upload a recording to have it
 * pre-labelled, read it with its segments, audio and spectrogram, edit segments (each edit is
 * feedback with provenance, see segment-edits.ts) and export the labels for ingest.
 */
export async function registerAnnotatorRoutes(app: FastifyInstance, deps: WebDeps): Promise<void> {
  const { db, blobs } = deps.ws;
  await app.register(async (scope) => {
    // Only its reply.sendFile: the built app's static files are registered elsewhere.
    await scope.register(fastifyStatic, { root: deps.ws.stateDir, serve: false });

    scope.get('/api/recordings', viewer, async (request) => {
      const q = parseInput(listQuery, request.query, 'query');
      return {
        recordings: await listRecordings(db, { limit: q.limit, ...(q.before ? { beforeId: q.before } : {}) }),
      };
    });

    scope.get('/api/recordings/models', viewer, async () => ({
      models: (await audioModels(db)).map((v) => ({
        ref: v.ref,
        model: v.model,
        version: v.version,
        classes: v.classes,
        aliases: v.aliases,
      })),
      // The page says what it may upload.
      limits: {
        maxBytes: deps.config.web.annotator.maxBytes,
        maxSeconds: deps.config.web.annotator.maxSeconds,
      },
    }));

    scope.post('/api/recordings', annotator, async (request, reply) => {
      const q = parseInput(uploadQuery, request.query, 'query');
      // Before the body: a wrong model should not wait for a long upload.
      const version = await chooseAudioModel(db, q.model);
      const upload = await readRecordingUpload(request, deps.config.web.annotator);
      // A client that gives up (closes the page) stops the pre-labelling it started.
      const gone = new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) gone.abort();
      });
      const { recording, created } = await uploadRecording(deps.ws, upload, {
        version,
        ...(q.hop !== undefined ? { hop: q.hop } : {}),
        actor: request.user!.email,
        signal: gone.signal,
      });
      return reply.code(created ? 201 : 200).send({ created, ...(await detail(db, recording.id)) });
    });

    scope.get('/api/recordings/:id', viewer, async (request) =>
      detail(db, parseInput(recordingId, request.params, 'recording id').id),
    );

    const row = (request: FastifyRequest) =>
      recordingRow(db, parseInput(recordingId, request.params, 'recording id').id);

    scope.get(
      '/api/recordings/:id/audio',
      blobRoute(async (request) => (await row(request)).bytes),
      async (request, reply) => sendBlob(reply, blobs, (await row(request)).blob, 'audio/wav'),
    );

    scope.get(
      '/api/recordings/:id/spectrogram.png',
      blobRoute(async (request) => (await blobs.size((await row(request)).spectrogram_blob)) ?? 0),
      async (request, reply) => sendBlob(reply, blobs, (await row(request)).spectrogram_blob, 'image/png'),
    );

    scope.get('/api/recordings/:id/export', viewer, async (request, reply) => {
      const { id } = parseInput(recordingId, request.params, 'recording id');
      const q = parseInput(exportQuery, request.query, 'query');
      const { recording, segments } = await detail(db, id);
      const chosen = q.reviewed === 'true' ? segments.filter((s) => s.status !== 'pending') : segments;
      if (q.format === 'json') return segmentsAsJson(recording, chosen);
      return reply
        .type('text/plain; charset=utf-8')
        .header('content-disposition', attachment(labelFileName(recording)))
        .send(segmentsAsLabels(chosen));
    });

    scope.post('/api/recordings/:id/segments', annotator, async (request, reply) => {
      const { id } = parseInput(recordingId, request.params, 'recording id');
      const s = parseInput(newSegment, request.body, 'segment');
      const created = await addSegment(db, id, s, { actor: request.user!.email });
      return reply.code(201).send({ segmentId: created, ...(await detail(db, id)) });
    });

    const edit = async (params: unknown, e: SegmentEdit, actor: string, rev: number | undefined) => {
      const { id, sid } = parseInput(segmentId, params, 'segment id');
      await editSegment(db, id, sid, e, { actor, ...(rev !== undefined ? { revision: rev } : {}) });
      return detail(db, id);
    };

    scope.patch('/api/recordings/:id/segments/:sid', annotator, async (request) => {
      const { revision: rev, ...change } = parseInput(segmentChange, request.body, 'change');
      return edit(request.params, { kind: 'update', ...change }, request.user!.email, rev);
    });

    scope.post('/api/recordings/:id/segments/:sid/accept', annotator, async (request) => {
      const { revision: rev } = parseInput(withRevision, request.body, 'request');
      return edit(request.params, { kind: 'accept' }, request.user!.email, rev);
    });

    scope.post('/api/recordings/:id/segments/:sid/split', annotator, async (request) => {
      const { at, revision: rev } = parseInput(split, request.body, 'split');
      return edit(request.params, { kind: 'split', at }, request.user!.email, rev);
    });

    scope.delete('/api/recordings/:id/segments/:sid', annotator, async (request) => {
      const { revision: rev } = parseInput(deleteQuery, request.query, 'query');
      return edit(request.params, { kind: 'delete' }, request.user!.email, rev);
    });

    scope.post('/api/recordings/:id/accept-all', annotator, async (request) => {
      const { id } = parseInput(recordingId, request.params, 'recording id');
      const accepted = await acceptAll(db, id, { actor: request.user!.email });
      return { accepted, ...(await detail(db, id)) };
    });
  });
}
