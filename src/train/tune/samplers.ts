import { LoupeError } from '../../errors/loupe-error.js';
import type {
  CategoricalParam,
  IntParam,
  ParamSpec,
  ParamValue,
  Params,
  SearchSpace,
} from './search-space.js';

export type Direction = 'maximize' | 'minimize';
export type TrialState = 'complete' | 'pruned' | 'failed';

/** What a sampler learns from: a pruned trial's curve is evidence too, a failed one is not. */
export interface FinishedTrial {
  readonly params: Params;
  /** The objective for a complete trial, the last reported value for a pruned one. */
  readonly value?: number;
  readonly state: TrialState;
  /** [step, value] pairs in the order they were reported. */
  readonly intermediate: readonly (readonly [number, number])[];
}

export interface Sampler {
  readonly name: string;
  /** Set by samplers that rank trials, so a study can refuse one that optimizes the other way. */
  readonly direction?: Direction;
  sample(space: SearchSpace, history: readonly FinishedTrial[], random: () => number): Params;
}

export function randomSampler(): Sampler {
  return {
    name: 'random',
    sample: (space, _history, random) => sampleEach(space, (s) => uniform(s, random)),
  };
}

export interface TpeOptions {
  /** Trials sampled at random before the model has enough evidence to be worth trusting. */
  startupTrials?: number;
  /** Fraction of ranked trials that count as good. */
  gamma?: number;
  /** Draws from the good-trial density; the one with the best good/bad ratio is proposed. */
  candidates?: number;
  direction: Direction;
}

/**
 * Independent Tree-structured Parzen Estimator (Bergstra et al. 2011), as Optuna runs it by
 * default: every parameter gets its own pair of densities, l(x) over the good trials and g(x)
 * over the rest, and the proposal is the candidate drawn from l with the highest l(x)/g(x).
 */
export function tpeSampler(o: TpeOptions): Sampler {
  const startupTrials = o.startupTrials ?? 10;
  const gamma = o.gamma ?? 0.25;
  const candidates = o.candidates ?? 24;
  if (!Number.isInteger(startupTrials) || startupTrials < 0)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `tpe: startupTrials must be a whole number ≥ 0, not ${startupTrials}`,
    );
  if (!(gamma > 0 && gamma < 1))
    throw new LoupeError('INVALID_ARGUMENT', `tpe: gamma must lie strictly between 0 and 1, not ${gamma}`);
  if (!Number.isInteger(candidates) || candidates < 1)
    throw new LoupeError('INVALID_ARGUMENT', `tpe: candidates must be a whole number ≥ 1, not ${candidates}`);
  assertDirection(o.direction, 'tpe');
  const direction = o.direction;
  return {
    name: 'tpe',
    direction,
    sample(space, history, random) {
      const ranked = rankTrials(history, direction);
      if (ranked.length === 0 || ranked.length < startupTrials)
        return sampleEach(space, (s) => uniform(s, random));
      const good = new Set(ranked.slice(0, Math.ceil(gamma * ranked.length)));
      const bad = new Set(ranked.slice(good.size));
      // Kernel weights favour recent trials, so observations keep their chronological order.
      const below = history.filter((t) => good.has(t));
      const above = history.filter((t) => bad.has(t));
      return sampleEach(space, (spec, name) => {
        const l = fit(spec, observed(below, name, spec));
        const g = fit(spec, observed(above, name, spec));
        let best: ParamValue | undefined;
        let bestScore = -Infinity;
        for (let i = 0; i < candidates; i++) {
          const x = l.draw(random);
          const score = l.logDensity(x) - g.logDensity(x);
          if (best === undefined || score > bestScore) [best, bestScore] = [x, score];
        }
        return best!;
      });
    },
  };
}

export function assertDirection(direction: unknown, who: string): asserts direction is Direction {
  if (direction !== 'maximize' && direction !== 'minimize')
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `${who}: direction must be 'maximize' or 'minimize', not ${String(direction)}`,
    );
}

/** Higher is better whatever the direction; NaN ranks last. */
export function orientedScore(value: number, direction: Direction): number {
  if (Number.isNaN(value)) return -Infinity;
  return direction === 'maximize' ? value : -value;
}

function sampleEach(space: SearchSpace, pick: (spec: ParamSpec, name: string) => ParamValue): Params {
  const params: Params = {};
  for (const [name, spec] of Object.entries(space)) params[name] = pick(spec, name);
  return params;
}

function uniform(spec: ParamSpec, random: () => number): ParamValue {
  if (spec.type === 'categorical') return spec.choices[Math.floor(random() * spec.choices.length)]!;
  const [lo, hi] = internalBounds(spec);
  return toValue(spec, lo + random() * (hi - lo));
}

