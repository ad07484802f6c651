/**
 * Classification bias in class-incremental learning: where a model's predictions go, and why.
 *
 * After task t a CIL model tends to predict the newest classes (task-recency bias): BiC (Wu et al., CVPR 2019,
 * Sec. 3) shows it in the confusion matrix and in the new classes' larger logits; LUCIR (Hou et al., CVPR 2019,
 * Fig. 2) in the larger weight norms of the new classes; SS-IL (Ahn et al., ICCV 2021, Sec. 3) traces it to the
 * global softmax over old and new classes. This module computes those views as plain typed data, from one model's
 * scores on the test images of the classes seen so far:
 *
 *   - the confusion matrix, classes in arrival order
 *   - the task-prediction histogram (which task's classes each task's samples are predicted as)
 *   - per-class classifier weight norms and biases, with per-task means
 *   - mean old-class and new-class logits
 *
 * `biasViews(inputs)` is the pure function (tests feed it hand-made logits); `analyseRun(run)` gets the inputs from
 * a run (test-set logits of the current network, its head's weights), raw or after BiC's bias correction.
 * Everything is computed with kernel-lib/metrics; charts are in kernel-lib/viz/bias-charts.
 */
import { tf } from '../tf';
import type { TaskSpec } from '../methods/types';
import { applyCorrections, type BiasCorrection } from '../methods/bic';
import { classifierWeights, correctedClassifier, type ClassifierWeights } from './classifier-weights';
import { makeBatches, toTensor } from '../data/batches';
import {
  classifierStats,
  confusionMatrix,
  meanLogits,
  meanPerTask,
  stepMetrics,
  taskPredictionHistogram,
  type ClassifierStats,
  type ConfusionMatrix,
  type MeanLogits,
  type StepMetrics,
} from '../metrics/index';
import type { Run, RunState } from '../train/run';

export { classifierWeights, correctedClassifier, type ClassifierWeights } from './classifier-weights';

function fail(fn: string, message: string): never {
  throw new Error(`kernel-lib/analysis ${fn}: ${message}`);
}

/** One model's scores on test images: what every bias view is computed from. */
export interface BiasInputs {
  /** The tasks learnt so far, tasks[0..t] (contiguous, in arrival order); the last one is the current task. */
  tasks: readonly TaskSpec[];
  /** Scores (logits) [n, seenClasses] row-major, seenClasses = the last task's end. */
  logits: Float32Array;
  /** Incremental labels of the n images, all in [0, seenClasses). */
  labels: Int32Array;
  /** The classifier behind the logits, when it is a (linear or cosine) head; null skips the weight views. */
  classifier?: ClassifierWeights | null;
}

/** Per-task means of the classifier statistics. */
export interface ClassifierPerTask {
  weightNorm: number[];
  /** null when the head has no biases. */
  bias: number[] | null;
}

/** The bias views of one model after one task. Plain data (typed arrays inside); see biasViewsToJSON. */
export interface BiasViews {
  /** What the scores are, e.g. 'raw logits' or 'BiC-corrected'. */
  variant: string;
  /** A name for the model (method or run), e.g. 'BiC'. */
  model: string;
  /** Index t of the task just learnt. */
  task: number;
  tasks: TaskSpec[];
  seenClasses: number;
  /** Accuracy on all seen classes, per task, on old and new classes (arg-max of the scores). */
  metrics: StepMetrics;
  /** Confusion counts [true class][predicted class], classes in arrival order. */
  confusion: ConfusionMatrix;
  /** hist[i][j]: test samples of task i's classes predicted as one of task j's classes. */
  taskHistogram: number[][];
  /** Share of all test predictions that fall in the current task's classes (1 / (t + 1) of the samples belong there). */
  newPredictionShare: number;
  classifier: ClassifierStats | null;
  classifierPerTask: ClassifierPerTask | null;
  /** Mean logits over all test samples: old classes, current task's classes, and per task. */
  meanLogits: MeanLogits;
}

function checkTasks(fn: string, tasks: readonly TaskSpec[]): number {
  if (tasks.length === 0) fail(fn, 'tasks is empty (pass the tasks learnt so far, tasks[0..t])');
  return tasks[tasks.length - 1].end;
}

