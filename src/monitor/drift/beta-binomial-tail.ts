/**
 * P(C ≥ c) for every c in 0..n+1, where C ~ BetaBinomial(n, a, b): the number of successes in n
 * trials whose success probability is itself drawn from Beta(a, b). `tails[0]` is 1 and
 * `tails[n + 1]` is 0, so a count and the first count whose tail is at most a level can both be
 * read off one array.
 *
 * Written here because none of the dependencies has a beta-binomial (scipy.stats.betabinom is
 * the reference it is tested against). The probabilities come from the ratio of consecutive
 * terms, P(j + 1) / P(j) = (n − j)(j + a) / ((j + 1)(n − j − 1 + b)), starting from
 * P(0) = Π (b + i) / (a + b + i), all in logarithms so that windows of thousands stay finite;
 * the tail is summed from the far end, so the small upper tails a test needs keep their
 * relative precision.
 */
export function betaBinomialUpperTails(n: number, a: number, b: number): Float64Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a whole number ≥ 0, got ${n}`);
  if (!(a > 0 && b > 0 && Number.isFinite(a) && Number.isFinite(b)))
    throw new RangeError(`the beta parameters must be positive, got a ${a}, b ${b}`);
  const logPmf = new Float64Array(n + 1);
  let log = 0;
  for (let i = 0; i < n; i++) log += Math.log((b + i) / (a + b + i));
  logPmf[0] = log;
  for (let j = 0; j < n; j++) {
    log += Math.log(((n - j) * (j + a)) / ((j + 1) * (n - j - 1 + b)));
    logPmf[j + 1] = log;
  }
  const tails = new Float64Array(n + 2);
  let sum = 0;
  for (let j = n; j >= 0; j--) {
    sum += Math.exp(logPmf[j]!);
    tails[j] = sum;
  }
  // Rounding can leave the whole sum a hair off 1; a probability says exactly 1.
  tails[0] = 1;
  for (let j = 1; j <= n; j++) tails[j] = Math.min(1, tails[j]!);
  return tails;
}
