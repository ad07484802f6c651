/**
 * Class-incremental learning metrics, as plain typed data (and arquero tables for notebooks).
 *
 * Inputs are what an evaluation produces: predictions and labels (Int32Array, incremental labels: classes in
 * arrival order), the scenario's tasks (TaskSpec[]), logits as a Float32Array with its shape, head weights as a
 * Float32Array [featureDim, classes] (kdcl's LinearHead layout). Accuracies are fractions in [0, 1] (multiply by
 * 100 for the survey's percentages). A quantity with nothing to measure (old-class accuracy on the first task,
 * forgetting before the second) is NaN.
 */
import * as aq from 'arquero';
import type { TaskSpec } from '../methods/types';

function fail(fn: string, message: string): never {
  throw new Error(`kernel-lib/metrics ${fn}: ${message}`);
}

function checkPairs(fn: string, predictions: Int32Array, labels: Int32Array): void {
  if (predictions.length !== labels.length) fail(fn, `predictions has ${predictions.length} entries, labels ${labels.length}`);
}

function checkTasks(fn: string, tasks: readonly TaskSpec[]): void {
  if (tasks.length === 0) fail(fn, 'tasks is empty');
  tasks.forEach((task, i) => {
    const expectedStart = i === 0 ? 0 : tasks[i - 1].end;
    if (task.start !== expectedStart || task.end <= task.start) {
      fail(fn, `tasks[${i}] = [${task.start}, ${task.end}) must start at ${expectedStart} and be non-empty (tasks are contiguous, in arrival order)`);
    }
  });
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((s, v) => s + v, 0) / values.length;
}

// ---------------------------------------------------------------- accuracies of one evaluation

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

// ---------------------------------------------------------------- where predictions go

/** Confusion counts, row-major [true class][predicted class], classes in arrival order. */
export interface ConfusionMatrix {
  classes: number;
  counts: Int32Array;
}

export function confusionMatrix(predictions: Int32Array, labels: Int32Array, classes: number): ConfusionMatrix {
  const fn = 'confusionMatrix';
  checkPairs(fn, predictions, labels);
  const counts = new Int32Array(classes * classes);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    const p = predictions[i];
    if (y < 0 || y >= classes || p < 0 || p >= classes) fail(fn, `sample ${i}: label ${y} / prediction ${p} outside [0, ${classes})`);
    counts[y * classes + p]++;
  }
  return { classes, counts };
}

/** class -> index of the task that introduced it. */
export function taskOfClass(tasks: readonly TaskSpec[]): Int32Array {
  checkTasks('taskOfClass', tasks);
  const owner = new Int32Array(tasks[tasks.length - 1].end);
  tasks.forEach((task, i) => owner.fill(i, task.start, task.end));
  return owner;
}

/**
 * Task-prediction histogram: hist[i][j] = how many test samples of task i's classes were predicted as one of
 * task j's classes (the task-recency bias shows as mass right of the diagonal). `tasks` are the tasks seen so far.
 */
export function taskPredictionHistogram(predictions: Int32Array, labels: Int32Array, tasks: readonly TaskSpec[]): number[][] {
  const fn = 'taskPredictionHistogram';
  checkPairs(fn, predictions, labels);
  const owner = taskOfClass(tasks);
  const hist = tasks.map(() => new Array<number>(tasks.length).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    const p = predictions[i];
    if (y < 0 || y >= owner.length) continue; // a class not seen yet
    if (p < 0 || p >= owner.length) fail(fn, `sample ${i}: prediction ${p} is not a class of the given tasks (0..${owner.length - 1})`);
    hist[owner[y]][owner[p]]++;
  }
  return hist;
}

// ---------------------------------------------------------------- classifier and logits (task-recency bias)

export interface ClassifierStats {
  /** L2 norm of each class's weight vector. */
  weightNorms: Float32Array;
  /** Each class's bias (null for a head without biases, e.g. LUCIR's cosine head). */
  biases: Float32Array | null;
}

/**
 * Per-class weight norms and biases of a linear head, weights [featureDim, classes] (kdcl's LinearHead layout:
 * column c is class c's weight vector; PyTorch's nn.Linear stores the transpose).
 */
export function classifierStats(weights: Float32Array, shape: readonly [number, number], biases?: Float32Array | null): ClassifierStats {
  const fn = 'classifierStats';
  const [dim, classes] = shape;
  if (weights.length !== dim * classes) fail(fn, `weights has ${weights.length} values, expected featureDim * classes = ${dim} * ${classes}`);
  if (biases && biases.length !== classes) fail(fn, `biases has ${biases.length} values, expected ${classes}`);
  const weightNorms = new Float32Array(classes);
  for (let c = 0; c < classes; c++) {
    let sq = 0;
    for (let d = 0; d < dim; d++) sq += weights[d * classes + c] ** 2;
    weightNorms[c] = Math.sqrt(sq);
  }
  return { weightNorms, biases: biases ? Float32Array.from(biases) : null };
}

/** Mean of a per-class quantity (weight norms, biases ...) within each task's classes. */
export function meanPerTask(perClass: ArrayLike<number>, tasks: readonly TaskSpec[]): number[] {
  checkTasks('meanPerTask', tasks);
  return tasks.map((task) => {
    if (task.end > perClass.length) fail('meanPerTask', `task ${task.index} ends at class ${task.end} but only ${perClass.length} values were given`);
    let s = 0;
    for (let c = task.start; c < task.end; c++) s += perClass[c];
    return s / (task.end - task.start);
  });
}

export interface MeanLogits {
  /** Mean logit over all samples and the old classes (those of tasks before the last one); NaN with one task. */
  old: number;
  /** Mean logit over all samples and the last task's classes. */
  new: number;
  /** Mean logit over all samples and each task's classes. */
  perTask: number[];
}

/**
 * Mean old-class and new-class logits over a set of samples (BiC's observation that new-class logits dominate).
 * logits [N, C] row-major with C = tasks[last].end; the last of `tasks` is the current task.
 */
export function meanLogits(logits: Float32Array, shape: readonly [number, number], tasks: readonly TaskSpec[]): MeanLogits {
  const fn = 'meanLogits';
  checkTasks(fn, tasks);
  const [n, classes] = shape;
  if (logits.length !== n * classes) fail(fn, `logits has ${logits.length} values, expected ${n} * ${classes}`);
  if (classes !== tasks[tasks.length - 1].end) fail(fn, `logits have ${classes} classes but the tasks cover ${tasks[tasks.length - 1].end}`);
  if (n === 0) fail(fn, 'no samples');
  const columnSums = new Float64Array(classes);
  for (let i = 0; i < n; i++) for (let c = 0; c < classes; c++) columnSums[c] += logits[i * classes + c];
  const blockMean = (start: number, end: number) => {
    if (end <= start) return NaN;
    let s = 0;
    for (let c = start; c < end; c++) s += columnSums[c];
    return s / (n * (end - start));
  };
  const current = tasks[tasks.length - 1];
  return {
    old: blockMean(0, current.start),
    new: blockMean(current.start, current.end),
    perTask: tasks.map((task) => blockMean(task.start, task.end)),
  };
}

// ---------------------------------------------------------------- arquero tables

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