/** Index of the largest score of each row (the first one on ties, as tf.argMax). */
export function argMaxRows(scores: Float32Array, shape: readonly [number, number]): Int32Array {
  const [n, classes] = shape;
  if (scores.length !== n * classes) fail('argMaxRows', `scores has ${scores.length} values, expected ${n} * ${classes}`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (scores[i * classes + c] > scores[i * classes + best]) best = c;
    out[i] = best;
  }
  return out;
}

/**
 * The four bias views of one model after task t = tasks.length - 1, from its scores on test images.
 * Predictions are the arg-max over the seen classes (task-agnostic, as the CIL evaluation).
 */
export function biasViews(inputs: BiasInputs, names: { variant?: string; model?: string } = {}): BiasViews {
  const fn = 'biasViews';
  const seen = checkTasks(fn, inputs.tasks);
  const n = inputs.labels.length;
  if (n === 0) fail(fn, 'no test samples (labels is empty)');
  if (inputs.logits.length !== n * seen) {
    fail(fn, `logits has ${inputs.logits.length} values, expected samples * seenClasses = ${n} * ${seen} (slice the scores to the seen classes)`);
  }
  for (let i = 0; i < n; i++) {
    if (!(inputs.labels[i] >= 0 && inputs.labels[i] < seen)) fail(fn, `labels[${i}] = ${inputs.labels[i]} is not a seen class (0..${seen - 1})`);
  }
  const tasks = inputs.tasks.map((task) => ({ index: task.index, start: task.start, end: task.end }));
  const t = tasks.length - 1;
  const predictions = argMaxRows(inputs.logits, [n, seen]);
  const current = tasks[t];
  let inNew = 0;
  for (const p of predictions) if (p >= current.start) inNew++;

  let classifier: ClassifierStats | null = null;
  let classifierPerTask: ClassifierPerTask | null = null;
  if (inputs.classifier) {
    const { weights, shape, biases } = inputs.classifier;
    if (shape[1] < seen) fail(fn, `the classifier has ${shape[1]} classes but ${seen} were seen`);
    const stats = classifierStats(weights, shape, biases);
    // A head may already hold outputs for classes not seen yet (e.g. one built for every class): keep the seen ones.
    classifier = { weightNorms: stats.weightNorms.slice(0, seen), biases: stats.biases ? stats.biases.slice(0, seen) : null };
    classifierPerTask = {
      weightNorm: meanPerTask(classifier.weightNorms, tasks),
      bias: classifier.biases ? meanPerTask(classifier.biases, tasks) : null,
    };
  }

  return {
    variant: names.variant ?? 'logits',
    model: names.model ?? 'model',
    task: t,
    tasks,
    seenClasses: seen,
    metrics: stepMetrics(predictions, inputs.labels, tasks, t),
    confusion: confusionMatrix(predictions, inputs.labels, seen),
    taskHistogram: taskPredictionHistogram(predictions, inputs.labels, tasks),
    newPredictionShare: inNew / n,
    classifier,
    classifierPerTask,
    meanLogits: meanLogits(inputs.logits, [n, seen], tasks),
  };
}

// ---------------------------------------------------------------- from a run

/** The current network's logits on the test images of every class seen so far. */
export interface TestScores {
  tasks: TaskSpec[];
  /** Test-split indices, their incremental labels, and the raw logits over the seen classes [n, seenClasses]. */
  indices: Int32Array;
  labels: Int32Array;
  logits: Float32Array;
}

function stateOf(source: Run | RunState): RunState {
  return 'trainTask' in source && 'state' in source ? (source as Run).state : (source as RunState);
}

/** Tasks learnt so far by the run, or an error saying to train one first. */
function learntTasks(state: RunState, fn: string): TaskSpec[] {
  if (state.completedTasks === 0) fail(fn, 'the run has not learnt a task yet: call `await run.trainTask()` first');
  return state.tasks.slice(0, state.completedTasks);
}

/**
 * Runs the current network (eval mode) over the test images of the seen classes, in test-split order, and returns
 * the raw logits over the seen classes. Same images and normalisation as the run's own evaluation.
 */
