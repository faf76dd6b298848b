import { sql, type Generated, type Kysely } from 'kysely';
import type { Database } from '../../store/database.js';
import type { Split } from '../versions/manifest.js';
import type { PendingItem } from './build-items.js';

/** One item on its way into a version: the base version's, or a candidate of the source. */
type StagingTable = {
  /** Input order: the base version's items first, then the source's in its order. */
  seq: Generated<number>;
  /** 1 for an item of the version being added to. */
  base: number;
  id: string;
  kind: 'image' | 'audio';
  blob: string;
  label: string;
  source: string;
  split: Split | null;
  grp: string | null;
  /** JSON of the rest (start, end, meta), which only JavaScript reads: numbers come back exact. */
  rest: string | null;
};

/** The distinct images, numbered from 1 in order of first appearance. */
type ImagesTable = {
  slot: Generated<number>;
  blob: string;
};

/** The distinct groups, numbered from 1 in order of first appearance. */
type GroupsTable = {
  gid: Generated<number>;
  name: string;
};

type StagingTables = {
  ingest_staging: StagingTable;
  ingest_images: ImagesTable;
  ingest_groups: GroupsTable;
};

/** What the passes over the staged items read of each, in input order. */
export interface StagedColumns {
  seq: number;
  kind: 'image' | 'audio';
  label: string;
  split: Split | null;
  base: number;
  /** From 0; null without a group. */
  group: number | null;
  /** From 0; null for audio. */
  image: number | null;
}

export type StagedItem = PendingItem & { seq: number };

// Rows a statement, written or read. Well under SQLite's 32,766 parameters for the queries by
// key; and a page of the manifest is about 100 KB, so the few the blob store's write stream
// buffers stay small.
const BATCH = 500;

/**
 * The items of one ingest, held in the workspace database instead of in memory, so a large
 * dataset costs disk pages rather than a JavaScript object per item. The tables are TEMP: they
 * belong to this connection and live in a file SQLite deletes itself, so a killed or
 * interrupted ingest leaves nothing behind and there is no migration; other processes never
 * see them. A connection stages one ingest at a time.
 */
export class IngestStaging {
  readonly #db: Kysely<StagingTables>;

  private constructor(db: Kysely<StagingTables>) {
    this.#db = db;
  }

