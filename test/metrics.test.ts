/**
 * Metrics tests. The scenario: three tasks of two classes, [0,2), [2,4), [4,6); evaluations after each task with
 * predictions chosen by hand; every expected number is worked out in the comments.
 */
import { describe, expect, it } from 'vitest';
import {
  accuracy, accuracyMatrix, accuracyMatrixTable, accuracyOnClasses, averageIncrementalAccuracy, backwardTransfer,
  classifierStats, classifierStatsTable, confusionMatrix, confusionTable, forgetting, forgettingPerTask, lastAccuracy,
  meanLogits, meanPerTask, metricsTable, stepMetrics, summarize, taskHistogramTable, taskOfClass,
  taskPredictionHistogram, toArquero,
} from '../kernel-lib/metrics/index';
import type { TaskSpec } from '../kernel-lib/methods/types';

const tasks: TaskSpec[] = [
  { index: 0, start: 0, end: 2 },
  { index: 1, start: 2, end: 4 },
  { index: 2, start: 4, end: 6 },
];
const i32 = (values: number[]) => Int32Array.from(values);

// After task 0: task 0 correct 3/4.
const eval0 = { labels: i32([0, 0, 1, 1]), predictions: i32([0, 1, 1, 1]) };
// After task 1: task 0: 0 ok, 3 x, 1 ok, 2 x -> 2/4; task 1: 4/4. All: 6/8.
const eval1 = { labels: i32([0, 0, 1, 1, 2, 2, 3, 3]), predictions: i32([0, 3, 1, 2, 2, 2, 3, 3]) };
// After task 2: task 0: 0 ok, 4 x, 5 x, 1 ok -> 2/4; task 1: 2 ok, 5 x, 3 ok, 4 x -> 2/4; task 2: 4/4. All: 8/12.
const eval2 = { labels: i32([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]), predictions: i32([0, 4, 5, 1, 2, 5, 3, 4, 4, 4, 5, 5]) };

const steps = [
  stepMetrics(eval0.predictions, eval0.labels, tasks, 0),
  stepMetrics(eval1.predictions, eval1.labels, tasks, 1),
  stepMetrics(eval2.predictions, eval2.labels, tasks, 2),
];

describe('accuracies of one evaluation', () => {
  it('accuracy and accuracy on a class range', () => {
    expect(accuracy(eval2.predictions, eval2.labels)).toBeCloseTo(8 / 12, 12);
    expect(accuracyOnClasses(eval2.predictions, eval2.labels, 2, 4)).toBe(0.5);
    expect(accuracyOnClasses(eval2.predictions, eval2.labels, 6, 8)).toBeNaN();
    expect(() => accuracy(i32([1]), i32([1, 2]))).toThrow(/predictions has 1 entries, labels 2/);
  });

  it('stepMetrics: per-task, all seen, old and new', () => {
    expect(steps[0]).toEqual({ task: 0, seenClasses: 2, accuracy: 0.75, perTask: [0.75], old: NaN, new: 0.75, samples: 4 });
    expect(steps[1]).toEqual({ task: 1, seenClasses: 4, accuracy: 0.75, perTask: [0.5, 1], old: 0.5, new: 1, samples: 8 });
    expect(steps[2].perTask).toEqual([0.5, 0.5, 1]);
    expect(steps[2].accuracy).toBeCloseTo(2 / 3, 12);
    expect(steps[2].old).toBe(0.5); // 4 of the 8 old-class samples
    expect(steps[2].new).toBe(1);
  });

  it('stepMetrics ignores samples of classes not seen yet', () => {
    // The whole test set evaluated after task 0: only labels 0 and 1 count.
    const m = stepMetrics(i32([0, 1, 1, 1, 0, 0]), i32([0, 0, 1, 1, 2, 5]), tasks, 0);
    expect(m.accuracy).toBe(0.75);
    expect(m.samples).toBe(4);
    expect(() => stepMetrics(i32([0]), i32([0]), [{ index: 0, start: 0, end: 2 }, { index: 1, start: 3, end: 4 }], 0)).toThrow(/tasks\[1\]/);
  });
});

