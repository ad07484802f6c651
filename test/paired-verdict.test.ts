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

  it('judges the standalone-KD claims by KD loss, group means of logit and feature losses', async () => {
    const { judgeClaims } = await import('../kernel-lib/experiments/claims');
    const aia: Record<string, [number, number]> = { ce: [20, 21], kl: [22, 23], 'logit-l2': [25, 24], 'feature-l2': [18, 19], 'feature-cosine': [19, 17], none: [10, 10] };
    const runs = Object.entries(aia).flatMap(([kdLoss, v]) => [1, 2].map((seed) =>
      ({ method: 'lwf', seed, aia: v[seed - 1] / 100, scenario: 'b0-10', kd: kdLoss !== 'none', status: 'done', labels: { kdLoss } }) as never));
    const [logitOverFeature, logitOrder, cosineOverL2, anyOverNone] = judgeClaims('standalone-kd', runs);
    // Seed 1: (20 + 22 + 25) / 3 - (18 + 19) / 2 = 3.8333; seed 2: (21 + 23 + 24) / 3 - (19 + 17) / 2 = 4.6667.
    expect(logitOverFeature.verdict).toBe('holds');
    expect(logitOverFeature.comparisons[0].meanDifference).toBeCloseTo(4.25, 10);
    expect(logitOverFeature.comparisons[0].label).toBe('mean(CE, KL, logit L2) b0-10 > mean(feature L2, feature cosine) b0-10');
    expect(logitOrder.verdict).toBe('holds');
    expect(logitOrder.comparisons.map((c) => c.meanDifference)).toEqual([2, 2].map((x) => expect.closeTo(x, 10)));
    expect(cosineOverL2.verdict).toBe('undecided'); // +1 in seed 1, -2 in seed 2
    expect(anyOverNone.verdict).toBe('holds');
  });

  it('judges "the separated softmax reduces KD\'s harm" on the difference of differences, paired by seed', async () => {
    const { judgeClaims } = await import('../kernel-lib/experiments/claims');
    // Seed 1: global none 30, global KL 25 (-5); separated none 32, separated KL 31 (-1): (-1) - (-5) = +4.
    // Seed 2: global none 30, global KL 28 (-2); separated none 33, separated KL 30 (-3): (-3) - (-2) = -1.
    const table: [string, string, number, number][] = [['global', 'none', 30, 30], ['global', 'kl', 25, 28], ['separated', 'none', 32, 33], ['separated', 'kl', 31, 30]];
    const runs = table.flatMap(([softmax, kdLoss, a, b]) => [[1, a], [2, b]].map(([seed, v]) =>
      ({ method: 'replay-kd', seed, aia: v / 100, scenario: 'b0-10', kd: kdLoss !== 'none', status: 'done', labels: { softmax, kdLoss } }) as never));
    const judged = judgeClaims('replay-softmax', runs);
    const reduces = judged.find((c) => c.text.startsWith("The separated softmax reduces KD's harm"))!;
    const kl = reduces.comparisons.find((c) => c.label.startsWith('(separated KL'))!;
    expect(kl.label).toBe('(separated KL − separated no KD) > (global KL − global no KD) b0-10');
    expect(kl.meanDifference).toBeCloseTo(1.5, 10);
    expect(kl.verdict).toBe('undecided');
    expect(reduces.missing).toHaveLength(4); // CE, logit L2 and both feature losses have no runs here
    expect(judged.find((c) => c.text.startsWith('Replay with a separated softmax and no KD'))!.verdict).toBe('holds');
    expect(judged.find((c) => c.text.includes('a base task'))!.verdict).toBe('not run');
  });
});
