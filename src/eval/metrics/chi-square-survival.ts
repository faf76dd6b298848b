/**
 * erfc(x) for x ≥ 0 to near double precision. Below 2 it is 1 − erf(x) from the all-positive
 * series erf(x) = 2/√π · e^(−x²) · Σ (2x²)ⁿ x / (1·3·…·(2n+1)), which has no cancellation;
 * from 2 up the Laplace continued fraction erfc(x) = e^(−x²)/√π · 1/(x + ½/(x + 1/(x + 3⁄2/…)))
 * by Lentz's method, which keeps small tails accurate to their last digits.
 */
function erfc(x: number): number {
  const scale = Math.exp(-x * x) / Math.sqrt(Math.PI);
  if (x < 2) {
    let term = x;
    let sum = x;
    for (let n = 1; term > 1e-17 * sum; n++) {
      term *= (2 * x * x) / (2 * n + 1);
      sum += term;
    }
    return 1 - 2 * scale * sum;
  }
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 10_000; n++) {
    const a = n / 2;
    d = x + a * d;
    c = x + a / c;
    d = 1 / (d || tiny);
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return scale / f;
}

/** P(X ≥ statistic) for X chi-square distributed with one degree of freedom: erfc(√(s/2)). */
export function chiSquareSurvival1Dof(statistic: number): number {
  return statistic <= 0 ? 1 : erfc(Math.sqrt(statistic / 2));
}

/**
 * P(X ≥ statistic) for X chi-square distributed with `dof` degrees of freedom (a positive
 * integer): the regularised upper incomplete gamma Q(dof/2, s/2) in its closed form for integer
 * dof, a finite sum of positive terms (after erfc for odd dof), so nothing cancels. Even dof:
 * e^(−x)·Σ_{i<dof/2} xⁱ/i!; odd: erfc(√x) + e^(−x)·Σ_{i=1…(dof−1)/2} x^(i−½)/Γ(i+½), with x = s/2.
 * Terms are built in logarithms: e^(−x) underflows long before a large-dof tail is negligible.
 */
export function chiSquareSurvival(statistic: number, dof: number): number {
  if (!Number.isInteger(dof) || dof < 1) throw new RangeError(`dof must be a positive integer, got ${dof}`);
  if (!(statistic > 0)) return 1;
  const x = statistic / 2;
  const logX = Math.log(x);
  const odd = dof % 2 === 1;
  let sum = odd ? erfc(Math.sqrt(x)) : 0;
  // log of the first term: e^(−x) for even dof, e^(−x)·√x / Γ(3/2) for odd.
  let logTerm = odd ? -x + 0.5 * logX - Math.log(Math.sqrt(Math.PI) / 2) : -x;
  const terms = odd ? (dof - 1) / 2 : dof / 2;
  for (let i = 0; i < terms; i++) {
    sum += Math.exp(logTerm);
    logTerm += logX - Math.log(odd ? i + 1.5 : i + 1);
  }
  return Math.min(1, sum);
}