describe('run metrics', () => {
  it('accuracy matrix, AIA (with and without step 0), last accuracy', () => {
    expect(accuracyMatrix(steps)).toEqual([[0.75], [0.5, 1], [0.5, 0.5, 1]]);
    // (0.75 + 0.75 + 2/3) / 3 = 0.7222...; without step 0: (0.75 + 2/3) / 2 = 0.7083...
    expect(averageIncrementalAccuracy(steps)).toBeCloseTo((0.75 + 0.75 + 2 / 3) / 3, 12);
    expect(averageIncrementalAccuracy(steps, { includeFirst: false })).toBeCloseTo((0.75 + 2 / 3) / 2, 12);
    expect(lastAccuracy(steps)).toBeCloseTo(2 / 3, 12);
    expect(() => averageIncrementalAccuracy([steps[1]])).toThrow(/steps\[0\] must be the evaluation after task 0/);
  });

  it('forgetting (FACIL: best earlier accuracy minus current) and BWT', () => {
    const acc = accuracyMatrix(steps);
    // After task 1: task 0: 0.75 - 0.5 = 0.25. After task 2: task 0: max(0.75, 0.5) - 0.5 = 0.25; task 1: 1 - 0.5.
    expect(forgettingPerTask(acc, 1)).toEqual([0.25]);
    expect(forgettingPerTask(acc)).toEqual([0.25, 0.5]);
    expect(forgetting(acc)).toBeCloseTo(0.375, 12);
    expect(forgetting(acc, 0)).toBeNaN();
    // BWT: ((0.5 - 0.75) + (0.5 - 1)) / 2.
    expect(backwardTransfer(acc)).toBeCloseTo(-0.375, 12);
    expect(backwardTransfer(acc, 0)).toBeNaN();
  });

  it('forgetting uses the best earlier accuracy, not the one just after learning (unlike BWT)', () => {
    // Task 0 improves from 0.6 to 0.8 after task 1, then drops to 0.4: forgetting 0.8 - 0.4 = 0.4, while BWT
    // compares with acc[0][0] = 0.6. Task 1: 0.9 -> 0.7. Forgetting (0.4 + 0.2)/2 = 0.3; BWT (-0.2 - 0.2)/2 = -0.2.
    const acc = [[0.6], [0.8, 0.9], [0.4, 0.7, 0.95]];
    expect(forgetting(acc)).toBeCloseTo(0.3, 12);
    expect(backwardTransfer(acc)).toBeCloseTo(-0.2, 12);
    expect(() => forgetting([[0.5], [0.5]])).toThrow(/acc\[1\] must have 2 entries/);
  });

  it('summarize', () => {
    const s = summarize(steps);
    expect(s.aia).toBeCloseTo(0.722222, 5);
    expect(s.last).toBeCloseTo(2 / 3, 12);
    expect(s.forgetting).toBeCloseTo(0.375, 12);
    expect(s.bwt).toBeCloseTo(-0.375, 12);
  });
});

describe('where predictions go', () => {
  it('confusion matrix ordered by class arrival', () => {
    const cm = confusionMatrix(eval2.predictions, eval2.labels, 6);
    const expected = new Int32Array(36);
    // (true, predicted): (0,0) (0,4) (1,5) (1,1) (2,2) (2,5) (3,3) (3,4) (4,4)x2 (5,5)x2
    for (const [y, p] of [[0, 0], [0, 4], [1, 5], [1, 1], [2, 2], [2, 5], [3, 3], [3, 4], [4, 4], [4, 4], [5, 5], [5, 5]]) expected[y * 6 + p]++;
    expect(Array.from(cm.counts)).toEqual(Array.from(expected));
    expect(() => confusionMatrix(i32([6]), i32([0]), 6)).toThrow(/sample 0: label 0 \/ prediction 6 outside \[0, 6\)/);
  });

  it('task-prediction histogram', () => {
    // Task 0 samples predicted 0, 4, 5, 1 -> tasks 0, 2, 2, 0; task 1: 2, 5, 3, 4 -> 1, 2, 1, 2; task 2: all task 2.
    expect(taskPredictionHistogram(eval2.predictions, eval2.labels, tasks)).toEqual([[2, 0, 2], [0, 2, 2], [0, 0, 4]]);
    expect(Array.from(taskOfClass(tasks))).toEqual([0, 0, 1, 1, 2, 2]);
  });
});

