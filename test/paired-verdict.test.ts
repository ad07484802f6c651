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

describe("the survey's claims, judged from runs", () => {
  it('judges "In B0, BiC is best" pairwise against every other method, and says what is not run yet', async () => {
    const { judgeClaims, claimsSection } = await import('../kernel-lib/experiments/claims');
    const run = (method: string, seed: number, aia: number, scenario = 'b0-10', kd = true) =>
      ({ method, seed, aia, scenario, kd, status: 'done', labels: { method } }) as never;
    const others = ['lwf', 'lwm', 'il2a', 'pass', 'praka', 'icarl', 'eeil', 'lucir', 'ssil'];
    const runs = [1, 2].flatMap((seed) => [run('bic', seed, 0.3 + seed / 100), ...others.map((m) => run(m, seed, 0.2))]);
    const [bicBest, prakaBest] = judgeClaims('main-comparison', runs);
    expect(bicBest.verdict).toBe('holds');
    expect(bicBest.comparisons).toHaveLength(9);
    expect(bicBest.comparisons[0].meanDifference).toBeCloseTo(11.5, 10);
    expect(prakaBest.verdict).toBe('not run');
    // One method beating BiC in every seed fails the claim.
    const failing = judgeClaims('main-comparison', [...runs.filter((r: { method: string }) => r.method !== 'eeil'), run('eeil', 1, 0.5), run('eeil', 2, 0.5)]);
    expect(failing[0].verdict).toBe('fails');
    expect(claimsSection('main-comparison', runs).join('\n')).toMatch(/\| In B0, BiC is best\. \| \*\*holds\*\* \| BiC b0-10 > LwF b0-10: \+11\.50 ± 0\.71 \(n=2, holds\)/);
  });
});
