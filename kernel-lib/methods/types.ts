/**
 * The Method contract: one object per CIL method, holding only what differs between methods.
 *
 * The trainer (kernel-lib/train) owns the loop: data, batches, augmentation, optimiser, schedule, exemplar
 * memory, evaluation, checkpoints. A method plugs into it through hooks, in this order for task t:
 *
 *   beforeTask(ctx)            expand heads, imprint weights, compute prototypes, freeze things ...
 *   trainingData(ctx)          optional: which new-task and replay samples stage 1 trains on (BiC holds out a val split)
 *   for each epoch, batch:
 *     prepareBatch(ctx, batch) optional, outside the gradient tape (PASS rotations, IL2A mixup ...)
 *     lossTerms(step)          inside the tape; returns named, already weighted scalar terms; the trainer sums them
 *   (trainer) memory update    herding / random selection with the trained network, per the method's memory policy
 *   afterTask(ctx)             extra stages: BiC bias correction, EEIL / LUCIR balanced fine-tuning (via ctx.trainLoop)
 *   (trainer) evaluation       with method.predict if given (NME, bias-corrected logits), else the network's logits
 *
 * KD removal: every method declares `kdTerms`, the names of the terms the survey switches off. With
 * `kd: false` the trainer still calls lossTerms, and each of those terms must come back as exactly 0
 * (use `kdTerm(step, () => ...)`, which skips the computation when KD is off). Methods whose KD is not a
 * separable term (iCaRL's distillation targets) document what `kd: false` changes.
 */
import { tf } from '../tf';
import type { ForwardOptions, Head, NetworkOutput } from '../models/types';
import type { BackboneSpec } from '../models/backbone-spec';
import type { OptimizerSpec, ScheduleSpec } from '../train/optim';
import type { TrainingRecipe } from '../train/settings';

/** One task of a scenario, in incremental label space (classes are relabelled in arrival order). */
export interface TaskSpec {
  index: number;
  /** First incremental label of this task (= number of classes seen before it). */
  start: number;
  /** One past the last incremental label of this task. */
  end: number;
}

export type LossTerms = Record<string, tf.Scalar>;

/** A training batch, already augmented and normalised. */
export interface Batch {
  x: tf.Tensor4D;
  /** Incremental labels, int32. */
  y: tf.Tensor1D;
  /** 1 for replayed exemplars, 0 for current-task samples (float32). */
  replay: tf.Tensor1D;
}

/** What the Network exposes to methods (implemented in kernel-lib/models). */
export interface NetworkLike {
  readonly head: Head;
  /** Extra heads by name, e.g. 'rotation' for PASS/PRAKA's 4N-class head. */
  readonly aux: Record<string, Head>;
  readonly featureDim: number;
  forward(x: tf.Tensor4D, options: ForwardOptions): NetworkOutput;
  /** Logits of the named aux head on given features. */
  applyAux(name: string, features: tf.Tensor2D, options: { training: boolean }): tf.Tensor2D;
  setAux(name: string, head: Head | null): void;
  readonly trainableVariables: tf.Variable[];
}

export interface TaskContext {
  task: TaskSpec;
  /** Number of classes seen before this task. */
  oldClasses: number;
  /** Number of classes seen including this task. */
  seenClasses: number;
  /** The scenario's whole class count. */
  totalClasses: number;
  net: NetworkLike;
  /** Frozen copy of the network from the end of the previous task (null on the first task). */
  teacher: NetworkLike | null;
  kd: boolean;
  seed: number;
  /** The trainer's services, for extra stages and prototype computations. */
  services: TrainerServices;
  /** Method-owned state that must survive checkpoints (plain JSON or typed arrays). */
  state: Record<string, unknown>;
}

export interface StepContext extends TaskContext {
  batch: Batch;
  epoch: number;
  step: number;
  /** Student forward pass on batch.x in training mode (memoised: computed once per step). */
  student(): NetworkOutput;
  /** Teacher forward pass on batch.x in eval mode, without gradient (memoised). Throws on task 0. */
  teacherOut(): NetworkOutput;
}

/** Indices into the dataset's training split. */
export interface TrainingData {
  newIndices: Int32Array;
  replayIndices: Int32Array;
  /**
   * Ratio-preserving batches (SS-IL): each batch holds `batchSize` new images plus round(batchSize * replayRatio)
   * replayed ones, drawn from shuffled passes over replayIndices; an epoch is floor(new / batchSize) steps (at
   * least 1), as SS-IL-Official zips a drop-last new-data loader with an exemplar loader. Absent (the default):
   * new and replayed images are shuffled together into one stream of batches.
   */
  replayRatio?: number;
}

