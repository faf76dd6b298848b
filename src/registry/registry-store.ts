import os from 'node:os';
import type { Kysely } from 'kysely';
import { LoupeError } from '../errors/loupe-error.js';
import type { Database } from '../store/database.js';
import { immediateTransaction } from '../store/immediate-transaction.js';
import type { DatabaseSchema, ModelSource, ModelVersionsTable, RegistryAction } from '../store/schema.js';
import type { ModelInputs } from '../inference/model-inputs.js';
import { checkModelName, formatRef, type ModelRef } from './model-ref.js';

export const CHAMPION = 'champion';

export interface StoredFile {
  sha256: string;
  bytes: number;
}

export interface ModelVersion {
  model: string;
  version: number;
  ref: string;
  createdAt: string;
  createdBy: string;
  source: ModelSource;
  runId: string | null;
  datasetVersion: string | null;
  files: Record<string, StoredFile>;
  classes: string[];
  inputs: ModelInputs;
  temperature: number;
  metrics: Record<string, number>;
  lineage: Record<string, unknown>;
  /** Aliases pointing at this version. */
  aliases: string[];
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: RegistryAction;
  model: string;
  alias: string | null;
  fromVersion: number | null;
  toVersion: number | null;
  reason: string;
  forced: boolean;
  gate: unknown;
}

/** Who a registry change is attributed to: LOUPE_ACTOR (the web app's user, a CI job), else the OS user. */
export function defaultActor(): string {
  return process.env.LOUPE_ACTOR || os.userInfo().username;
}

const now = () => new Date().toISOString();

function toVersion(row: ModelVersionsTable, aliases: string[]): ModelVersion {
  return {
    model: row.model,
    version: row.version,
    ref: formatRef(row.model, row.version),
    createdAt: row.created_at,
    createdBy: row.created_by,
    source: row.source,
    runId: row.run_id,
    datasetVersion: row.dataset_version,
    files: JSON.parse(row.files) as Record<string, StoredFile>,
    classes: JSON.parse(row.classes) as string[],
    inputs: JSON.parse(row.inputs) as ModelInputs,
    temperature: row.temperature,
    metrics: JSON.parse(row.metrics) as Record<string, number>,
    lineage: JSON.parse(row.lineage) as Record<string, unknown>,
    aliases,
  };
}

/** What a new version is made of; the registry adds its number, time, author and aliases. */
export interface NewVersion extends Pick<
  ModelVersion,
  'model' | 'source' | 'files' | 'classes' | 'inputs' | 'temperature' | 'metrics' | 'lineage'
> {
  runId?: string;
  datasetVersion?: string;
  actor?: string;
  reason?: string;
}

/** Adds the next version of a model (creating the model on its first version); versions never change after. */
export async function addVersion(db: Database, v: NewVersion): Promise<ModelVersion> {
  checkModelName(v.model);
  const actor = v.actor ?? defaultActor();
  const version = await immediateTransaction(db, async (trx) => {
    const at = now();
    await trx
      .insertInto('registered_models')
      .values({ name: v.model, created_at: at })
      .onConflict((c) => c.doNothing())
      .execute();
    const last = await trx
      .selectFrom('model_versions')
      .select((eb) => eb.fn.max('version').as('v'))
      .where('model', '=', v.model)
      .executeTakeFirst();
    const next = Number(last?.v ?? 0) + 1;
    await trx
      .insertInto('model_versions')
      .values({
        model: v.model,
        version: next,
        created_at: at,
        created_by: actor,
        source: v.source,
        run_id: v.runId ?? null,
        dataset_version: v.datasetVersion ?? null,
        files: JSON.stringify(v.files),
        classes: JSON.stringify(v.classes),
        inputs: JSON.stringify(v.inputs),
        temperature: v.temperature,
        metrics: JSON.stringify(v.metrics),
        lineage: JSON.stringify(v.lineage),
      })
      .execute();
    await audit(trx, { actor, action: 'register', model: v.model, to: next, reason: v.reason ?? '' });
    return next;
  });
  return getVersion(db, { model: v.model, version });
}

async function audit(
  trx: Kysely<DatabaseSchema>,
  e: {
    actor: string;
    action: RegistryAction;
    model: string;
    alias?: string;
    from?: number | null;
    to: number;
    reason: string;
    forced?: boolean;
    gate?: unknown;
  },
): Promise<void> {
  await trx
    .insertInto('registry_audit')
    .values({
      at: now(),
      actor: e.actor,
      action: e.action,
      model: e.model,
      alias: e.alias ?? null,
      from_version: e.from ?? null,
      to_version: e.to,
      reason: e.reason,
      forced: e.forced ? 1 : 0,
      gate: e.gate === undefined ? null : JSON.stringify(e.gate),
    })
    .execute();
}