/**
 * Best first: complete trials by value, then pruned ones by how far they got and their last
 * value there (Optuna's order), then pruned ones that reported nothing. Failed trials say
 * nothing about the objective and are left out.
 */
function rankTrials(history: readonly FinishedTrial[], direction: Direction): FinishedTrial[] {
  const key = (t: FinishedTrial): [number, number, number] => {
    if (t.state === 'complete') return [0, 0, -orientedScore(t.value!, direction)];
    const last = lastReport(t);
    return last ? [1, -last[0], -orientedScore(last[1], direction)] : [2, 0, 0];
  };
  const usable = history.filter(
    (t) => (t.state === 'complete' && Number.isFinite(t.value)) || t.state === 'pruned',
  );
  const keys = new Map(usable.map((t) => [t, key(t)]));
  return usable.sort((a, b) => {
    const [ka, kb] = [keys.get(a)!, keys.get(b)!];
    return ka[0] - kb[0] || ka[1] - kb[1] || ka[2] - kb[2];
  });
}

function lastReport(t: FinishedTrial): readonly [number, number] | undefined {
  let last: readonly [number, number] | undefined;
  for (const r of t.intermediate) if (!last || r[0] >= last[0]) last = r;
  return last;
}

/** A trial's value for one parameter, unless it was sampled from another space. */
function observed(trials: readonly FinishedTrial[], name: string, spec: ParamSpec): ParamValue[] {
  const values: ParamValue[] = [];
  for (const t of trials) {
    const v = t.params[name];
    if (v === undefined) continue;
    if (
      spec.type === 'categorical'
        ? spec.choices.includes(v)
        : typeof v === 'number' && v >= spec.low && v <= spec.high
    )
      values.push(v);
  }
  return values;
}

interface Density {
  draw(random: () => number): ParamValue;
  logDensity(value: ParamValue): number;
}

const PRIOR_WEIGHT = 1;

/** Optuna's weights: the 25 most recent observations count fully, older ones ramp down. */
function observationWeights(n: number): number[] {
  const full = 25;
  if (n <= full) return new Array<number>(n).fill(1);
  const ramp = n - full;
  const w = Array.from({ length: ramp }, (_, i) =>
    ramp === 1 ? 1 / n : 1 / n + ((1 - 1 / n) * i) / (ramp - 1),
  );
  return [...w, ...new Array<number>(full).fill(1)];
}

function fit(spec: ParamSpec, values: ParamValue[]): Density {
  return spec.type === 'categorical' ? fitCategorical(spec, values) : fitNumeric(spec, values as number[]);
}

/**
 * Optuna's smoothed counts: a uniform prior kernel, and each observation a one-hot kernel with
 * PRIOR_WEIGHT / kernels added to every choice. Without that much smoothing a choice missing
 * from the few good trials is almost never proposed again, however good it would be.
 */
function fitCategorical(spec: CategoricalParam, values: ParamValue[]): Density {
  const k = spec.choices.length;
  const smoothing = PRIOR_WEIGHT / (values.length + 1);
  const mass = new Array<number>(k).fill(PRIOR_WEIGHT / k);
  observationWeights(values.length).forEach((w, i) => {
    const row = w / (1 + k * smoothing);
    for (let c = 0; c < k; c++) mass[c]! += row * smoothing;
    mass[spec.choices.indexOf(values[i]!)]! += row;
  });
  const total = mass.reduce((a, b) => a + b, 0);
  return {
    draw(random) {
      let u = random() * total;
      for (let i = 0; i < k - 1; i++) if ((u -= mass[i]!) < 0) return spec.choices[i]!;
      return spec.choices[k - 1]!;
    },
    logDensity: (value) => Math.log(mass[spec.choices.indexOf(value)]! / total),
  };
}

type NumericParam = Exclude<ParamSpec, CategoricalParam>;

/**
 * Numbers are modelled in an internal space: log for log-scale parameters, and for integers
 * widened by half a step each side so every value owns a bin of the same (log-)width.
 */
function internalBounds(spec: NumericParam): [number, number] {
  if (spec.type === 'float')
    return spec.log ? [Math.log(spec.low), Math.log(spec.high)] : [spec.low, spec.high];
  if (spec.log) return [Math.log(spec.low - 0.5), Math.log(spec.high + 0.5)];
  return [spec.low - spec.step / 2, spec.high + spec.step / 2];
}