  static async create(db: Database): Promise<IngestStaging> {
    const staging = db.withTables<StagingTables>();
    await staging.schema
      .createTable('ingest_staging')
      .temporary()
      .addColumn('seq', 'integer', (c) => c.primaryKey())
      .addColumn('base', 'integer', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('blob', 'text', (c) => c.notNull())
      .addColumn('label', 'text', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('split', 'text')
      .addColumn('grp', 'text')
      .addColumn('rest', 'text')
      .execute();
    await staging.schema
      .createIndex('ingest_staging_by_id')
      .on('ingest_staging')
      .columns(['id', 'seq'])
      .execute();
    await staging.schema
      .createTable('ingest_images')
      .temporary()
      .addColumn('slot', 'integer', (c) => c.primaryKey())
      .addColumn('blob', 'text', (c) => c.notNull().unique())
      .execute();
    await staging.schema
      .createTable('ingest_groups')
      .temporary()
      .addColumn('gid', 'integer', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .execute();
    return new IngestStaging(staging);
  }

  async drop(): Promise<void> {
    for (const table of ['ingest_staging', 'ingest_images', 'ingest_groups'] as const)
      await this.#db.schema.dropTable(table).ifExists().execute();
  }

  /**
   * Inserts items as one JSON parameter a batch: a statement with a parameter per value would be
   * compiled anew for every batch, and its native memory only goes when the garbage collector
   * gets round to it.
   */
  async add(items: readonly PendingItem[], base: boolean): Promise<void> {
    for (let i = 0; i < items.length; i += BATCH) {
      const rows = items
        .slice(i, i + BATCH)
        .map(({ id, kind, blob, label, source, split, group, ...rest }) => [
          id,
          kind,
          blob,
          label,
          source,
          split ?? null,
          group ?? null,
          Object.keys(rest).length ? JSON.stringify(rest) : null,
        ]);
      await sql`INSERT INTO ingest_staging (base, id, kind, blob, label, source, split, grp, rest)
        SELECT ${base ? 1 : 0}, value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7
        FROM json_each(${JSON.stringify(rows)})`.execute(this.#db);
    }
  }

  /** The labels of the base version's items among these ids. */
  async baseLabels(ids: readonly string[]): Promise<Map<string, string>> {
    const rows = await this.#db
      .selectFrom('ingest_staging')
      .select(['id', 'label'])
      .where('base', '=', 1)
      .where('id', 'in', sql<string>`(SELECT value FROM json_each(${JSON.stringify(ids)}))`)
      .execute();
    return new Map(rows.map((r) => [r.id, r.label]));
  }

  /** Gives items of the base version new labels (people's corrections), by id. */
  async relabelBase(labels: ReadonlyMap<string, string>): Promise<void> {
    const rows = [...labels];
    for (let i = 0; i < rows.length; i += BATCH)
      await sql`UPDATE ingest_staging SET label = r.value->>1
        FROM json_each(${JSON.stringify(rows.slice(i, i + BATCH))}) AS r
        WHERE ingest_staging.base = 1 AND ingest_staging.id = r.value->>0`.execute(this.#db);
  }

  /**
   * Numbers the distinct images and groups, each in order of first appearance. Returns how
   * many groups there are, and the number of the group named '' (-1 if none).
   */
  async numberImagesAndGroups(): Promise<{ groups: number; emptyGroup: number }> {
    await this.#db
      .insertInto('ingest_images')
      .orIgnore()
      .columns(['blob'])
      .expression((eb) =>
        eb.selectFrom('ingest_staging').select('blob').where('kind', '=', 'image').orderBy('seq'),
      )
      .execute();
    await this.#db
      .insertInto('ingest_groups')
      .orIgnore()
      .columns(['name'])
      .expression((eb) =>
        eb.selectFrom('ingest_staging').select('grp as name').where('grp', 'is not', null).orderBy('seq'),
      )
      .execute();
    const { groups } = await this.#db
      .selectFrom('ingest_groups')
      .select((eb) => eb.fn.countAll<number>().as('groups'))
      .executeTakeFirstOrThrow();
    const empty = await this.#db
      .selectFrom('ingest_groups')
      .select('gid')
      .where('name', '=', '')
      .executeTakeFirst();
    return { groups: Number(groups), emptyGroup: empty ? empty.gid - 1 : -1 };
  }

  /** Every item's columns, in input order (after `numberImagesAndGroups`). */
  columns(): AsyncGenerator<StagedColumns[]> {
    return pages(
      (last) =>
        this.#db
          .selectFrom('ingest_staging as s')
          .leftJoin('ingest_groups as g', 'g.name', 's.grp')
          .leftJoin('ingest_images as i', (join) =>
            join.onRef('i.blob', '=', 's.blob').on('s.kind', '=', 'image'),
          )
          .select(['s.seq', 's.kind', 's.label', 's.split', 's.base'])
          .select((eb) => [eb('g.gid', '-', 1).as('group'), eb('i.slot', '-', 1).as('image')])
          .where('s.seq', '>', last?.seq ?? 0)
          .orderBy('s.seq')
          .limit(BATCH)
          .execute() as Promise<StagedColumns[]>,
    );
  }

  /** The distinct images' blobs, in order. */
  async *images(): AsyncGenerator<string> {
    const read = (last: { slot: number } | undefined) =>
      this.#db
        .selectFrom('ingest_images')
        .select(['slot', 'blob'])
        .where('slot', '>', last?.slot ?? 0)
        .orderBy('slot')
        .limit(BATCH)
        .execute();
    for await (const page of pages(read)) yield* page.map((r) => r.blob);
  }

  /** The distinct groups' names, in order. */
  async *groups(): AsyncGenerator<string> {
    const read = (last: { gid: number } | undefined) =>
      this.#db
        .selectFrom('ingest_groups')
        .select(['gid', 'name'])
        .where('gid', '>', last?.gid ?? 0)
        .orderBy('gid')
        .limit(BATCH)
        .execute();
    for await (const page of pages(read)) yield* page.map((r) => r.name);
  }

  /** Every item's id, in input order. */
  async *ids(): AsyncGenerator<string> {
    const read = (last: { seq: number } | undefined) =>
      this.#db
        .selectFrom('ingest_staging')
        .select(['seq', 'id'])
        .where('seq', '>', last?.seq ?? 0)
        .orderBy('seq')
        .limit(BATCH)
        .execute();
    for await (const page of pages(read)) yield* page.map((r) => r.id);
  }

  /** The seqs of items that share their id with another, those of one id together and in order. */
  async repeatedIds(): Promise<number[][]> {
    const rows = await this.#db
      .selectFrom('ingest_staging')
      .select(['id', 'seq'])
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('ingest_staging')
          .select('id')
          .groupBy('id')
          .having((h) => h.fn.countAll(), '>', 1),
      )
      .orderBy('id')
      .orderBy('seq')
      .execute();
    const byId = new Map<string, number[]>();
    for (const r of rows) byId.set(r.id, [...(byId.get(r.id) ?? []), r.seq]);
    return [...byId.values()];
  }

  /** The blobs of some images, by number. */
  async imageBlobs(images: readonly number[]): Promise<Map<number, string>> {
    const found = new Map<number, string>();
    for (let i = 0; i < images.length; i += BATCH) {
      const rows = await this.#db
        .selectFrom('ingest_images')
        .select(['slot', 'blob'])
        .where(
          'slot',
          'in',
          images.slice(i, i + BATCH).map((s) => s + 1),
        )
        .execute();
      for (const r of rows) found.set(r.slot - 1, r.blob);
    }
    return found;
  }

  /** A few items whole, by seq. */
  async items(seqs: readonly number[]): Promise<Map<number, StagedItem>> {
    const found = new Map<number, StagedItem>();
    for (let i = 0; i < seqs.length; i += BATCH) {
      const rows = await this.#db
        .selectFrom('ingest_staging')
        .selectAll()
        .where('seq', 'in', seqs.slice(i, i + BATCH))
        .execute();
      for (const r of rows) found.set(r.seq, toItem(r));
    }
    return found;
  }

  /** Every item whole, sorted by id (then seq): the manifest's order, a page at a time. */
  async *byId(): AsyncGenerator<StagedItem[]> {
    const read = (last: { id: string; seq: number } | undefined) =>
      this.#db
        .selectFrom('ingest_staging')
        .selectAll()
        .$if(last !== undefined, (q) => q.where(sql<boolean>`(id, seq) > (${last!.id}, ${last!.seq})`))
        .orderBy('id')
        .orderBy('seq')
        .limit(BATCH)
        .execute();
    for await (const page of pages(read)) yield page.map(toItem);
  }
}

/**
 * A query's rows a page at a time, each page read after the last row of the one before
 * (keyset paging): a statement is never left open across the caller's awaits, and each round
 * trip carries many rows.
 */
async function* pages<R>(read: (last: R | undefined) => Promise<R[]>): AsyncGenerator<R[]> {
  for (let page = await read(undefined); page.length; page = await read(page.at(-1))) yield page;
}

function toItem(r: Omit<StagingTable, 'seq'> & { seq: number }): StagedItem {
  return {
    seq: r.seq,
    id: r.id,
    kind: r.kind,
    blob: r.blob,
    label: r.label,
    source: r.source,
    ...(r.split !== null ? { split: r.split } : {}),
    ...(r.grp !== null ? { group: r.grp } : {}),
    ...(r.rest !== null ? (JSON.parse(r.rest) as Pick<PendingItem, 'start' | 'end' | 'meta'>) : {}),
  };
}