async function aliasesOf(db: Kysely<DatabaseSchema>, model: string): Promise<Map<number, string[]>> {
  const rows = await db
    .selectFrom('model_aliases')
    .selectAll()
    .where('model', '=', model)
    .orderBy('alias')
    .execute();
  const map = new Map<number, string[]>();
  for (const r of rows) map.set(r.version, [...(map.get(r.version) ?? []), r.alias]);
  return map;
}

async function requireModel(db: Kysely<DatabaseSchema>, model: string): Promise<void> {
  const found = await db
    .selectFrom('registered_models')
    .select('name')
    .where('name', '=', model)
    .executeTakeFirst();
  if (found) return;
  const names = (await db.selectFrom('registered_models').select('name').orderBy('name').execute()).map(
    (r) => r.name,
  );
  throw new LoupeError(
    'NOT_FOUND',
    `no model named "${model}"` +
      (names.length
        ? `; the registry has: ${names.join(', ')}`
        : '; register one with `loupe models register RUN`'),
  );
}

/** The version a reference names: a number, an alias, or for a bare name the champion (else the latest). */
export async function getVersion(db: Database, ref: ModelRef): Promise<ModelVersion> {
  await requireModel(db, ref.model);
  let version: number | undefined;
  if ('version' in ref) version = ref.version;
  else {
    const alias = 'alias' in ref ? ref.alias : CHAMPION;
    const row = await db
      .selectFrom('model_aliases')
      .select('version')
      .where('model', '=', ref.model)
      .where('alias', '=', alias)
      .executeTakeFirst();
    if (row) version = row.version;
    else if ('alias' in ref)
      throw new LoupeError('NOT_FOUND', `model ${ref.model} has no alias "${ref.alias}"`);
  }
  let q = db.selectFrom('model_versions').selectAll().where('model', '=', ref.model);
  q = version === undefined ? q.orderBy('version', 'desc') : q.where('version', '=', version);
  const row = await q.executeTakeFirst();
  if (!row) throw new LoupeError('NOT_FOUND', `model ${ref.model} has no version ${version ?? ''}`.trim());
  return toVersion(row, (await aliasesOf(db, ref.model)).get(row.version) ?? []);
}

/** The version an alias points at now, or undefined. */
export async function aliasTarget(db: Database, model: string, alias: string): Promise<number | undefined> {
  const row = await db
    .selectFrom('model_aliases')
    .select('version')
    .where('model', '=', model)
    .where('alias', '=', alias)
    .executeTakeFirst();
  return row?.version;
}

export interface ModelSummary {
  name: string;
  createdAt: string;
  versions: number;
  latest: number;
  aliases: Record<string, number>;
}

export async function listModels(db: Database): Promise<ModelSummary[]> {
  const models = await db.selectFrom('registered_models').selectAll().orderBy('name').execute();
  const out: ModelSummary[] = [];
  for (const m of models) {
    const counts = await db
      .selectFrom('model_versions')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.max('version').as('latest')])
      .where('model', '=', m.name)
      .executeTakeFirstOrThrow();
    const aliases = await db.selectFrom('model_aliases').selectAll().where('model', '=', m.name).execute();
    out.push({
      name: m.name,
      createdAt: m.created_at,
      versions: Number(counts.n),
      latest: Number(counts.latest ?? 0),
      aliases: Object.fromEntries(aliases.map((a) => [a.alias, a.version])),
    });
  }
  return out;
}

export async function listVersions(db: Database, model: string): Promise<ModelVersion[]> {
  await requireModel(db, model);
  const rows = await db
    .selectFrom('model_versions')
    .selectAll()
    .where('model', '=', model)
    .orderBy('version', 'desc')
    .execute();
  const aliases = await aliasesOf(db, model);
  return rows.map((r) => toVersion(r, aliases.get(r.version) ?? []));
}

export interface AliasMove {
  model: string;
  alias: string;
  version: number;
  reason: string;
  actor?: string;
  forced?: boolean;
  gate?: unknown;
  /**
   * The version the mover saw the alias at (undefined: it had none). A move made on stale
   * knowledge — someone else moved the alias since — is refused rather than silently undoing theirs.
   */
  expected?: number | null;
}