function toValue(spec: NumericParam, x: number): number {
  const clip = (v: number) => Math.min(spec.high, Math.max(spec.low, v));
  if (spec.type === 'float') return clip(spec.log ? Math.exp(x) : x);
  if (spec.log) return clip(Math.round(Math.exp(x)));
  return clip(spec.low + Math.round((x - spec.low) / spec.step) * spec.step);
}

/** The bin an integer value owns in internal space. */
function intBin(spec: IntParam, v: number): [number, number] {
  return spec.log ? [Math.log(v - 0.5), Math.log(v + 0.5)] : [v - spec.step / 2, v + spec.step / 2];
}

/**
 * A mixture of Gaussians truncated to the parameter's range, one per observation plus a broad
 * prior at the centre. Each bandwidth is the larger gap to a neighbouring observation, clipped
 * so no kernel is wider than the range nor narrower than range / min(100, kernels): Optuna's
 * "magic clip", which keeps a handful of close observations from collapsing into spikes.
 */
function fitNumeric(spec: NumericParam, values: number[]): Density {
  const [lo, hi] = internalBounds(spec);
  const range = hi - lo;
  const xs = values.map((v) => (spec.log ? Math.log(v) : v));
  const n = xs.length;
  const order = xs.map((_, i) => i).sort((a, b) => xs[a]! - xs[b]!);
  const sorted = order.map((i) => xs[i]!);
  const at = (j: number) => (j < 0 ? lo : j >= n ? hi : sorted[j]!);
  const minSigma = range / Math.min(100, n + 2);
  const sigmas = new Array<number>(n);
  order.forEach((i, j) => {
    let gap = Math.max(at(j) - at(j - 1), at(j + 1) - at(j));
    // The range ends are not observations: the outermost kernels take the inner gap, as in Optuna.
    if (n >= 2 && j === 0) gap = at(1) - at(0);
    if (n >= 2 && j === n - 1) gap = at(j) - at(j - 1);
    sigmas[i] = Math.min(range, Math.max(minSigma, gap));
  });
  const mus = [...xs, (lo + hi) / 2];
  sigmas.push(range);
  const raw = [...observationWeights(n), PRIOR_WEIGHT];
  const total = raw.reduce((a, b) => a + b, 0);
  // log(w_i / Z_i), with Z_i the mass kernel i keeps inside the range after truncation.
  const logScale = mus.map((mu, i) =>
    Math.log(raw[i]! / total / normalMass((lo - mu) / sigmas[i]!, (hi - mu) / sigmas[i]!)),
  );

  const logMixture = (term: (mu: number, sigma: number) => number) =>
    logSumExp(mus.map((mu, i) => logScale[i]! + term(mu, sigmas[i]!)));

  return {
    draw(random) {
      let u = random() * total;
      let i = 0;
      while (i < mus.length - 1 && (u -= raw[i]!) >= 0) i++;
      let x: number;
      do x = mus[i]! + sigmas[i]! * gaussian(random);
      while (x < lo || x > hi);
      return toValue(spec, x);
    },
    logDensity(value) {
      const v = value as number;
      if (spec.type === 'int') {
        const [a, b] = intBin(spec, v);
        return logMixture((mu, s) => Math.log(normalMass((a - mu) / s, (b - mu) / s)));
      }
      const x = spec.log ? Math.log(v) : v;
      return logMixture((mu, s) => -0.5 * ((x - mu) / s) ** 2 - Math.log(s * Math.sqrt(2 * Math.PI)));
    },
  };
}

function logSumExp(xs: number[]): number {
  const m = Math.max(...xs);
  if (m === -Infinity) return -Infinity;
  return m + Math.log(xs.reduce((a, x) => a + Math.exp(x - m), 0));
}

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/**
 * Φ(b) − Φ(a), computed from whichever tail keeps precision: far from the mean the naive
 * difference of two values near 1 is zero, and bins out there still need a density.
 */
function normalMass(a: number, b: number): number {
  let m: number;
  if (a >= 0) m = 0.5 * (erfc(a / Math.SQRT2) - erfc(b / Math.SQRT2));
  else if (b <= 0) m = 0.5 * (erfc(-b / Math.SQRT2) - erfc(-a / Math.SQRT2));
  else m = 1 - 0.5 * (erfc(-a / Math.SQRT2) + erfc(b / Math.SQRT2));
  return Math.max(0, m);
}

/** Complementary error function with relative error < 1.2e-7 everywhere (Numerical Recipes' erfcc). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const poly =
    -1.26551223 +
    t *
      (1.00002368 +
        t *
          (0.37409196 +
            t *
              (0.09678418 +
                t *
                  (-0.18628806 +
                    t *
                      (0.27886807 +
                        t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const r = t * Math.exp(-z * z + poly);
  return x >= 0 ? r : 2 - r;
}
