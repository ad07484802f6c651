import { describe, expect, it } from 'vitest';
import { recencyOf, recencySection } from '../kernel-lib/experiments/recency';
import { getExperiment } from '../kernel-lib/experiments/experiments';
import type { RunResult } from '../kernel-lib/experiments/results';

describe('recency numbers from an accuracy matrix', () => {
  it('gives the first task, the newest task while trained, and the newest vs older classes after the last task', () => {
    // Tasks of 2, 2 and 4 classes. After the last task: newest 0.6; older (0.1 * 2 + 0.3 * 2) / 4 = 0.2.
    const run = { seenClasses: [2, 4, 8], accuracyMatrix: [[0.5], [0.2, 0.7], [0.1, 0.3, 0.6]] };
    const r = recencyOf(run)!;
    expect(r.firstTask).toBeCloseTo(50, 10);
    expect(r.newestWhileTrained).toBeCloseTo((70 + 60) / 2, 10);
    expect(r.newestAtEnd).toBeCloseTo(60, 10);
    expect(r.olderAtEnd).toBeCloseTo(20, 10);
  });

  it('has nothing to say about a one-task run or a malformed one', () => {
    expect(recencyOf({ seenClasses: [10], accuracyMatrix: [[0.4]] })).toBeNull();
    expect(recencyOf({ seenClasses: [10], accuracyMatrix: [[0.4], [0.1, 0.2]] })).toBeNull();
  });
});

describe("REPORT.md's recency section", () => {
  const run = (method: string, newest: number) =>
    ({
      specId: `${method}_b0-10`, method, scenario: 'b0-10', kd: true, labels: { method }, status: 'done', seed: 1993,
      seenClasses: [2, 4], accuracyMatrix: [[0.5], [0.3, newest]],
    }) as unknown as RunResult;

  it('names the runs that learn almost none of each new task, and for prototype methods points to the reference check', () => {
    const lines = recencySection(getExperiment('main-comparison'), [run('pass', 0.01), run('icarl', 0.3), run('finetune', 0.6)]);
    const text = lines.join('\n');
    expect(text).toContain('| PASS | b0-10 | 1 | 50.0 | 1.0 | 1.0 | 30.0 | −29.0 |');
    expect(text).toMatch(/below 5%\): PASS \(b0-10 1\.0%\)\./);
    expect(text).toContain('npm run reference -- --methods pass,il2a,praka');
  });

  it('says nothing of it when every run learns its new tasks, and nothing of prototypes for other methods', () => {
    expect(recencySection(getExperiment('main-comparison'), [run('icarl', 0.3)]).join('\n')).not.toContain('almost none');
    const ssil = recencySection(getExperiment('main-comparison'), [run('ssil', 0.02)]).join('\n');
    expect(ssil).toMatch(/below 5%\): SS-IL \(b0-10 2\.0%\)\.$/);
    expect(ssil).not.toContain('reference');
  });
});
