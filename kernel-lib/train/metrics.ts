/** What a run reports per task and overall (plain data: JSON-able, checkpointed). */

export interface StageSummary {
  /** 'train' for the main stage; extra stages by their label ('bic-stage2', ...). */
  stage: string;
  epochs: number;
  /** Last epoch's running mean of the total loss and of each term. */
  loss: number;
  terms: Record<string, number>;
  /** Learning rate of the last epoch. */
  lr: number;
  images: number;
  seconds: number;
}

export interface TaskMetrics {
  task: number;
  /** Incremental labels [start, end) learnt in this task. */
  classes: [number, number];
  /** Accuracy on all classes seen so far, in [0, 1] (method.predict if the method has one, else CNN). */
  accuracy: number;
  cnnAccuracy: number;
  methodAccuracy: number | null;
  /** Accuracy on each task's classes so far (a row of the accuracy matrix). */
  perTask: number[];
  oldAccuracy: number | null;
  newAccuracy: number;
  /** Main stage, last epoch: total loss and each term's running mean. */
  loss: number;
  terms: Record<string, number>;
  /** Every stage of the task (main stage first unless beforeTask ran one), in order. */
  stages: StageSummary[];
  trainImages: number;
  replayImages: number;
  memorySize: number;
  seconds: number;
}

export interface RunMetrics {
  tasks: TaskMetrics[];
  totalTasks: number;
  /** acc[t][j]: accuracy after task t on task j's classes (j <= t). */
  accuracyMatrix: number[][];
  /** Accuracy on all seen classes after each task. */
  accuracies: number[];
  cnnAccuracies: number[];
  /** Mean of `accuracies` over the tasks done so far (null before the first task). */
  averageIncrementalAccuracy: number | null;
  lastAccuracy: number | null;
  /** FACIL's forgetting: mean over old tasks of (best earlier accuracy - current accuracy); null before task 1. */
  forgetting: number | null;
}

export function summariseRun(tasks: TaskMetrics[], totalTasks: number): RunMetrics {
  const accuracyMatrix = tasks.map((t) => t.perTask);
  const accuracies = tasks.map((t) => t.accuracy);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  return {
    tasks,
    totalTasks,
    accuracyMatrix,
    accuracies,
    cnnAccuracies: tasks.map((t) => t.cnnAccuracy),
    averageIncrementalAccuracy: mean(accuracies),
    lastAccuracy: accuracies.length ? accuracies[accuracies.length - 1] : null,
    forgetting: forgettingOf(accuracyMatrix),
  };
}

function forgettingOf(acc: number[][]): number | null {
  const last = acc.length - 1;
  if (last < 1) return null;
  let sum = 0;
  for (let j = 0; j < last; j++) {
    let best = -Infinity;
    for (let t = j; t < last; t++) best = Math.max(best, acc[t][j]);
    sum += best - acc[last][j];
  }
  return sum / last;
}
