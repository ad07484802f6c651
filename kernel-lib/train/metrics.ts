/** What a run reports per task and overall (plain data: JSON-able, checkpointed). */
import { summarize, type RunSummary, type StepMetrics } from '../metrics/index';

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
  /** Accuracy on all classes seen so far, in [0, 1]: `primary.accuracy`. */
  accuracy: number;
  /** Evaluation of the primary prediction (method.predict if the method has one, else CNN logits). */
  primary: StepMetrics;
  /** Evaluation of the CNN prediction (arg-max of the logits over the seen classes). */
  cnn: StepMetrics;
  /** Whether `primary` comes from method.predict (e.g. iCaRL's NME). */
  fromMethod: boolean;
  /** Main stage, last epoch: total loss and each term's running mean. */
  loss: number;
  terms: Record<string, number>;
  /** Every stage of the task in the order run (the main stage 'train', then afterTask's extra stages). */
  stages: StageSummary[];
  trainImages: number;
  replayImages: number;
  memorySize: number;
  seconds: number;
  /** CPU seconds of the process during the task (absent in checkpoints written before it was recorded). */
  cpuSeconds?: number;
}

/** The run so far: per-task metrics plus kernel-lib/metrics' summary (AIA, last, forgetting, BWT, matrix). */
export interface RunMetrics extends RunSummary {
  tasks: TaskMetrics[];
  totalTasks: number;
  /** Primary and CNN evaluations after each task (inputs of kernel-lib/metrics' functions and tables). */
  steps: StepMetrics[];
  cnnSteps: StepMetrics[];
  /** The same summary for the CNN predictions (differs from the primary one for methods with predict). */
  cnnSummary: RunSummary | null;
}

const EMPTY: RunSummary = { aia: NaN, last: NaN, forgetting: NaN, bwt: NaN, accuracyMatrix: [] };

export function summariseRun(tasks: TaskMetrics[], totalTasks: number): RunMetrics {
  const steps = tasks.map((t) => t.primary);
  const cnnSteps = tasks.map((t) => t.cnn);
  return {
    ...(steps.length ? summarize(steps) : EMPTY),
    tasks,
    totalTasks,
    steps,
    cnnSteps,
    cnnSummary: cnnSteps.length ? summarize(cnnSteps) : null,
  };
}
