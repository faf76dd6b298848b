import type { Kysely } from 'kysely';
import { SNIFF_BYTES, sniffImage } from '../../data/content/sniff-image.js';
import { LoupeError, isLoupeError } from '../../errors/loupe-error.js';
import { recordFeedback, type FeedbackInput } from '../../monitor/feedback/feedback-store.js';
import { parseModelRef } from '../../registry/model-ref.js';
import type { PredictService } from '../../serve/predict-service.js';
import { immediateTransaction } from '../../store/immediate-transaction.js';
import type { DatabaseSchema } from '../../store/schema.js';
import type { Workspace } from '../../workspace/workspace.js';
import { checkLabel } from './model-labels.js';
import type { ClassFolders } from './organiser-files.js';
import {
  deleteRow,
  findByBlob,
  getImage,
  insertImage,
  moveDone,
  setLabel,
  type OrganisedImage,
} from './organiser-store.js';
import { classFolder, storedName } from './safe-names.js';

/** Who is acting: a signed-in user. */
export interface Actor {
  id: number;
  email: string;
}

export interface UploadedFile {
  name: string;
  bytes: Uint8Array;
}

export type UploadOutcome =
  { name: string; image: OrganisedImage; duplicate: boolean } | { name: string; error: LoupeError };

/** Classes kept per image; the prediction log gets every class, so the review queue's entropy is exact. */
const SHOWN_CLASSES = 3;
const EVERY_CLASS = Number.MAX_SAFE_INTEGER;

/** The id of the logged prediction an organised image came from, once the log has written it. */
async function predictionIdOf(ws: Workspace, image: OrganisedImage): Promise<number | null> {
  const row = await ws.db
    .selectFrom('predictions')
    .select('id')
    .where('request_id', '=', image.requestId)
    .where('input_hash', '=', image.blobHash)
    .orderBy('id', 'desc')
    .executeTakeFirst();
  return row?.id ?? null;
}

/** The provenance of a decision about an organised image: the classification it judged. */
export async function imageFeedback(
  ws: Workspace,
  image: OrganisedImage,
  o: Pick<FeedbackInput, 'actor' | 'channel' | 'action' | 'label' | 'note'>,
): Promise<FeedbackInput> {
  return {
    ...o,
    model: image.model,
    version: image.version,
    predictionId: await predictionIdOf(ws, image),
    requestId: image.requestId,
    inputHash: image.blobHash,
    inputBlob: image.blobHash,
    media: 'image',
    predicted: image.predicted,
    confidence: image.probability,
  };
}

/**
 * The photo organiser: uploads classified by the served model and kept in class folders, corrected
 * by people (each correction is feedback), deleted. Changes to the rows and files run one at a
 * time — a promise chain rather than a lock library, as only this process writes the folders — so
 * two corrections of one image cannot interleave their database and file steps.
 */
