import { LoupeError } from '../errors/loupe-error.js';
import type { Workspace } from '../workspace/workspace.js';
import type { GateConfig } from './gate/gate-policy.js';
import { runGate, type GateResult } from './gate/run-gate.js';
import { readModelFile } from './model-files.js';
import { formatRef, type ModelRef } from './model-ref.js';
import {
  CHAMPION,
  aliasTarget,
  getVersion,
  moveAlias,
  rollbackAlias,
  type ModelVersion,
} from './registry-store.js';

export interface PromoteOptions {
  alias?: string;
  reason?: string;
  /** Move the alias even though the gate failed; needs a reason, and the audit log says so. */
  force?: boolean;
  actor?: string;
  policy: GateConfig;
  /**
   * This version's gate, already judged under `policy` (a retrain's gate step). It stands when
   * it was judged against the alias's current holder, so that champion is not evaluated twice;
   * if the alias has moved since, the gate is judged again.
   */
  judged?: GateResult;
  signal?: AbortSignal;
}

export interface Promotion {
  version: ModelVersion;
  alias: string;
  from: number | null;
  gate: GateResult;
  forced: boolean;
}

/** Every file of a version against its checksum: a damaged version is never put in front of users. */
async function verifyFiles(ws: Workspace, version: ModelVersion): Promise<void> {
  for (const name of Object.keys(version.files)) await readModelFile(ws.blobs, version, name);
}

/**
 * Points an alias (champion by default) at a version that passes the gate. A failing version
 * moves only when forced with a reason. The gate is judged against the alias as it was when
 * the promotion started; if another promotion moved it meanwhile, this one is refused
 * (CONFLICT) instead of overwriting a decision it never saw.
 */
export async function promote(ws: Workspace, ref: ModelRef, o: PromoteOptions): Promise<Promotion> {
  const alias = o.alias ?? CHAMPION;
  const reason = o.reason?.trim() ?? '';
  if (o.force && !reason)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      'a forced promotion needs a reason (--reason "…"); it goes in the audit log',
    );
  const version = await getVersion(ws.db, ref);
  await verifyFiles(ws, version);
  const expected = (await aliasTarget(ws.db, version.model, alias)) ?? null;
  const holder =
    expected === null || expected === version.version ? null : formatRef(version.model, expected);
  const gate =
    o.judged && o.judged.model === version.ref && o.judged.champion === holder
      ? o.judged
      : await runGate(ws, version, { ...o.policy, against: alias }, o.signal ? { signal: o.signal } : {});
  if (!gate.passed && !o.force) {
    const failed = gate.rules.filter((r) => r.verdict === 'fail').map((r) => `${r.rule}: ${r.detail}`);
    throw new LoupeError(
      'GATE_FAILED',
      `${version.ref} fails its gate, so it stays off ${alias}:\n  ${failed.join('\n  ')}`,
      {
        gate,
      },
    );
  }
  const forced = !gate.passed;
  const moved = await moveAlias(ws.db, {
    model: version.model,
    alias,
    version: version.version,
    reason,
    forced,
    gate,
    expected,
    ...(o.actor ? { actor: o.actor } : {}),
  });
  return { version, alias, from: moved.from, gate, forced };
}

/** Moves an alias back to the version it held before its latest promotion, after checking that version's files. */
export async function rollback(
  ws: Workspace,
  model: string,
  o: { alias?: string; reason?: string; actor?: string } = {},
): Promise<{ from: string; to: string }> {
  const moved = await rollbackAlias(ws.db, {
    model,
    reason: o.reason ?? '',
    ...(o.alias ? { alias: o.alias } : {}),
    ...(o.actor ? { actor: o.actor } : {}),
    verify: async (to, trx) => verifyFiles(ws, await getVersion(trx, { model, version: to })),
  });
  return { from: formatRef(model, moved.from), to: formatRef(model, moved.to) };
}