describe('classifier and logits', () => {
  it('per-class weight norms (columns of [featureDim, classes]) and biases; per-task means', () => {
    // W = [[3, 0, 1], [4, 1, 1]]: columns (3,4), (0,1), (1,1) -> norms 5, 1, sqrt 2.
    const stats = classifierStats(Float32Array.from([3, 0, 1, 4, 1, 1]), [2, 3], Float32Array.from([0.1, 0.2, 0.3]));
    expect(Array.from(stats.weightNorms).map((v) => +v.toFixed(6))).toEqual([5, 1, +Math.SQRT2.toFixed(6)]);
    expect(Array.from(stats.biases as Float32Array)).toEqual(Array.from(Float32Array.from([0.1, 0.2, 0.3])));
    const twoTasks: TaskSpec[] = [{ index: 0, start: 0, end: 1 }, { index: 1, start: 1, end: 3 }];
    const means = meanPerTask(stats.weightNorms, twoTasks);
    expect(means[0]).toBeCloseTo(5, 6);
    expect(means[1]).toBeCloseTo((1 + Math.SQRT2) / 2, 6);
    expect(classifierStats(Float32Array.from([1, 0]), [2, 1]).biases).toBeNull();
    expect(() => classifierStats(Float32Array.from([1, 2, 3]), [2, 2])).toThrow(/weights has 3 values/);
    const table = classifierStatsTable(stats, twoTasks);
    expect(table.objects()).toHaveLength(3);
    expect(table.array('task')).toEqual([0, 1, 1]);
  });

  it('mean old and new logits', () => {
    // Logits [[1,2,3,4],[5,6,7,8]], old classes 0-1, new 2-3: old (1+2+5+6)/4 = 3.5, new (3+4+7+8)/4 = 5.5.
    const m = meanLogits(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), [2, 4], tasks.slice(0, 2));
    expect(m).toEqual({ old: 3.5, new: 5.5, perTask: [3.5, 5.5] });
    expect(meanLogits(Float32Array.from([1, 3]), [1, 2], tasks.slice(0, 1)).old).toBeNaN();
    expect(() => meanLogits(Float32Array.from([1, 2]), [1, 2], tasks.slice(0, 2))).toThrow(/logits have 2 classes but the tasks cover 4/);
  });
});

describe('arquero tables', () => {
  it('metricsTable: one row per classifier and step, with running AIA / forgetting / BWT', () => {
    const cnn = metricsTable(steps);
    expect(cnn.numRows()).toBe(3);
    expect(cnn.array('accuracy')).toEqual(steps.map((s) => s.accuracy));
    const aia = cnn.array('aia') as number[];
    expect(aia[0]).toBe(0.75);
    expect(aia[1]).toBe(0.75);
    expect(aia[2]).toBeCloseTo(0.722222, 5);
    const forg = cnn.array('forgetting') as number[];
    expect(forg[0]).toBeNaN();
    expect(forg[1]).toBe(0.25);
    expect(forg[2]).toBeCloseTo(0.375, 12);
    const nmeSteps = [stepMetrics(eval0.labels, eval0.labels, tasks, 0), stepMetrics(eval1.labels, eval1.labels, tasks, 1)];
    const both = metricsTable({ cnn: steps, nme: nmeSteps });
    expect(both.numRows()).toBe(5);
    expect(both.array('classifier')).toEqual(['cnn', 'cnn', 'cnn', 'nme', 'nme']);
    expect((both.array('accuracy') as number[]).slice(3)).toEqual([1, 1]); // NME predictions = labels here
  });

  it('long-form tables', () => {
    const accTable = accuracyMatrixTable(accuracyMatrix(steps));
    expect(accTable.objects()).toEqual([
      { after: 0, task: 0, accuracy: 0.75 },
      { after: 1, task: 0, accuracy: 0.5 }, { after: 1, task: 1, accuracy: 1 },
      { after: 2, task: 0, accuracy: 0.5 }, { after: 2, task: 1, accuracy: 0.5 }, { after: 2, task: 2, accuracy: 1 },
    ]);
    const cm = confusionTable(confusionMatrix(eval0.predictions, eval0.labels, 2));
    // (0,0) 1, (0,1) 1, (1,1) 2.
    expect(cm.objects()).toEqual([{ trueClass: 0, predictedClass: 0, count: 1 }, { trueClass: 0, predictedClass: 1, count: 1 }, { trueClass: 1, predictedClass: 1, count: 2 }]);
    const hist = taskHistogramTable([[2, 0], [1, 3]]);
    expect(hist.numRows()).toBe(4);
    expect(hist.array('count')).toEqual([2, 0, 1, 3]);
    expect(toArquero({ a: Float32Array.from([1, 2]) }).numRows()).toBe(2);
  });
});
