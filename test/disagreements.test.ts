import { describe, expect, it } from 'vitest';
import { disagreementsSection } from '../kernel-lib/experiments/disagreements';
import type { RunResult } from '../kernel-lib/experiments/results';

// Two tasks of 2 classes: first task, newest task while trained = acc[1][1], newest − older = acc[1][1] − acc[1][0].
const run = (method: string, seed: number, aia: number, acc: number[][]) =>
  ({ specId: `${method}_b0-10`, method, scenario: 'b0-10', kd: true, labels: { method }, status: 'done', seed, aia, seenClasses: [2, 4], accuracyMatrix: acc }) as unknown as RunResult;

describe("REPORT.md's disagreements section", () => {
  it('reads each failing comparison of two runs: plasticity, recency bias and old-class bias, with hand values', () => {
    const runs = [1, 2].flatMap((seed) => [
      run('bic', seed, 0.2, [[0.5], [0.3, 0.1]]), // newest while trained 10, newest − older −20
      run('eeil', seed, 0.4, [[0.5], [0.1, 0.6]]), // 60, +50
    ]);
    expect(disagreementsSection('main-comparison', runs)).toContain(
      '- **BiC b0-10 > EEIL b0-10** fails (−20.0 AIA points, n=2): plasticity: each new task reaches 10.0% while newest in BiC b0-10, ' +
        '60.0% in EEIL b0-10; old-class bias: BiC b0-10 ends with newest − older −20.0 points (new classes held back); ' +
        'recency bias: EEIL b0-10 ends with newest − older +50.0 points.',
    );
  });

  it('names a first-task gap, says when no reading stands out, and is empty when nothing fails', () => {
    const gap = disagreementsSection('main-comparison', [run('bic', 1, 0.2, [[0.3], [0.2, 0.2]]), run('icarl', 1, 0.3, [[0.5], [0.2, 0.2]])]);
    expect(gap.join('\n')).toContain('budget: the first task reaches 30.0% in BiC b0-10 and 50.0% in iCaRL b0-10.');
    const flat = disagreementsSection('main-comparison', [run('bic', 1, 0.2, [[0.5], [0.2, 0.2]]), run('icarl', 1, 0.3, [[0.5], [0.2, 0.2]])]);
    expect(flat.join('\n')).toContain('no reading stands out');
    expect(disagreementsSection('main-comparison', [run('bic', 1, 0.4, [[0.5], [0.2, 0.2]]), run('icarl', 1, 0.3, [[0.5], [0.2, 0.2]])])).toEqual([]);
  });
});
