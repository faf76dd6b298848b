import type { Kysely, Selectable } from 'kysely';
import { LoupeError } from '../../errors/loupe-error.js';
import type { LabelProbability } from '../../inference/top-k.js';
import type { Database } from '../../store/database.js';
import type { DatabaseSchema, OrganisedImagesTable } from '../../store/schema.js';

/** An image in the organiser, as the routes and the client see it. */
export interface OrganisedImage {
  id: number;
  ownerId: number;
  originalName: string;
  storedName: string;
  classFolder: string;
  movedFrom: string | null;
  blobHash: string;
  mime: string;
  bytes: number;
  model: string;
  version: number;
  requestId: string;
  topK: LabelProbability[];
  predicted: string;
  probability: number;
  label: string;
  corrected: boolean;
  createdAt: string;
  updatedAt: string;
}

export type NewOrganisedImage = Omit<
  OrganisedImage,
  'id' | 'movedFrom' | 'corrected' | 'label' | 'createdAt' | 'updatedAt'
>;

type Row = Selectable<OrganisedImagesTable>;

function toImage(r: Row): OrganisedImage {
  return {
    id: r.id,
    ownerId: r.owner_id,
    originalName: r.original_name,
    storedName: r.stored_name,
    classFolder: r.class_folder,
    movedFrom: r.moved_from,
    blobHash: r.blob_hash,
    mime: r.mime,
    bytes: r.bytes,
    model: r.model,
    version: r.version,
    requestId: r.request_id,
    topK: JSON.parse(r.top_k) as LabelProbability[],
    predicted: r.predicted,
    probability: r.probability,
    label: r.label,
    corrected: r.corrected === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Stores a newly classified image under its predicted label; the caller writes the file after. */
export async function insertImage(
  db: Database,
  image: NewOrganisedImage & { classFolder: string },
): Promise<OrganisedImage> {
  const at = new Date().toISOString();
  const row = await db
    .insertInto('organised_images')
    .values({
      owner_id: image.ownerId,
      original_name: image.originalName,
      stored_name: image.storedName,
      class_folder: image.classFolder,
      moved_from: null,
      blob_hash: image.blobHash,
      mime: image.mime,
      bytes: image.bytes,
      model: image.model,
      version: image.version,
      request_id: image.requestId,
      top_k: JSON.stringify(image.topK),
      predicted: image.predicted,
      probability: image.probability,
      label: image.predicted,
      corrected: 0,
      created_at: at,
      updated_at: at,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toImage(row);
}

export async function findImage(db: Kysely<DatabaseSchema>, id: number): Promise<OrganisedImage | undefined> {
  const row = await db.selectFrom('organised_images').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toImage(row);
}

export async function getImage(db: Kysely<DatabaseSchema>, id: number): Promise<OrganisedImage> {
  const image = await findImage(db, id);
  if (!image) throw new LoupeError('NOT_FOUND', `no organised image ${id}`);
  return image;
}

export async function findByBlob(db: Database, hash: string): Promise<OrganisedImage | undefined> {
  const row = await db
    .selectFrom('organised_images')
    .selectAll()
    .where('blob_hash', '=', hash)
    .executeTakeFirst();
  return row && toImage(row);
}

/** One page of a class (or of everything), oldest first so pages stay put as uploads arrive. */
export async function listImages(
  db: Database,
  o: { label?: string; limit: number; offset: number },
): Promise<{ total: number; items: OrganisedImage[] }> {
  let q = db.selectFrom('organised_images');
  if (o.label !== undefined) q = q.where('label', '=', o.label);
  const [{ total }, rows] = await Promise.all([
    q.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow(),
    q.selectAll().orderBy('id').limit(o.limit).offset(o.offset).execute(),
  ]);
  return { total: Number(total), items: rows.map(toImage) };
}

/** Every image in id order, in pages, for downloads and the start-up repair. */
export async function* allImages(db: Database, o: { label?: string } = {}): AsyncGenerator<OrganisedImage> {
  for (let after = 0; ;) {
    let q = db.selectFrom('organised_images').selectAll().where('id', '>', after).orderBy('id').limit(500);
    if (o.label !== undefined) q = q.where('label', '=', o.label);
    const rows = await q.execute();
    for (const r of rows) yield toImage(r);
    if (rows.length < 500) return;
    after = rows.at(-1)!.id;
  }
}

/** How many images each current label holds, with its folder, by label. */
export async function classCounts(db: Database): Promise<{ label: string; folder: string; count: number }[]> {
  const rows = await db
    .selectFrom('organised_images')
    .select([
      'label',
      (eb) => eb.fn.max('class_folder').as('folder'),
      (eb) => eb.fn.countAll<number>().as('count'),
    ])
    .groupBy('label')
    .orderBy('label')
    .execute();
  return rows.map((r) => ({ label: r.label, folder: String(r.folder), count: Number(r.count) }));
}

/**
 * The first step of a move (see organiser-files.ts): the row takes its new label and folder and
 * names the folder its file is leaving.
 */
export async function setLabel(
  trx: Kysely<DatabaseSchema>,
  image: OrganisedImage,
  to: { label: string; folder: string; corrected: boolean },
): Promise<void> {
  await trx
    .updateTable('organised_images')
    .set({
      label: to.label,
      class_folder: to.folder,
      moved_from: to.folder === image.classFolder ? null : image.classFolder,
      corrected: to.corrected ? 1 : 0,
      updated_at: new Date().toISOString(),
    })
    .where('id', '=', image.id)
    .execute();
}

/** The last step of a move: the file is where the row says. */
export async function moveDone(db: Database, id: number): Promise<void> {
  await db.updateTable('organised_images').set({ moved_from: null }).where('id', '=', id).execute();
}

export async function deleteRow(trx: Kysely<DatabaseSchema>, id: number): Promise<void> {
  await trx.deleteFrom('organised_images').where('id', '=', id).execute();
}
