import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { LoupeError } from '../../errors/loupe-error.js';
import { parseModelRef } from '../../registry/model-ref.js';
import { listModels } from '../../registry/registry-store.js';
import { problemOf } from '../../serve/problem.js';
import { requireRole } from '../accounts/require-role.js';
import { parseInput } from '../parse-input.js';
import type { WebDeps } from '../web-app.js';
import { previewQuery, sendPreview } from './image-preview.js';
import { knownLabels } from './model-labels.js';
import { ClassFolders } from './organiser-files.js';
import { classCounts, getImage, listImages } from './organiser-store.js';
import { imageView, type OrganiserClasses, type UploadResult } from './organiser-view.js';
import { attachment, organiserZip } from './organiser-zip.js';
import { Organiser, type UploadedFile } from './organiser.js';

const viewer = { preHandler: requireRole('viewer'), schema: { hide: true } };
const annotator = { preHandler: requireRole('annotator'), schema: { hide: true } };

const idParam = z.object({ id: z.coerce.number().int().positive() });
const ids = z.array(z.number().int().positive()).min(1).max(10_000);
const labelBody = z.object({ label: z.string().min(1).max(500) });
const pageQuery = z.object({
  label: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

/** `web.organiser.model`, else the workspace's only registered model. */
async function organiserModel(deps: WebDeps): Promise<string> {
  const configured = deps.config.web.organiser.model;
  if (configured) return configured;
  const models = await listModels(deps.ws.db);
  if (models.length === 1) return models[0]!.name;
  throw new LoupeError(
    models.length ? 'INVALID_ARGUMENT' : 'NOT_FOUND',
    models.length
      ? `several models are registered (${models.map((m) => m.name).join(', ')}); set web.organiser.model in loupe.yaml to the one that sorts uploads`
      : 'no model is registered yet: train and register one before organising images',
  );
}

/**
 * One organiser per server, shared by the organiser's and the review queue's routes so their
 * changes to images run one at a time; keyed by the server's PredictService, which each server
 * has its own of.
 */
const organisers = new WeakMap<WebDeps['service'], Promise<Organiser>>();

export function organiserFor(deps: WebDeps): Promise<Organiser> {
  let organiser = organisers.get(deps.service);
  if (!organiser) {
    organiser = (async () => {
      const folders = new ClassFolders(
        path.resolve(deps.ws.root, deps.config.web.organiser.dir),
        deps.ws.blobs,
      );
      const repaired = await folders.repair(deps.ws.db);
      if (repaired.moved || repaired.restored)
        console.warn(
          `loupe: organiser: finished ${repaired.moved} interrupted move(s) and restored ${repaired.restored} missing file(s) in ${folders.dir}`,
        );
      return new Organiser(deps.ws, folders, deps.service, () => organiserModel(deps));
    })();
    organisers.set(deps.service, organiser);
  }
  return organiser;
}

/** The files of a multipart upload, refused as a whole beyond the server's body limit. */
async function uploadedFiles(request: FastifyRequest, maxBytes: number): Promise<UploadedFile[]> {
  if (!request.isMultipart())
    throw new LoupeError('UNSUPPORTED_MEDIA', 'send the images as multipart/form-data, one file part each');
  const files: UploadedFile[] = [];
  let total = 0;
  // Multipart bodies bypass Fastify's bodyLimit and the plugin limits each file on its own.
  for await (const part of request.files()) {
    const bytes = await part.toBuffer();
    total += bytes.length;
    if (total > maxBytes)
      throw new LoupeError(
        'TOO_LARGE',
        `the files of one upload may total ${maxBytes} bytes; send fewer at a time`,
      );
    // The name is only shown and made safe for disk and zip; a sane length is all it needs.
    files.push({ name: (part.filename || 'upload').slice(0, 255), bytes });
  }
  if (!files.length) throw new LoupeError('INVALID_ARGUMENT', 'the upload holds no files');
  return files;
}

/** The photo organiser's API: upload and classify, browse by class, correct, delete, download. */
export async function registerOrganiserRoutes(app: FastifyInstance, deps: WebDeps): Promise<void> {
  const { db, blobs } = deps.ws;
  const organiser = await organiserFor(deps);
  const limits = deps.config.serve.limits;

  app.get('/api/organiser/classes', viewer, async (): Promise<OrganiserClasses> => {
    const classes = await classCounts(db);
    let model: string | null = null;
    let labels: string[] = [];
    try {
      model = await organiser.model();
      labels = await knownLabels(db, parseModelRef(model).model);
    } catch (e) {
      if (!(e instanceof LoupeError)) throw e;
    }
    return {
      model,
      labels,
      total: classes.reduce((n, c) => n + c.count, 0),
      classes,
    };
  });

  app.get('/api/organiser/images', viewer, async (request) => {
    const q = parseInput(pageQuery, request.query, 'query');
    const { total, items } = await listImages(db, q);
    return { total, items: items.map(imageView) };
  });

  app.post('/api/organiser/images', annotator, async (request) => {
    const files = await uploadedFiles(request, limits.bodyBytes);
    const outcomes = await organiser.upload(files, request.user!, String(request.id));
    return {
      results: outcomes.map((o): UploadResult => {
        if ('error' in o) {
          const { status, code, title, detail } = problemOf(o.error, request);
          return { name: o.name, error: { status, code, title, detail } };
        }
        return { name: o.name, duplicate: o.duplicate, image: imageView(o.image) };
      }),
    };
  });

  app.patch('/api/organiser/images/:id', annotator, async (request) => {
    const { id } = parseInput(idParam, request.params, 'image id');
    const { label } = parseInput(labelBody, request.body, 'correction');
    const [image] = await organiser.relabel([id], label, request.user!);
    return { image: imageView(image!) };
  });

  app.post('/api/organiser/relabel', annotator, async (request) => {
    const body = parseInput(labelBody.extend({ ids }), request.body, 'relabel');
    const images = await organiser.relabel(body.ids, body.label, request.user!);
    return { images: images.map(imageView) };
  });

  app.delete('/api/organiser/images/:id', annotator, async (request, reply) => {
    const { id } = parseInput(idParam, request.params, 'image id');
    await organiser.remove([id], request.user!);
    return reply.code(204).send();
  });

  app.post('/api/organiser/delete', annotator, async (request) => {
    const body = parseInput(z.object({ ids }), request.body, 'delete');
    return { deleted: await organiser.remove(body.ids, request.user!) };
  });

  app.get('/api/organiser/images/:id/thumbnail', viewer, async (request, reply) => {
    const { id } = parseInput(idParam, request.params, 'image id');
    const { size } = parseInput(previewQuery(320), request.query, 'query');
    const image = await getImage(db, id);
    return sendPreview(request, reply, blobs, { hash: image.blobHash, size, maxPixels: limits.maxPixels });
  });

  app.get('/api/organiser/download', viewer, async (request, reply) => {
    const { label } = parseInput(z.object({ label: z.string().optional() }), request.query, 'query');
    let name = 'organised.zip';
    if (label !== undefined) {
      const folder = (await classCounts(db)).find((c) => c.label === label)?.folder;
      if (!folder)
        throw new LoupeError('NOT_FOUND', `no organised image is labelled ${JSON.stringify(label)}`);
      name = `organised-${folder}.zip`;
    }
    // Fastify destroys the zip when the client goes away, which stops organiserZip's loop.
    return reply
      .type('application/zip')
      .header('content-disposition', attachment(name))
      .header('cache-control', 'no-store')
      .send(organiserZip(db, blobs, label === undefined ? {} : { label }));
  });
}