export class Organiser {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ws: Workspace,
    readonly folders: ClassFolders,
    private readonly service: PredictService,
    /** The model reference uploads are classified with. */
    readonly model: () => Promise<string>,
  ) {}

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Classifies the files in one batch through the server's PredictService (the same decoding,
   * limits and prediction log as the REST API), then stores each one that is an image. A file
   * that is not is reported with the server's message and not kept; the same bytes uploaded again
   * find the image already organised.
   */
  async upload(files: UploadedFile[], actor: Actor, requestId: string): Promise<UploadOutcome[]> {
    const { model: ref, results } = await this.service.predict(
      await this.model(),
      files.map((f) => ({ bytes: f.bytes })),
      { topK: EVERY_CLASS, requestId, caller: `web:${actor.email}` },
    );
    const served = parseModelRef(ref);
    if (!('version' in served)) throw new LoupeError('INTERNAL', `the served model has no version: ${ref}`);
    const outcomes: UploadOutcome[] = [];
    for (const [i, file] of files.entries()) {
      const result = results[i]!;
      if ('error' in result) {
        outcomes.push({ name: file.name, error: result.error });
        continue;
      }
      try {
        const blobHash = await this.ws.blobs.put(file.bytes);
        outcomes.push(
          await this.exclusive(async () => {
            const existing = await findByBlob(this.ws.db, blobHash);
            if (existing) return { name: file.name, image: existing, duplicate: true };
            const format = sniffImage(file.bytes.subarray(0, SNIFF_BYTES));
            if (!format) throw new LoupeError('UNSUPPORTED_MEDIA', 'the upload is not an image');
            const best = result.predictions[0]!;
            const image = await insertImage(this.ws.db, {
              ownerId: actor.id,
              originalName: file.name,
              storedName: storedName(file.name, blobHash, format.ext),
              classFolder: classFolder(best.label),
              blobHash,
              mime: format.mime,
              bytes: file.bytes.byteLength,
              model: served.model,
              version: served.version,
              requestId,
              topK: result.predictions.slice(0, SHOWN_CLASSES),
              predicted: best.label,
              probability: best.probability,
            });
            try {
              await this.folders.write(image, file.bytes);
            } catch (e) {
              await deleteRow(this.ws.db, image.id);
              throw e;
            }
            return { name: file.name, image, duplicate: false };
          }),
        );
      } catch (e) {
        if (!isLoupeError(e)) throw e;
        outcomes.push({ name: file.name, error: e });
      }
    }
    return outcomes;
  }

  /**
   * Gives an image a label (and says whether a person chose it), running `prepare`'s database
   * work — recording or withdrawing the decision behind it — in the same transaction, then moves
   * the file (the order is explained in organiser-files.ts). `prepare` sees the image as it is now,
   * before the change, and may refuse by throwing.
   */
  async applyLabel<T>(
    id: number,
    target: { label: string; corrected: boolean },
    prepare: (image: OrganisedImage) => Promise<(trx: Kysely<DatabaseSchema>) => Promise<T>>,
  ): Promise<{ image: OrganisedImage; result: T }> {
    return this.exclusive(async () => {
      const before = await getImage(this.ws.db, id);
      const work = await prepare(before);
      const result = await immediateTransaction(this.ws.db, async (trx) => {
        if (before.label !== target.label || before.corrected !== target.corrected)
          await setLabel(trx, before, { ...target, folder: classFolder(target.label) });
        return work(trx);
      });
      const moving = await getImage(this.ws.db, id);
      if (moving.movedFrom !== null) {
        await this.folders.move(moving);
        await moveDone(this.ws.db, id);
      }
      return { image: { ...moving, movedFrom: null }, result };
    });
  }

  /** Corrects (or confirms) images from the organiser: one label for all, each a feedback row. */
  async relabel(ids: readonly number[], label: string, actor: Actor): Promise<OrganisedImage[]> {
    const images = await Promise.all(ids.map((id) => getImage(this.ws.db, id)));
    await checkLabel(
      this.ws.db,
      images.map((i) => i.model),
      label,
    );
    const out: OrganisedImage[] = [];
    for (const { id } of images) {
      const { image } = await this.applyLabel(id, { label, corrected: true }, async (now) => {
        if (now.label === label && now.corrected) return async () => null;
        const feedback = await imageFeedback(this.ws, now, {
          actor: actor.email,
          channel: 'organiser',
          action: label === now.predicted ? 'accept' : 'correct',
          label,
        });
        return (trx) => recordFeedback(trx, feedback);
      });
      out.push(image);
    }
    return out;
  }

  /**
   * Deletes images: the file, then the row with a `delete` feedback row in one transaction (which
   * withdraws the image from the next dataset version; earlier decisions stay as history). The
   * bytes stay in the blob store, which other records (the prediction log, datasets) may share.
   */
  async remove(ids: readonly number[], actor: Actor): Promise<number> {
    await Promise.all(ids.map((id) => getImage(this.ws.db, id)));
    let removed = 0;
    for (const id of new Set(ids)) {
      removed += await this.exclusive(async () => {
        const image = await getImage(this.ws.db, id).catch(() => undefined);
        if (!image) return 0;
        const feedback = await imageFeedback(this.ws, image, {
          actor: actor.email,
          channel: 'organiser',
          action: 'delete',
          note: `deleted ${image.originalName} from the organiser`,
        });
        await this.folders.remove(image);
        try {
          await immediateTransaction(this.ws.db, async (trx) => {
            await recordFeedback(trx, feedback);
            await deleteRow(trx, id);
          });
        } catch (e) {
          await this.folders.write(image).catch(() => undefined);
          throw e;
        }
        return 1;
      });
    }
    return removed;
  }
}