/**
 * Points an alias at a version, atomically with its audit entry: a reader sees either the old
 * target or the new one with its record, never one without the other.
 */
export async function moveAlias(db: Database, m: AliasMove): Promise<{ from: number | null; to: number }> {
  checkModelName(m.alias, 'alias');
  return immediateTransaction(db, async (trx) => {
    await requireModel(trx, m.model);
    const exists = await trx
      .selectFrom('model_versions')
      .select('version')
      .where('model', '=', m.model)
      .where('version', '=', m.version)
      .executeTakeFirst();
    if (!exists) throw new LoupeError('NOT_FOUND', `model ${m.model} has no version ${m.version}`);
    const current = await trx
      .selectFrom('model_aliases')
      .select('version')
      .where('model', '=', m.model)
      .where('alias', '=', m.alias)
      .executeTakeFirst();
    const from = current?.version ?? null;
    if (m.expected !== undefined && m.expected !== from)
      throw new LoupeError(
        'CONFLICT',
        `${m.model}:${m.alias} moved to ${from === null ? 'nothing' : formatRef(m.model, from)} while this promotion was being decided; run it again`,
      );
    await trx
      .insertInto('model_aliases')
      .values({ model: m.model, alias: m.alias, version: m.version, updated_at: now() })
      .onConflict((c) => c.columns(['model', 'alias']).doUpdateSet({ version: m.version, updated_at: now() }))
      .execute();
    await audit(trx, {
      actor: m.actor ?? defaultActor(),
      action: 'promote',
      model: m.model,
      alias: m.alias,
      from,
      to: m.version,
      reason: m.reason,
      forced: m.forced ?? false,
      gate: m.gate,
    });
    return { from, to: m.version };
  });
}

/**
 * Moves an alias back to where it pointed before its latest promotion. The alias's history is
 * replayed from the audit log as a stack (a promotion pushes, a rollback pops), so rolling back
 * twice goes back two promotions instead of toggling between the last two.
 */
export async function rollbackAlias(
  db: Database,
  o: {
    model: string;
    alias?: string;
    reason: string;
    actor?: string;
    /** Checks the version about to be restored (its files); throwing leaves the alias where it is. */
    verify?: (version: number, trx: Database) => Promise<void>;
  },
): Promise<{ from: number; to: number }> {
  const alias = o.alias ?? CHAMPION;
  return immediateTransaction(db, async (trx) => {
    await requireModel(trx, o.model);
    const history = await trx
      .selectFrom('registry_audit')
      .select(['action', 'to_version'])
      .where('model', '=', o.model)
      .where('alias', '=', alias)
      .orderBy('id')
      .execute();
    const stack: number[] = [];
    for (const h of history) {
      // Promoting the version the alias already holds changes nothing, so it is nothing to undo.
      if (h.action === 'promote' && stack.at(-1) !== h.to_version) stack.push(h.to_version!);
      else if (h.action === 'rollback') stack.pop();
    }
    const current = stack.at(-1);
    const previous = stack.at(-2);
    if (current === undefined || previous === undefined)
      throw new LoupeError(
        'NOT_FOUND',
        current === undefined
          ? `${o.model} has no "${alias}" to roll back`
          : `${o.model}:${alias} has no earlier promotion to roll back to (it holds ${formatRef(o.model, current)})`,
      );
    await o.verify?.(previous, trx);
    await trx
      .updateTable('model_aliases')
      .set({ version: previous, updated_at: now() })
      .where('model', '=', o.model)
      .where('alias', '=', alias)
      .execute();
    await audit(trx, {
      actor: o.actor ?? defaultActor(),
      action: 'rollback',
      model: o.model,
      alias,
      from: current,
      to: previous,
      reason: o.reason,
    });
    return { from: current, to: previous };
  });
}

export async function auditLog(db: Database, model?: string): Promise<AuditEntry[]> {
  let q = db.selectFrom('registry_audit').selectAll().orderBy('id');
  if (model) q = q.where('model', '=', model);
  return (await q.execute()).map((r) => ({
    id: r.id,
    at: r.at,
    actor: r.actor,
    action: r.action,
    model: r.model,
    alias: r.alias,
    fromVersion: r.from_version,
    toVersion: r.to_version,
    reason: r.reason,
    forced: r.forced === 1,
    gate: r.gate === null ? null : (JSON.parse(r.gate) as unknown),
  }));
}
