import { performance } from 'node:perf_hooks';
import { LoupeError } from '../../errors/loupe-error.js';
import { seededRandom } from '../random.js';
import { NopPruner, type Pruner } from './asha.js';
import { assertDirection, orientedScore, type Direction, type Sampler, type TrialState } from './samplers.js';
import { parseSearchSpace, type Params, type SearchSpace, type SearchSpaceInput } from './search-space.js';

/** What an objective sees of its trial. */
export interface TrialContext {
  /** 0, 1, 2, ... in launch order. */
  readonly number: number;
  readonly params: Params;
  /** Aborted when the study's time runs out or it is interrupted; the objective should stop then. */
  readonly signal: AbortSignal;
  /** An intermediate value (validation metric after an epoch, say), for the pruner and the sampler. */
  report(step: number, value: number): void;
  /** True once the pruner has judged this trial not worth finishing. */
  shouldPrune(): boolean;
}

/** Thrown by an objective that saw shouldPrune(); returning early does the same. */
export class TrialPruned extends Error {
  constructor(message = 'trial pruned') {
    super(message);
    this.name = 'TrialPruned';
  }
}

export interface TrialResult {
  number: number;
  params: Params;
  state: TrialState;
  /** The objective for a complete trial; the last reported value for a pruned one. */
  value?: number;
  intermediate: [number, number][];
  seconds: number;
  /** Why a trial failed. */
  error?: string;
  /** Why a trial was cut short by the study rather than by its pruner ('time budget', 'interrupted'). */
  note?: string;
}

/** 'exhausted': a space without floats has had every one of its points tried. */
export type StoppedBy = 'trials' | 'time' | 'interrupted' | 'exhausted';

export interface StudyResult {
  /** In trial-number order. */
  trials: TrialResult[];
  /** The best complete trial; pruned and failed trials never qualify. */
  best?: TrialResult;
  stoppedBy: StoppedBy;
}

export interface StudyOptions {
  space: SearchSpaceInput;
  sampler: Sampler;
  pruner?: Pruner;
  direction: Direction;
  /** At least one of the two. */
  budget: { trials?: number; seconds?: number };
  /** How many trials run at once. */
  parallel: number;
  seed: number;
  objective: (trial: TrialContext) => Promise<number>;
  /** Called as each trial is recorded, for progress output and checkpoints. */
  onTrial?: (t: TrialResult) => void;
  signal?: AbortSignal;
}

interface RunningTrial {
  readonly result: TrialResult;
  readonly started: number;
  readonly controller: AbortController;
  pruned: boolean;
  /** Set when the objective settles; the study records it on its next turn. */
  outcome?: Pick<TrialResult, 'state' | 'value' | 'error'>;
}

/**
 * Runs trials until the budget is spent, up to `parallel` at a time. Each new trial is
 * sampled from the history known at its launch, so with parallel = 1 a study is fully
 * determined by its seed (and a deterministic objective); with more, finishing order decides
 * what each sample sees. An objective that throws fails only its own trial.
 */
