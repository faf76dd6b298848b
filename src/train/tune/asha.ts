import { LoupeError } from '../../errors/loupe-error.js';
import { assertDirection, orientedScore, type Direction } from './samplers.js';

export type PruneDecision = 'continue' | 'prune';

/** Sees every intermediate value a trial reports and says whether it is worth continuing. */
export interface Pruner {
  /** Set by pruners that compare values, so a study can refuse one that optimizes the other way. */
  readonly direction?: Direction;
  report(trialId: number, step: number, value: number): PruneDecision;
}

export class NopPruner implements Pruner {
  report(): PruneDecision {
    return 'continue';
  }
}

export interface AshaOptions {
  /** The first rung: no trial is judged before it has used this much (epochs, steps, ...). */
  minResource: number;
  /** What a full trial uses; rungs stop below it, since pruning a finished trial saves nothing. */
  maxResource: number;
  /** η: each rung keeps the top 1/η of what reached it. */
  reductionFactor?: number;
  direction: Direction;
}

/**
 * Asynchronous Successive Halving (Li et al. 2020), as a stopping rule: rungs sit at
 * minResource·η^k, and a trial reaching a rung continues only if its value is in the top 1/η
 * of all values recorded at that rung so far. Nothing waits for a cohort, so parallel
 * workers never idle; the price is that early arrivals are judged against few peers, and
 * with fewer than η of them there is no top 1/η yet, so they continue.
 */
export class AshaPruner implements Pruner {
  readonly direction: Direction;
  readonly reductionFactor: number;
  readonly rungs: readonly number[];
  /** Oriented scores (higher is better) recorded at each rung. */
  private readonly recorded: number[][];
  /** How many rungs each trial has been recorded at. */
  private readonly reached = new Map<number, number>();

  constructor(o: AshaOptions) {
    const eta = o.reductionFactor ?? 3;
    if (!(o.minResource > 0))
      throw new LoupeError('INVALID_ARGUMENT', `asha: minResource must be > 0, not ${o.minResource}`);
    if (!(o.maxResource > o.minResource))
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `asha: maxResource (${o.maxResource}) must exceed minResource (${o.minResource})`,
      );
    if (!Number.isInteger(eta) || eta < 2)
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `asha: reductionFactor must be a whole number ≥ 2, not ${eta}`,
      );
    assertDirection(o.direction, 'asha');
    this.direction = o.direction;
    this.reductionFactor = eta;
    const rungs: number[] = [];
    for (let r = o.minResource; r < o.maxResource; r *= eta) rungs.push(r);
    this.rungs = rungs;
    this.recorded = rungs.map(() => []);
  }

  report(trialId: number, step: number, value: number): PruneDecision {
    const score = orientedScore(value, this.direction);
    let decision: PruneDecision = 'continue';
    let k = this.reached.get(trialId) ?? 0;
    // A report may jump several rungs (a trial that reports every few epochs): it counts at each.
    for (; k < this.rungs.length && step >= this.rungs[k]!; k++) {
      const rung = this.recorded[k]!;
      rung.push(score);
      if (!this.inTopFraction(rung, score)) decision = 'prune';
    }
    this.reached.set(trialId, k);
    return decision;
  }

  private inTopFraction(rung: number[], score: number): boolean {
    const keep = Math.floor(rung.length / this.reductionFactor);
    if (keep === 0) return true;
    let better = 0;
    for (const s of rung) if (s > score) better++;
    return better < keep;
  }
}
