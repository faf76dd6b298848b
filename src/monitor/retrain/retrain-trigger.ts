import type { Database } from '../../store/database.js';
import { latestDriftChecks } from '../drift/drift-store.js';
import type { PendingDecisions } from '../feedback/feedback-source.js';
import type { TriggerDecision } from './retrain-report.js';

export interface TriggerOptions {
  /** Retrain when at least this many usable decisions are pending. */
  minFeedback?: number;
  /** Retrain when the model's latest drift check found drift. */
  ifDrift?: boolean;
}

/** The model's latest drift check, as a trigger reads it; null when it has none. */
export async function latestDrift(
  db: Database,
  model: string,
): Promise<NonNullable<TriggerDecision['drift']> | null> {
  const [check] = await latestDriftChecks(db, model, 1);
  return check ? { id: check.id, checkedAt: check.at, drifted: check.status === 'drift' } : null;
}

/** The pending decisions, counted as a report shows them. */
export function pendingCounts(p: PendingDecisions): TriggerDecision['pending'] {
  return {
    usable: p.usable.length,
    corrections: p.usable.filter((d) => d.action === 'correct').length,
    accepts: p.usable.filter((d) => d.action === 'accept').length,
    unusable: p.unusable.length,
  };
}

/**
 * Whether a retrain should run. Without triggers it always does (started by hand or on a plain
 * schedule); with --min-feedback and/or --if-drift it runs when any of them fires, so
 * `--if-drift --min-feedback 50` retrains on drift, and also once 50 decisions are waiting.
 */
export async function decideTrigger(
  db: Database,
  model: string,
  pending: PendingDecisions,
  o: TriggerOptions,
): Promise<TriggerDecision> {
  const counts = pendingCounts(pending);
  const reasons: string[] = [];
  const waiting = `${counts.usable} decision${counts.usable === 1 ? '' : 's'} pending (${counts.corrections} corrections, ${counts.accepts} accepts)`;
  const unusable = counts.unusable
    ? `; ${counts.unusable} more without stored input bytes or segment, which cannot become items`
    : '';
  if (o.minFeedback === undefined && !o.ifDrift)
    return { fired: true, reasons: [`started without a trigger; ${waiting}${unusable}`], pending: counts };

  let fired = false;
  if (o.minFeedback !== undefined) {
    const enough = counts.usable >= o.minFeedback;
    fired ||= enough;
    reasons.push(
      `${waiting}${unusable}: ${enough ? 'at least' : 'fewer than'} --min-feedback ${o.minFeedback}`,
    );
  }
  let drift: TriggerDecision['drift'];
  if (o.ifDrift) {
    drift = await latestDrift(db, model);
    fired ||= drift?.drifted === true;
    reasons.push(
      drift
        ? `the latest drift check (${drift.checkedAt}) ${drift.drifted ? 'found drift' : 'found no drift'}`
        : `no drift check of ${model} yet (run \`loupe drift ${model}\`)`,
    );
  }
  return { fired, reasons, pending: counts, ...(drift !== undefined ? { drift } : {}) };
}