export async function runStudy(o: StudyOptions): Promise<StudyResult> {
  validateOptions(o);
  const space = parseSearchSpace(o.space);
  const pruner = o.pruner ?? new NopPruner();
  const random = seededRandom(o.seed);
  const clock = performance.now();
  const elapsed = () => (performance.now() - clock) / 1000;
  const size = spaceSize(space);
  const tried = new Set<string>();
  const trials: TrialResult[] = [];
  const running = new Map<number, RunningTrial>();

  // A hard stop aborts the trials in flight; running out of trials to launch only waits for them.
  let hardStop: 'time' | 'interrupted' | undefined;
  let noMoreLaunches: StoppedBy | undefined;
  // The loop sleeps until something happens: a trial settles, time runs out, or an interrupt.
  let wake = () => {};
  const stop = (why: 'time' | 'interrupted') => {
    hardStop ??= why;
    wake();
  };
  const onAbort = () => stop('interrupted');
  if (o.signal?.aborted) stop('interrupted');
  else o.signal?.addEventListener('abort', onAbort, { once: true });
  const seconds = o.budget.seconds;
  const deadline = seconds === undefined ? undefined : setTimeout(() => stop('time'), seconds * 1000);

  const record = (t: RunningTrial, outcome: NonNullable<RunningTrial['outcome']>, note?: string) => {
    running.delete(t.result.number);
    Object.assign(t.result, outcome, { seconds: (performance.now() - t.started) / 1000 });
    if (note) t.result.note = note;
    trials.push(t.result);
    o.onTrial?.(t.result);
  };

  const whyNotLaunch = (): StoppedBy | undefined => {
    if (o.budget.trials !== undefined && trials.length + running.size >= o.budget.trials) return 'trials';
    if (tried.size >= size) return 'exhausted';
    if (seconds !== undefined) {
      // A trial that cannot finish in the time left would only be aborted at the deadline.
      const complete = trials.filter((t) => t.state === 'complete');
      const typical = complete.reduce((a, t) => a + t.seconds, 0) / (complete.length || 1);
      if (seconds - elapsed() <= typical) return 'time';
    }
    return undefined;
  };

  const launch = () => {
    const number = trials.length + running.size;
    const params = o.sampler.sample(space, trials, random);
    tried.add(JSON.stringify(Object.keys(space).map((k) => params[k])));
    const t: RunningTrial = {
      result: { number, params, state: 'failed', intermediate: [], seconds: 0 },
      started: performance.now(),
      controller: new AbortController(),
      pruned: false,
    };
    const context: TrialContext = {
      number,
      params,
      signal: t.controller.signal,
      report(step, value) {
        if (!Number.isFinite(step) || typeof value !== 'number')
          throw new LoupeError('INVALID_ARGUMENT', `trial ${number}: report(step, value) needs numbers`);
        if (t.controller.signal.aborted) return;
        t.result.intermediate.push([step, value]);
        if (pruner.report(number, step, value) === 'prune') t.pruned = true;
      },
      shouldPrune: () => t.pruned,
    };
    running.set(number, t);
    void (async () => o.objective(context))().then(
      (value) => {
        if (t.pruned) t.outcome = prunedOutcome(t.result);
        else if (typeof value === 'number' && Number.isFinite(value))
          t.outcome = { state: 'complete', value };
        else
          t.outcome = {
            state: 'failed',
            error: `the objective returned ${String(value)}, not a finite number`,
          };
        wake();
      },
      (e: unknown) => {
        if (e instanceof TrialPruned) t.outcome = prunedOutcome(t.result);
        else t.outcome = { state: 'failed', error: e instanceof Error ? e.message : String(e) };
        wake();
      },
    );
  };

  try {
    for (;;) {
      for (const t of running.values()) if (t.outcome) record(t, t.outcome);
      if (hardStop) {
        const note = hardStop === 'time' ? 'time budget' : 'interrupted';
        for (const t of running.values()) {
          t.controller.abort(new LoupeError('INTERRUPTED', `trial ${t.result.number}: ${note}`));
          // Whatever the objective does after this is past the study's end and goes unrecorded.
          const cut = prunedOutcome(t.result);
          record(t, cut.value === undefined ? { state: 'failed', error: note } : cut, note);
        }
        break;
      }
      while (!noMoreLaunches && running.size < o.parallel) {
        noMoreLaunches = whyNotLaunch();
        if (!noMoreLaunches) launch();
      }
      if (running.size === 0) break;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    clearTimeout(deadline);
    o.signal?.removeEventListener('abort', onAbort);
    for (const t of running.values()) t.controller.abort();
  }

  trials.sort((a, b) => a.number - b.number);
  return { trials, best: bestTrial(trials, o.direction), stoppedBy: hardStop ?? noMoreLaunches! };
}

function prunedOutcome(r: TrialResult): { state: 'pruned'; value?: number } {
  const last = r.intermediate.at(-1);
  return last ? { state: 'pruned', value: last[1] } : { state: 'pruned' };
}

function bestTrial(trials: TrialResult[], direction: Direction): TrialResult | undefined {
  let best: TrialResult | undefined;
  for (const t of trials)
    if (
      t.state === 'complete' &&
      (!best || orientedScore(t.value!, direction) > orientedScore(best.value!, direction))
    )
      best = t;
  return best;
}

/** How many distinct points the space holds: Infinity as soon as one parameter is a float. */
function spaceSize(space: SearchSpace): number {
  let n = 1;
  for (const spec of Object.values(space)) {
    if (spec.type === 'float') return Infinity;
    n *= spec.type === 'int' ? (spec.high - spec.low) / spec.step + 1 : spec.choices.length;
  }
  return n;
}

function validateOptions(o: StudyOptions): void {
  assertDirection(o.direction, 'study');
  const { trials, seconds } = o.budget;
  if (trials === undefined && seconds === undefined)
    throw new LoupeError('INVALID_ARGUMENT', 'study: the budget needs trials, seconds or both');
  if (trials !== undefined && !(Number.isInteger(trials) && trials > 0))
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `study: budget.trials must be a whole number > 0, not ${trials}`,
    );
  if (seconds !== undefined && !(seconds > 0 && Number.isFinite(seconds)))
    throw new LoupeError('INVALID_ARGUMENT', `study: budget.seconds must be > 0, not ${seconds}`);
  if (!(Number.isInteger(o.parallel) && o.parallel > 0))
    throw new LoupeError('INVALID_ARGUMENT', `study: parallel must be a whole number > 0, not ${o.parallel}`);
  if (!Number.isInteger(o.seed))
    throw new LoupeError('INVALID_ARGUMENT', `study: seed must be an integer, not ${o.seed}`);
  for (const [what, part] of [
    ['sampler', o.sampler],
    ['pruner', o.pruner],
  ] as const)
    if (part?.direction !== undefined && part.direction !== o.direction)
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `study: the ${what} was built to ${part.direction}, the study to ${o.direction}`,
      );
}