export interface TrainLoopOptions {
  data: TrainingData;
  epochs: number;
  learningRate: number;
  /** Variables to update (default: all trainable variables of the network). */
  variables?: tf.Variable[];
  lossTerms: (step: StepContext) => LossTerms;
  /** Per-epoch schedule of the stage (default: constant learningRate). */
  schedule?: ScheduleSpec;
  /** Optimiser of the stage (default: the run's optimiser at `learningRate`). */
  optimizer?: OptimizerSpec;
  /** Label shown in progress output, e.g. 'bic-stage2'. */
  stage: string;
  /** Batch size of the stage (default: the run's). */
  batchSize?: number;
  /** Training augmentation for this stage (default: the run's). */
  augment?: boolean;
  /** A prepareBatch for this stage (the method's prepareBatch runs only in the main stage). */
  prepareBatch?: (ctx: TaskContext, batch: Batch) => Batch;
}

export interface TrainerServices {
  /** Runs the trainer's standard loop with other data, variables or loss: for extra stages. */
  trainLoop(options: TrainLoopOptions): Promise<void>;
  /**
   * Eval-mode features of training images, [n, featureDim], without augmentation, or with the training augmentation
   * (seeded by the run and task) when `augment` is true. Caller disposes.
   */
  features(indices: Int32Array, net?: NetworkLike, augment?: boolean): tf.Tensor2D;
  /** Incremental labels of training images. */
  labels(indices: Int32Array): Int32Array;
  /** Training indices of the current task's classes. */
  taskIndices(task: TaskSpec): Int32Array;
  /** Current exemplar memory: class -> training indices. */
  memory(): Map<number, Int32Array>;
  /** Seeded random source for this task (deterministic across resume). */
  random(): () => number;
}

export interface MemoryPolicy {
  selection: 'herding' | 'random';
  /** Fixed number per class, or a fixed total shared by all seen classes. */
  perClass?: number;
  total?: number;
}

export interface MainStageSettings {
  learningRate: number;
  epochs: number;
}

export interface Method<Config extends { kd: boolean } = { kd: boolean }> {
  readonly name: string;
  /** Resolved config; each default is documented with its source where the method defines it. */
  readonly config: Config;
  /** Names of the loss terms that `kd: false` switches off. */
  readonly kdTerms: readonly string[];
  /** Exemplar memory policy, or null for exemplar-free methods. */
  readonly memory: MemoryPolicy | null;
  /**
   * When the trainer selects the new classes' exemplars: 'train' (default) right after the main stage, so
   * afterTask sees the updated memory; 'afterTask' after it (EEIL: its balanced fine-tuning uses the old memory
   * plus new data, and the exemplars are chosen from the fine-tuned network).
   */
  readonly selectExemplarsAfter?: 'train' | 'afterTask';
  /** The method's own training recipe, with its sources (absent: PyCIL's shared recipe, train/settings.ts). */
  readonly recipe?: TrainingRecipe;
  /** Adjusts the run's backbone before it is built (e.g. LUCIR drops the last ReLU); part of the run identity. */
  backbone?(spec: BackboneSpec): BackboneSpec;
  /** Builds the classification head for a backbone of this feature size (default: expandable linear). */
  createHead?(featureDim: number, seed: number): Head;
  beforeTask?(ctx: TaskContext): void | Promise<void>;
  trainingData?(ctx: TaskContext, defaults: TrainingData): TrainingData;
  /** Overrides the main stage's learning rate or epochs for a task (e.g. SS-IL's lr / (t + 1)). */
  mainStage?(ctx: TaskContext, defaults: MainStageSettings): Partial<MainStageSettings>;
  /** The variables the main stage updates (default: every trainable variable of the network). */
  trainableVariables?(ctx: TaskContext): tf.Variable[];
  prepareBatch?(ctx: TaskContext, batch: Batch): Batch;
  lossTerms(step: StepContext): LossTerms;
  afterTask?(ctx: TaskContext): void | Promise<void>;
  /** Scores over seen classes for evaluation (e.g. NME or bias-corrected logits). */
  predict?(ctx: TaskContext, x: tf.Tensor4D): tf.Tensor2D;
}

/** A KD term: computed only when KD is on, else exactly zero. */
export function kdTerm(step: { kd: boolean }, compute: () => tf.Scalar): tf.Scalar {
  return step.kd ? compute() : tf.scalar(0);
}
