/** Metrics as arquero tables, for notebooks. */
import * as aq from 'arquero';
import type { TaskSpec } from '../methods/types';
import { fail } from './checks';
import { type StepMetrics, averageIncrementalAccuracy, forgetting, backwardTransfer, accuracyMatrix } from './accuracy';
import { type ConfusionMatrix, type ClassifierStats, taskOfClass } from './predictions';

/** Any columns as an arquero table. */
export function toArquero(columns: Record<string, ArrayLike<unknown>>): aq.ColumnTable {
  return aq.table(columns as Record<string, unknown[]>);
}

/**
 * One row per (classifier, step): task, seenClasses, accuracy, old, new, and the running aia, forgetting and bwt
 * (over steps 0..t). `runs` maps a classifier name ('cnn', 'nme') to its steps; a bare array is named 'cnn'.
 */
export function metricsTable(runs: readonly StepMetrics[] | Record<string, readonly StepMetrics[]>): aq.ColumnTable {
  const named = Array.isArray(runs) ? { cnn: runs as readonly StepMetrics[] } : (runs as Record<string, readonly StepMetrics[]>);
  const rows: Record<string, string | number>[] = [];
  for (const [classifier, steps] of Object.entries(named)) {
    const acc = accuracyMatrix(steps);
    steps.forEach((s, t) => {
      rows.push({
        classifier, task: s.task, seenClasses: s.seenClasses, accuracy: s.accuracy, old: s.old, new: s.new,
        aia: averageIncrementalAccuracy(steps.slice(0, t + 1)), forgetting: forgetting(acc, t), bwt: backwardTransfer(acc, t),
      });
    });
  }
  return aq.from(rows);
}

/** The accuracy matrix in long form: after (t), task (j), accuracy. */
export function accuracyMatrixTable(acc: readonly (readonly number[])[]): aq.ColumnTable {
  const rows = acc.flatMap((row, t) => row.map((accuracy, j) => ({ after: t, task: j, accuracy })));
  return aq.from(rows);
}

/** Confusion counts in long form (nonzero cells only): trueClass, predictedClass, count. */
export function confusionTable(matrix: ConfusionMatrix): aq.ColumnTable {
  const rows: { trueClass: number; predictedClass: number; count: number }[] = [];
  for (let y = 0; y < matrix.classes; y++) {
    for (let p = 0; p < matrix.classes; p++) {
      const count = matrix.counts[y * matrix.classes + p];
      if (count > 0) rows.push({ trueClass: y, predictedClass: p, count });
    }
  }
  return aq.from(rows);
}

/** Task-prediction histogram in long form: sampleTask, predictedTask, count. */
export function taskHistogramTable(hist: readonly (readonly number[])[]): aq.ColumnTable {
  return aq.from(hist.flatMap((row, i) => row.map((count, j) => ({ sampleTask: i, predictedTask: j, count }))));
}

/** Per-class weight norm and bias with each class's task. */
export function classifierStatsTable(stats: ClassifierStats, tasks: readonly TaskSpec[]): aq.ColumnTable {
  const owner = taskOfClass(tasks);
  const classes = stats.weightNorms.length;
  if (classes > owner.length) fail('classifierStatsTable', `${classes} classes but the tasks cover ${owner.length}`);
  return toArquero({
    class: Array.from({ length: classes }, (_, c) => c),
    task: Array.from(owner.subarray(0, classes)),
    weightNorm: Array.from(stats.weightNorms),
    bias: stats.biases ? Array.from(stats.biases) : new Array<number>(classes).fill(NaN),
  });
}
