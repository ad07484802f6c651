import { describe, expect, it } from 'vitest';
import { pairedVerdict } from '../kernel-lib/experiments/paired-verdict';

const m = (entries: [number, number][]) => new Map(entries);

describe('the paired-by-seed verdict rule', () => {
  it('holds when A beats B in every seed, fails when B beats A in every seed', () => {
    const held = pairedVerdict(m([[1993, 30], [1994, 28], [1995, 31]]), m([[1993, 25], [1994, 27], [1995, 20]]));
    expect(held.verdict).toBe('holds');
    expect(held.meanDifference).toBeCloseTo((5 + 1 + 11) / 3, 12);
    expect(held.seedsNeeded).toBeNull();
    expect(pairedVerdict(m([[1, 10], [2, 11]]), m([[1, 12], [2, 15]])).verdict).toBe('fails');
  });

  it('is undecided when the seeds disagree, and says how many seeds the spread would need', () => {
    // d = 3, -1, 4: mean 2, sd sqrt(((1)^2 + (3)^2 + (2)^2) / 2) = sqrt(7); (2 sqrt(7) / 2)^2 = 7 seeds.
    const r = pairedVerdict(m([[1, 13], [2, 9], [3, 14]]), m([[1, 10], [2, 10], [3, 10]]));
    expect(r.verdict).toBe('undecided');
    expect(r.sdDifference).toBeCloseTo(Math.sqrt(7), 12);
    expect(r.seedsNeeded).toBe(7);
    // A tie in a seed is not a win: undecided; a zero mean difference needs no number of seeds.
    expect(pairedVerdict(m([[1, 5], [2, 6]]), m([[1, 5], [2, 7]])).verdict).toBe('undecided');
    expect(pairedVerdict(m([[1, 5], [2, 7]]), m([[1, 7], [2, 5]])).seedsNeeded).toBeNull();
  });

  it('pairs by seed, leaving out seeds missing on one side, and names the sides when none is shared', () => {
    expect(pairedVerdict(m([[1, 5], [2, 6], [3, 1]]), m([[1, 4], [2, 5]])).seeds).toEqual([1, 2]);
    expect(() => pairedVerdict(m([[1, 5]]), m([[2, 4]]), 'BiC > LUCIR (b0-10 AIA)')).toThrow(/BiC > LUCIR \(b0-10 AIA\): no seed has a result on both sides \(A: 1, B: 2\)/);
  });
});
