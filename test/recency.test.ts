import { describe, expect, it } from 'vitest';
import { recencyOf } from '../kernel-lib/experiments/recency';

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
