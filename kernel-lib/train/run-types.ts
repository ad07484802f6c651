/** What createRun returns: the stepwise run and the state it exposes between tasks. */
import type { ImageDataset } from '../data/types';
import type { ExemplarMemory } from '../memory/index';
import type { Method, TaskSpec, TrainLoopOptions } from '../methods/types';
import type { Network } from '../models/index';
import type { Evaluation } from './evaluate';
import type { RunMetrics, TaskMetrics } from './metrics';
import type { EngineIdentity } from './config';
import type { RunSettings } from './settings';

/** A stage's options: the Method contract's TrainLoopOptions (kept as a name for callers of earlier versions). */
export type StageOptions = TrainLoopOptions;

/** What `run.state` exposes between tasks. Live objects: inspect, do not dispose. */
export interface RunState {
  readonly net: Network;
  readonly teacher: Network | null;
  /** Exemplar memory: incremental class -> training indices (into `dataset.train`), in selection order. */
  readonly memory: ExemplarMemory;
  readonly metrics: RunMetrics;
  /** Per-task evaluations (predictions and targets, for confusion matrices and bias analyses). */
  readonly evaluations: Evaluation[];
  /** The task being trained (while trainTask() runs), else the last completed one (null before the first). */
  readonly currentTask: TaskSpec | null;
  /** Tasks completed so far, and the task trainTask() trains next (null when all are done). */
  readonly completedTasks: number;
  readonly nextTask: TaskSpec | null;
  readonly tasks: TaskSpec[];
  /** The dataset relabelled to arrival order, and the class order used (original id of each incremental label). */
  readonly dataset: ImageDataset;
  readonly classOrder: number[];
  readonly method: Method;
  /** The method's checkpointed state. */
  readonly methodState: Record<string, unknown>;
  readonly configHash: string;
  /** The training settings and backbone this run trains with, resolved (what a result file records). */
  readonly settings: RunSettings;
  /** The engine it computes on (backend, threads, ISA, precision): part of its identity. */
  readonly engine: EngineIdentity;
}

export interface Run {
  /** Trains the next task, evaluates it, writes its checkpoint and returns its metrics. */
  trainTask(): Promise<TaskMetrics>;
  /** Trains every remaining task; returns the whole run's metrics. */
  runAll(): Promise<RunMetrics>;
  /** Evaluates the current network on the test images of every class seen so far. */
  evaluate(): Evaluation;
  readonly state: RunState;
  dispose(): void;
}