export function testScores(source: Run | RunState, options: { batchSize?: number } = {}): TestScores {
  const fn = 'testScores';
  const state = stateOf(source);
  const tasks = learntTasks(state, fn);
  const seen = tasks[tasks.length - 1].end;
  const split = state.dataset.test;
  const picked: number[] = [];
  for (let i = 0; i < split.count; i++) if (split.labels[i] < seen) picked.push(i);
  if (picked.length === 0) fail(fn, `the test split has no image of the ${seen} seen classes`);
  const indices = Int32Array.from(picked);
  const labels = Int32Array.from(picked, (i) => split.labels[i]);
  const logits = new Float32Array(indices.length * seen);
  const batches = makeBatches(split, indices, {
    batchSize: options.batchSize ?? 256,
    seed: 0,
    epoch: 0,
    augment: false,
    mean: state.dataset.mean,
    std: state.dataset.std,
    shuffle: false,
    dropLast: false,
  });
  let offset = 0;
  for (const batch of batches) {
    const scores = tf.tidy(() => {
      const out = state.net.forward(toTensor(batch).x, { training: false }).logits;
      if (out.shape[1] < seen) fail(fn, `the head has ${out.shape[1]} outputs but ${seen} classes were seen`);
      return out.slice([0, 0], [-1, seen]);
    });
    logits.set(scores.dataSync() as Float32Array, offset * seen);
    scores.dispose();
    offset += batch.n;
  }
  return { tasks, indices, labels, logits };
}

/** BiC's learned corrections of a run (one (alpha, beta) per task after the first), or an error for other methods. */
export function bicCorrections(source: Run | RunState): BiasCorrection[] {
  const state = stateOf(source);
  if (state.method.name !== 'bic') fail('bicCorrections', `the run's method is '${state.method.name}'; bias correction is BiC's (method 'bic')`);
  const list = (state.methodState as { bicCorrections?: BiasCorrection[] }).bicCorrections ?? [];
  return list.map((c) => ({ ...c }));
}

export interface AnalyseOptions {
  /** 'raw': the network's logits (the CNN prediction); 'bic': after BiC's bias correction (BiC's own prediction). */
  scores?: 'raw' | 'bic';
  /** Name of the model in charts and tables (default: the method's name). */
  model?: string;
  batchSize?: number;
}

function describeScores(kind: 'raw' | 'bic'): string {
  return kind === 'raw' ? 'raw logits' : 'BiC-corrected';
}

/** The bias views of a run's current network (after its last completed task). */
export function analyseRun(source: Run | RunState, options: AnalyseOptions = {}): BiasViews {
  return analyseScores(source, testScores(source, options), options);
}

function analyseScores(source: Run | RunState, scores: TestScores, options: AnalyseOptions): BiasViews {
  const state = stateOf(source);
  const kind = options.scores ?? 'raw';
  const raw = classifierWeights(state.net.head);
  let logits = scores.logits;
  let classifier = raw;
  if (kind === 'bic') {
    const corrections = bicCorrections(state);
    const seen = scores.tasks[scores.tasks.length - 1].end;
    logits = tf.tidy(() => {
      const t = tf.tensor2d(scores.logits, [scores.labels.length, seen]);
      return applyCorrections(t, corrections).dataSync() as Float32Array;
    });
    classifier = raw ? correctedClassifier(raw, corrections.filter((c) => c.end <= raw.shape[1])) : null;
  }
  return biasViews(
    { tasks: scores.tasks, logits, labels: scores.labels, classifier },
    { variant: describeScores(kind), model: options.model ?? state.method.name },
  );
}

/** BiC's views before and after its bias correction, from one pass over the test set: [raw, corrected]. */
export function bicBeforeAfter(source: Run | RunState, options: Omit<AnalyseOptions, 'scores'> = {}): [BiasViews, BiasViews] {
  bicCorrections(source); // fails early for a run that is not BiC
  const scores = testScores(source, options);
  return [analyseScores(source, scores, { ...options, scores: 'raw' }), analyseScores(source, scores, { ...options, scores: 'bic' })];
}
