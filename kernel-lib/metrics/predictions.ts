/** Where predictions go (confusion, task histogram), and the classifier's weights and logits (task-recency bias). */
import type { TaskSpec } from '../methods/types';
import { fail, checkPairs, checkTasks } from './checks';

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
