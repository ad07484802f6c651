/** Accuracies of one evaluation, and a run's metrics from one StepMetrics per task (AIA, last, forgetting, BWT). */
import type { TaskSpec } from '../methods/types';
import { fail, checkPairs, checkTasks, mean } from './checks';

/** Fraction of correct predictions over the samples whose label is in [start, end); NaN when there are none. */
export function accuracyOnClasses(predictions: Int32Array, labels: Int32Array, start: number, end: number): number {
  checkPairs('accuracyOnClasses', predictions, labels);
  let hits = 0;
  let count = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] < start || labels[i] >= end) continue;
    count++;
    if (predictions[i] === labels[i]) hits++;
  }
  return count === 0 ? NaN : hits / count;
}

/** Fraction of correct predictions over all samples. */
export function accuracy(predictions: Int32Array, labels: Int32Array): number {
  return accuracyOnClasses(predictions, labels, -Infinity, Infinity);
}

/** One evaluation after task t (CNN or NME predictions over the classes seen so far). */
export interface StepMetrics {
  /** Index t of the task just learnt. */
  task: number;
  /** Classes seen so far (= tasks[t].end). */
  seenClasses: number;
  /** Accuracy on every test sample of the seen classes (PyCIL's "total" / top-1). */
  accuracy: number;
  /** acc[t][j] for j = 0..t: accuracy on task j's classes (task-agnostic prediction over all seen classes). */
  perTask: number[];
  /** Accuracy on the classes of tasks before t (NaN for t = 0). PyCIL toolkit.py `accuracy`'s 'old'. */
  old: number;
  /** Accuracy on task t's classes. */
  new: number;
  /** Test samples of seen classes counted. */
  samples: number;
}

/**
 * Metrics of one evaluation after task t. Samples of classes not seen yet (label >= tasks[t].end) are ignored, so
 * the whole test set may be passed. Predictions are over the seen classes (task-agnostic, "TAg" in FACIL).
 */
export function stepMetrics(predictions: Int32Array, labels: Int32Array, tasks: readonly TaskSpec[], t: number): StepMetrics {
  const fn = 'stepMetrics';
  checkPairs(fn, predictions, labels);
  checkTasks(fn, tasks);
  if (!Number.isInteger(t) || t < 0 || t >= tasks.length) fail(fn, `t must be a task index in [0, ${tasks.length}), got ${t}`);
  const seen = tasks[t].end;
  let samples = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] >= 0 && labels[i] < seen) samples++;
  if (samples === 0) fail(fn, `no test sample has a label in the ${seen} seen classes`);
  return {
    task: t,
    seenClasses: seen,
    accuracy: accuracyOnClasses(predictions, labels, 0, seen),
    perTask: tasks.slice(0, t + 1).map((task) => accuracyOnClasses(predictions, labels, task.start, task.end)),
    old: t === 0 ? NaN : accuracyOnClasses(predictions, labels, 0, tasks[t].start),
    new: accuracyOnClasses(predictions, labels, tasks[t].start, tasks[t].end),
    samples,
  };
}

// ---------------------------------------------------------------- a run: one StepMetrics per task

function checkSteps(fn: string, steps: readonly StepMetrics[]): void {
  if (steps.length === 0) fail(fn, 'steps is empty');
  steps.forEach((s, i) => {
    if (s.task !== i || s.perTask.length !== i + 1) fail(fn, `steps[${i}] must be the evaluation after task ${i} (task ${s.task}, ${s.perTask.length} per-task accuracies)`);
  });
}

/** The accuracy matrix acc[t][j] (after task t, on task j's classes), lower-triangular: row t has t + 1 entries. */
export function accuracyMatrix(steps: readonly StepMetrics[]): number[][] {
  checkSteps('accuracyMatrix', steps);
  return steps.map((s) => s.perTask.slice());
}

/**
 * Average incremental accuracy (Rebuffi et al. 2017): the mean over steps of the accuracy on all classes seen so
 * far. Step 0 is included by default, as PyCIL (trainer.py: mean of `cnn_curve['top1']`) and FACIL (avg_accs)
 * report it; `includeFirst: false` averages steps 1..T-1 only.
 */
export function averageIncrementalAccuracy(steps: readonly StepMetrics[], options: { includeFirst?: boolean } = {}): number {
  checkSteps('averageIncrementalAccuracy', steps);
  const used = options.includeFirst === false ? steps.slice(1) : steps;
  return mean(used.map((s) => s.accuracy));
}

/** Accuracy on all seen classes after the last task. */
export function lastAccuracy(steps: readonly StepMetrics[]): number {
  checkSteps('lastAccuracy', steps);
  return steps[steps.length - 1].accuracy;
}

function checkMatrix(fn: string, acc: readonly (readonly number[])[], t: number): void {
  acc.forEach((row, i) => {
    if (row.length !== i + 1) fail(fn, `acc[${i}] must have ${i + 1} entries (lower-triangular accuracy matrix), got ${row.length}`);
  });
  if (!Number.isInteger(t) || t < 0 || t >= acc.length) fail(fn, `t must be in [0, ${acc.length}), got ${t}`);
}

/**
 * Forgetting of each old task j < t after task t, FACIL's definition (src/main_incremental.py:
 * `forg[t, u] = acc[:t, u].max(0) - acc[t, u]`): the best accuracy on task j at any earlier step minus the
 * current one, f_j = max_{j <= k < t} acc[k][j] - acc[t][j].
 */
export function forgettingPerTask(acc: readonly (readonly number[])[], t = acc.length - 1): number[] {
  checkMatrix('forgettingPerTask', acc, t);
  return Array.from({ length: t }, (_, j) => {
    let best = -Infinity;
    for (let k = j; k < t; k++) best = Math.max(best, acc[k][j]);
    return best - acc[t][j];
  });
}

/** Average forgetting after task t: the mean of forgettingPerTask over the old tasks (NaN for t = 0). */
export function forgetting(acc: readonly (readonly number[])[], t = acc.length - 1): number {
  return mean(forgettingPerTask(acc, t));
}

/**
 * Backward transfer after task t (Lopez-Paz & Ranzato, GEM, NeurIPS 2017): BWT = 1/t sum_{j<t} (acc[t][j] -
 * acc[j][j]). Negative = forgetting. NaN for t = 0.
 */
export function backwardTransfer(acc: readonly (readonly number[])[], t = acc.length - 1): number {
  checkMatrix('backwardTransfer', acc, t);
  return mean(Array.from({ length: t }, (_, j) => acc[t][j] - acc[j][j]));
}

export interface RunSummary {
  /** Average incremental accuracy, step 0 included. */
  aia: number;
  last: number;
  /** FACIL forgetting after the last task. */
  forgetting: number;
  bwt: number;
  accuracyMatrix: number[][];
}

export function summarize(steps: readonly StepMetrics[]): RunSummary {
  const acc = accuracyMatrix(steps);
  return {
    aia: averageIncrementalAccuracy(steps),
    last: lastAccuracy(steps),
    forgetting: forgetting(acc),
    bwt: backwardTransfer(acc),
    accuracyMatrix: acc,
  };
}
