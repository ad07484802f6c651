/**
 * The rule every claim of the survey is judged by, the same everywhere: a comparison A > B (in the survey's
 * direction) **holds** if it goes that way in every seed (paired by seed), **fails** if it goes the other way in every
 * seed, and is **undecided** otherwise. An undecided verdict says how many seeds the observed spread would need:
 *
 *   d_i = A_i - B_i (paired by seed),  m = mean(d),  s = sd(d) (n - 1)
 *   seeds needed = ceil((2 s / |m|)^2): the n at which the ~95% interval m +- 2 s / sqrt(n) excludes 0
 *
 * (null when m = 0: no number of seeds decides a difference that is not there.) With one seed, a comparison that
 * goes either way is already "every seed": one seed is evidence of direction, not of spread, and the table says n.
 */

export type Verdict = 'holds' | 'fails' | 'undecided';

export interface PairedComparison {
  verdict: Verdict;
  /** Seeds compared (those present on both sides). */
  seeds: number[];
  /** Mean and standard deviation of A - B over the seeds (sd null with one seed). */
  meanDifference: number;
  sdDifference: number | null;
  /** For undecided verdicts: seeds the observed spread would need to decide (null if the mean difference is 0). */
  seedsNeeded: number | null;
}

/**
 * Compares A and B paired by seed; `a` and `b` map seed to value, the survey says A > B. Seeds missing on either
 * side are left out; with none in common the comparison cannot be made (an error naming what is missing).
 */
export function pairedVerdict(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>, what = 'comparison'): PairedComparison {
  const seeds = [...a.keys()].filter((s) => b.has(s)).sort((x, y) => x - y);
  if (!seeds.length) throw new Error(`${what}: no seed has a result on both sides (A: ${[...a.keys()].join(',') || 'none'}, B: ${[...b.keys()].join(',') || 'none'})`);
  const d = seeds.map((s) => a.get(s)! - b.get(s)!);
  const mean = d.reduce((x, y) => x + y, 0) / d.length;
  const sd = d.length > 1 ? Math.sqrt(d.reduce((x, y) => x + (y - mean) ** 2, 0) / (d.length - 1)) : null;
  const verdict: Verdict = d.every((x) => x > 0) ? 'holds' : d.every((x) => x < 0) ? 'fails' : 'undecided';
  const seedsNeeded = verdict !== 'undecided' || mean === 0 ? null : Math.max(d.length + 1, Math.ceil(((2 * (sd ?? 0)) / Math.abs(mean)) ** 2 - 1e-9));
  return { verdict, seeds, meanDifference: mean, sdDifference: sd, seedsNeeded };
}
