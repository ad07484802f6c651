/**
 * The stepwise CIL run that notebooks drive:
 *
 *   const run = await createRun({ dataset, scenario: 'b0-10', method: 'finetune', backbone: { kind: 'resnet32' }, seed: 1993 });
 *   await run.trainTask();   // trains task 0, evaluates, checkpoints, returns its metrics
 *   run.state;               // network, teacher, memory, metrics so far
 *   await run.runAll();      // the remaining tasks
 *   run.dispose();
 *
 * Per task t it follows the hook order of the Method contract (kernel-lib/methods/types.ts): teacher = frozen
 * clone of the network (t > 0), beforeTask, trainingData, the epochs (prepareBatch outside the tape, lossTerms
 * inside it), exemplar memory update per the method's policy, afterTask, evaluation, checkpoint.
 */
import { tf } from '../tf';
import { backendInfo } from '../backend/index';
import type { ImageDataset } from '../data/types';
import type {
  Batch,
  LossTerms,
  Method,
  StepContext,
  TaskContext,
  TaskSpec,
  TrainerServices,
  TrainingData,
  TrainLoopOptions,
} from '../methods/types';
import { LinearHead, Network, createBackbone, type NetworkArchitecture } from '../models/index';
import { createMethod } from '../methods/registry';
import {
  checkpointFileName,
  encodeCheckpoint,
  listCheckpoints,
  readCheckpointFile,
  removeStaleTempFiles,
  resolveCheckpoint,
  writeFileAtomic,
} from './checkpoint';
import { configHash, identityDiff, resolveTraining, runIdentity, type ResolvedTraining, type RunOptions } from './config';
import { prepareData, type CpuBatch, type PreparedData } from './data';
import { evaluateNetwork, type Evaluation } from './evaluate';
import { ExemplarMemory, type ExemplarMemoryJSON } from '../memory/index';
import { summariseRun, type RunMetrics, type StageSummary, type TaskMetrics } from './metrics';
import { learningRateAt, Optimizer, type NamedVariable, type OptimizerSpec, type OptimizerState, type ScheduleSpec } from './optim';
import { createProgressSink, type ProgressSink } from './progress';
import { createRandom, deriveSeed, type SeededRandom } from './rng';
import { trainStep } from './step';
import fs from 'node:fs';

/** trainLoop options plus the trainer's extras for extra stages (all optional). */
export interface StageOptions extends TrainLoopOptions {
  /** Per-epoch schedule of this stage (default: constant learningRate). */
  schedule?: ScheduleSpec;
  /** Optimiser of this stage (default: the run's optimiser spec with `learningRate`). */
  optimizer?: OptimizerSpec;
  batchSize?: number;
  /** Training augmentation for this stage (default: the run's). */
  augment?: boolean;
  /** A prepareBatch for this stage (the method's prepareBatch runs only in the main stage). */
  prepareBatch?: (ctx: TaskContext, batch: Batch) => Batch;
}

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

const CHECKPOINT_KIND = 'kdcl-run-checkpoint';

/** Yields to the event loop so progress output flushes and notebooks stay responsive. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

function concatIndices(parts: Int32Array[]): Int32Array {
  const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** One batch holding a's images, then b's. */
function concatBatches(a: CpuBatch, b: CpuBatch): CpuBatch {
  const x = new Float32Array(a.x.length + b.x.length);
  x.set(a.x);
  x.set(b.x, a.x.length);
  return { x, y: concatIndices([a.y, b.y]), indices: concatIndices([a.indices, b.indices]), n: a.n + b.n, height: a.height, width: a.width };
}

function disposeTensorsIn(value: unknown, seen = new Set<unknown>()): void {
  if (!value || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (value instanceof tf.Tensor) {
    if (!value.isDisposed) value.dispose();
    return;
  }
  if (ArrayBuffer.isView(value)) return;
  const children = value instanceof Map ? [...value.values()] : Array.isArray(value) ? value : Object.values(value);
  for (const child of children) disposeTensorsIn(child, seen);
}

class CilRun implements Run {
  private readonly data: PreparedData;
  private readonly training: ResolvedTraining;
  private readonly progress: ProgressSink;
  private net: Network;
  private teacher: Network | null = null;
  private memory = new ExemplarMemory();
  private methodState: Record<string, unknown> = {};
  private taskMetrics: TaskMetrics[] = [];
  private evaluations: Evaluation[] = [];
  private completed = 0;
  /** Main-stage optimiser kept across tasks only when resetOptimizerEachTask is false. */
  private carriedOptimizer: Optimizer | null = null;
  private lastContext: TaskContext | null = null;
  private failure: Error | null = null;
  private busy = false;
  private disposed = false;

  constructor(
    private readonly options: RunOptions,
    readonly method: Method,
    data: PreparedData,
    training: ResolvedTraining,
    private readonly identity: Record<string, unknown>,
    readonly hash: string,
  ) {
    this.data = data;
    this.training = training;
    this.progress = createProgressSink(options.quiet ? 'none' : (options.progress ?? 'auto'), options.onProgress);
    const backbone = createBackbone(options.backbone, options.seed);
    const head = method.createHead?.(backbone.featureDim, options.seed) ?? new LinearHead(backbone.featureDim, 0, options.seed);
    this.net = new Network(backbone, head);
  }

  get state(): RunState {
    const self = this;
    return {
      get net() {
        return self.net;
      },
      get teacher() {
        return self.teacher;
      },
      get memory() {
        return self.memory;
      },
      get metrics() {
        return self.metrics();
      },
      get evaluations() {
        return self.evaluations;
      },
      get currentTask() {
        return self.data.scenario.tasks[self.busy ? self.completed : self.completed - 1] ?? null;
      },
      get completedTasks() {
        return self.completed;
      },
      get nextTask() {
        return self.data.scenario.tasks[self.completed] ?? null;
      },
      tasks: this.data.scenario.tasks,
      dataset: this.data.dataset,
      classOrder: this.data.classOrder,
      method: this.method,
      get methodState() {
        return self.methodState;
      },
      configHash: this.hash,
    };
  }

  private metrics(): RunMetrics {
    return summariseRun(this.taskMetrics, this.data.scenario.tasks.length);
  }

  private guard(action: string): void {
    if (this.disposed) throw new Error(`run.${action}(): the run was disposed`);
    if (this.failure) throw new Error(`run.${action}(): the run stopped with an error earlier: ${this.failure.message}`);
    if (this.busy) throw new Error(`run.${action}(): another trainTask() is still running (await it first)`);
  }

  private taskContext(task: TaskSpec, services: TrainerServices): TaskContext {
    return {
      task,
      oldClasses: task.start,
      seenClasses: task.end,
      totalClasses: this.data.scenario.numClasses,
      net: this.net,
      teacher: this.teacher,
      kd: this.method.config.kd,
      seed: this.options.seed,
      services,
      state: this.methodState,
    };
  }

  /** The variables an optimiser updates, with the network's stable names (slots and checkpoints key on them). */
  private namedTrainable(only?: tf.Variable[]): NamedVariable[] {
    const byVariable = new Map<tf.Variable, string>();
    for (const [name, v] of this.net.namedVariables()) byVariable.set(v, name);
    const list = only ?? this.net.trainableVariables;
    return list.map((variable) => ({ name: byVariable.get(variable) ?? `external/${variable.name}`, variable }));
  }

  async trainTask(): Promise<TaskMetrics> {
    this.guard('trainTask');
    const task = this.data.scenario.tasks[this.completed];
    if (!task) throw new Error(`run.trainTask(): all ${this.data.scenario.tasks.length} tasks are done`);
    this.busy = true;
    try {
      return await this.train(task);
    } catch (err) {
      this.failure = err as Error;
      throw err;
    } finally {
      this.busy = false;
    }
  }

  private async train(task: TaskSpec): Promise<TaskMetrics> {
    const started = Date.now();
    const t = task.index;
    const tasks = this.data.scenario.tasks.length;
    if (t > 0) {
      this.teacher?.dispose();
      this.teacher = this.net.clone(false);
    }
    let random: SeededRandom | null = null;
    const stageCounts = new Map<string, number>();
    const stages: StageSummary[] = [];
    const services: TrainerServices = {
      trainLoop: async (opts) => {
        stages.push(await this.runStage(ctx, { ...(opts as StageOptions) }, stageCounts));
      },
      features: (indices, net) => this.data.features(net ?? this.net, indices, this.training.evalBatchSize),
      labels: (indices) => this.data.labels(indices),
      taskIndices: (spec) => this.data.trainIndicesOfClasses(spec.start, spec.end),
      memory: () => this.memory.toMap(),
      random: () => (random ??= createRandom(deriveSeed(this.options.seed, 'method', t))),
    };
    const ctx = this.taskContext(task, services);
    await this.method.beforeTask?.(ctx);

    const defaults: TrainingData = {
      newIndices: this.data.trainIndicesOfClasses(task.start, task.end),
      replayIndices: this.memory.all().indices,
    };
    const data = this.method.trainingData?.(ctx, defaults) ?? defaults;
    this.progress({
      type: 'task-start',
      task: t,
      tasks,
      classes: [task.start, task.end],
      trainImages: data.newIndices.length,
      replayImages: data.replayIndices.length,
    });

    const first = t === 0;
    const spec = first ? this.training.initOptimizer : this.training.optimizer;
    const mainOptimizer = this.mainOptimizer(spec);
    let mainStage: StageSummary;
    try {
      const defaults = { learningRate: spec.lr, epochs: first ? this.training.initEpochs : this.training.epochs };
      const custom = this.method.mainStage?.(ctx, defaults) ?? {};
      mainStage = await this.runStage(
        ctx,
        {
          data,
          epochs: custom.epochs ?? defaults.epochs,
          learningRate: custom.learningRate ?? defaults.learningRate,
          variables: this.method.trainableVariables?.(ctx),
          optimizer: spec,
          schedule: first ? this.training.initSchedule : this.training.schedule,
          lossTerms: (step) => this.method.lossTerms(step),
          prepareBatch: this.method.prepareBatch?.bind(this.method),
          stage: 'train',
        },
        stageCounts,
        mainOptimizer,
      );
      stages.push(mainStage);
    } finally {
      if (this.training.resetOptimizerEachTask) mainOptimizer.dispose();
    }

    if (this.method.memory) {
      const newClasses = new Map<number, Int32Array>();
      for (let c = task.start; c < task.end; c++) newClasses.set(c, this.data.trainIndicesOfClasses(c, c + 1));
      this.memory.update(this.method.memory, newClasses, {
        features: (indices) => this.data.features(this.net, indices, this.training.evalBatchSize),
        random: createRandom(deriveSeed(this.options.seed, 'memory', t)),
      });
    }
    await this.method.afterTask?.(ctx);
    this.lastContext = ctx;

    const evaluation = this.evaluateAt(ctx);
    this.evaluations.push(evaluation);
    const metrics: TaskMetrics = {
      task: t,
      classes: [task.start, task.end],
      accuracy: evaluation.primary.accuracy,
      primary: evaluation.primary,
      cnn: evaluation.cnn,
      fromMethod: evaluation.fromMethod,
      loss: mainStage.loss,
      terms: mainStage.terms,
      stages,
      trainImages: data.newIndices.length,
      replayImages: data.replayIndices.length,
      memorySize: this.memory.size,
      seconds: (Date.now() - started) / 1000,
    };
    this.taskMetrics.push(metrics);
    this.completed = t + 1;
    this.progress({ type: 'task-end', task: t, tasks, accuracy: metrics.accuracy, seconds: metrics.seconds });
    if (this.options.checkpointDir) this.writeCheckpoint(mainOptimizer);
    return metrics;
  }

  /**
   * The main stage's optimiser: a fresh one per task, or (resetOptimizerEachTask: false) one with this task's spec
   * that takes over the previous task's slots (momentum / Adam moments).
   */
  private mainOptimizer(spec: OptimizerSpec): Optimizer {
    const optimizer = new Optimizer(spec);
    if (this.training.resetOptimizerEachTask) return optimizer;
    const previous = this.carriedOptimizer;
    if (previous) {
      const state = previous.getState();
      try {
        if (state.kind === spec.kind) optimizer.setState(state);
      } finally {
        disposeTensorsIn(state);
      }
      previous.dispose();
    }
    this.carriedOptimizer = optimizer;
    return optimizer;
  }

  /** One stage: the epochs over `opts.data` with an optimiser of its own (or the given one). */
  private async runStage(
    ctx: TaskContext,
    opts: StageOptions,
    stageCounts: Map<string, number>,
    optimizer?: Optimizer,
  ): Promise<StageSummary> {
    const t = ctx.task.index;
    const tasks = this.data.scenario.tasks.length;
    const occurrence = stageCounts.get(opts.stage) ?? 0;
    stageCounts.set(opts.stage, occurrence + 1);
    const stageName = occurrence === 0 ? opts.stage : `${opts.stage}#${occurrence + 1}`;
    if (!Number.isInteger(opts.epochs) || opts.epochs < 0) throw new Error(`trainLoop('${opts.stage}'): epochs must be an integer >= 0, got ${opts.epochs}`);
    const indices = concatIndices([opts.data.newIndices, opts.data.replayIndices]);
    if (indices.length === 0 && opts.epochs > 0) throw new Error(`trainLoop('${opts.stage}') on task ${t}: no training images (newIndices and replayIndices are empty)`);
    const replayFlags = this.data.replayMask(opts.data.replayIndices);
    const ratio = opts.data.replayRatio;
    if (ratio !== undefined && !(ratio > 0 && Number.isFinite(ratio))) {
      throw new Error(`trainLoop('${opts.stage}'): data.replayRatio must be a positive number, got ${ratio}`);
    }
    const composed = ratio !== undefined && opts.data.newIndices.length > 0 && opts.data.replayIndices.length > 0;
    const spec: OptimizerSpec = { ...(opts.optimizer ?? this.training.optimizer), lr: opts.learningRate };
    const ownOptimizer = optimizer ? null : new Optimizer(spec);
    const stepper = optimizer ?? ownOptimizer!;
    const schedule = opts.schedule ?? { kind: 'constant' };
    const batchSize = opts.batchSize ?? this.training.batchSize;
    const augment = opts.augment ?? this.training.augment;
    const batchSeed = deriveSeed(this.options.seed, 'batches', t, stageName);
    const stepsPerEpoch = composed ? Math.max(1, Math.floor(opts.data.newIndices.length / batchSize)) : Math.ceil(indices.length / batchSize);
    const summary: StageSummary = { stage: stageName, epochs: opts.epochs, loss: NaN, terms: {}, lr: opts.learningRate, images: 0, seconds: 0 };
    const started = Date.now();
    try {
      for (let epoch = 0; epoch < opts.epochs; epoch++) {
        const lr = learningRateAt(schedule, opts.learningRate, epoch, opts.epochs);
        const variables = this.namedTrainable(opts.variables);
        const sums: Record<string, number> = {};
        let steps = 0;
        let images = 0;
        const epochStart = Date.now();
        const batching = { batchSize, seed: batchSeed, epoch, augment };
        const epochBatches = composed
          ? this.ratioBatches(opts.data, Math.max(1, Math.round(batchSize * ratio!)), stepsPerEpoch, batching)
          : this.data.batches(indices, batching);
        for (const batch of epochBatches) {
          const terms = trainStep({
            ctx,
            net: this.net,
            teacher: this.teacher,
            makeBatch: () => this.data.batchTensors(batch, replayFlags),
            prepareBatch: opts.prepareBatch,
            lossTerms: opts.lossTerms as (step: StepContext) => LossTerms,
            variables,
            optimizer: stepper,
            lr,
            location: { task: t, stage: stageName, epoch, step: steps },
          });
          for (const [name, v] of Object.entries(terms)) sums[name] = (sums[name] ?? 0) + v;
          steps++;
          images += batch.n;
          const elapsed = (Date.now() - epochStart) / 1000;
          const means = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / steps]));
          const rate = images / Math.max(elapsed, 1e-6);
          const stepsLeft = stepsPerEpoch - steps + (opts.epochs - epoch - 1) * stepsPerEpoch;
          this.progress({
            type: 'step',
            task: t,
            tasks,
            stage: stageName,
            epoch,
            epochs: opts.epochs,
            step: steps - 1,
            steps: stepsPerEpoch,
            loss: Object.values(means).reduce((a, b) => a + b, 0),
            terms: means,
            lr,
            imagesPerSecond: rate,
            etaSeconds: (stepsLeft * elapsed) / steps,
          });
          await yieldToEventLoop();
        }
        const seconds = (Date.now() - epochStart) / 1000;
        summary.terms = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / Math.max(steps, 1)]));
        summary.loss = Object.values(summary.terms).reduce((a, b) => a + b, 0);
        summary.lr = lr;
        summary.images += images;
        this.progress({
          type: 'epoch',
          task: t,
          tasks,
          stage: stageName,
          epoch,
          epochs: opts.epochs,
          loss: summary.loss,
          terms: summary.terms,
          lr,
          images,
          seconds,
          imagesPerSecond: images / Math.max(seconds, 1e-6),
        });
      }
    } finally {
      ownOptimizer?.dispose();
    }
    summary.seconds = (Date.now() - started) / 1000;
    return summary;
  }

  /** Ratio-preserving batches (TrainingData.replayRatio): `steps` new-data batches, each followed by `replayPerBatch` exemplars. */
  private *ratioBatches(
    data: TrainingData,
    replayPerBatch: number,
    steps: number,
    o: { batchSize: number; seed: number; epoch: number; augment: boolean },
  ): Generator<CpuBatch> {
    // Each exemplar appears equally often (+-1) in the epoch's replay stream; batches() shuffles it.
    const replay = data.replayIndices;
    const cycled = Int32Array.from({ length: steps * replayPerBatch }, (_, i) => replay[i % replay.length]);
    const replayBatches = this.data.batches(cycled, { ...o, batchSize: replayPerBatch, seed: deriveSeed(o.seed, 'replay') })[Symbol.iterator]();
    let step = 0;
    for (const fresh of this.data.batches(data.newIndices, o)) {
      if (step++ === steps) return;
      yield concatBatches(fresh, replayBatches.next().value as CpuBatch);
    }
  }

  private evaluateAt(ctx: TaskContext): Evaluation {
    return evaluateNetwork({
      net: this.net,
      data: this.data,
      tasks: this.data.scenario.tasks,
      task: ctx.task.index,
      predict: this.method.predict ? (x) => this.method.predict!(ctx, x) : undefined,
      batchSize: this.training.evalBatchSize,
    });
  }

  evaluate(): Evaluation {
    if (this.disposed) throw new Error('run.evaluate(): the run was disposed');
    if (!this.lastContext) {
      const last = this.data.scenario.tasks[this.completed - 1];
      if (!last) throw new Error('run.evaluate(): no task trained yet; call `await run.trainTask()` first');
      this.lastContext = this.taskContext(last, this.restoredServices(last));
    }
    return this.evaluateAt(this.lastContext);
  }

  /** Services for a context rebuilt after resume (evaluation only: no training stage runs from it). */
  private restoredServices(task: TaskSpec): TrainerServices {
    const random = createRandom(deriveSeed(this.options.seed, 'method', task.index));
    return {
      trainLoop: async () => {
        throw new Error('trainLoop is only available while a task trains');
      },
      features: (indices, net) => this.data.features(net ?? this.net, indices, this.training.evalBatchSize),
      labels: (indices) => this.data.labels(indices),
      taskIndices: (spec) => this.data.trainIndicesOfClasses(spec.start, spec.end),
      memory: () => this.memory.toMap(),
      random: () => random,
    };
  }

  async runAll(): Promise<RunMetrics> {
    while (this.completed < this.data.scenario.tasks.length) await this.trainTask();
    return this.metrics();
  }

  private writeCheckpoint(optimizer: Optimizer): void {
    const dir = this.options.checkpointDir!;
    const previous = listCheckpoints(dir);
    const optimizerState: OptimizerState | null = this.training.resetOptimizerEachTask ? null : optimizer.getState();
    let bytes: Uint8Array;
    try {
      bytes = encodeCheckpoint({
        kind: CHECKPOINT_KIND,
        configHash: this.hash,
        identity: this.identity,
        completedTasks: this.completed,
        backend: safeBackendName(),
        architecture: this.net.architecture() as unknown as Record<string, unknown>,
        weights: this.net.namedVariables(),
        optimizer: optimizerState,
        memory: this.memory.toJSON() as unknown as Record<string, unknown>,
        methodState: this.methodState,
        metrics: this.taskMetrics,
        evaluations: this.evaluations,
        // Every random stream is derived from (seed, labels); nothing random carries over between tasks.
        rng: { seed: this.options.seed, scheme: 'sfc32(deriveSeed(seed, stream, task, ...))' },
        savedAt: new Date().toISOString(),
      });
    } finally {
      if (optimizerState) for (const slots of Object.values(optimizerState.slots)) for (const t of Object.values(slots)) t.dispose();
    }
    const file = `${dir}/${checkpointFileName(this.completed - 1)}`;
    removeStaleTempFiles(dir);
    writeFileAtomic(file, bytes);
    this.progress({ type: 'checkpoint', task: this.completed - 1, path: file });
    if ((this.options.keepCheckpoints ?? 'last') === 'last') {
      for (const old of previous) if (old.file !== file) fs.rmSync(old.file, { force: true });
    }
  }

  /** Loads a checkpoint written by a run with the same config hash. */
  restore(file: string): void {
    const ckpt = readCheckpointFile(file);
    if (ckpt.kind !== CHECKPOINT_KIND) throw new Error(`checkpoint ${file} is not a kdcl run checkpoint`);
    if (ckpt.configHash !== this.hash) {
      const diff = identityDiff(ckpt.identity as Record<string, unknown>, this.identity);
      throw new Error(
        `createRun: cannot resume from ${file}: it was written by a run with a different config ` +
          `(hash ${String(ckpt.configHash).slice(0, 12)} vs ${this.hash.slice(0, 12)}; differing: ${diff.join(', ') || 'unknown'}). ` +
          `Use the same options, or a new checkpointDir for the new config.`,
      );
    }
    const weights = ckpt.weights as Map<string, tf.Tensor>;
    const net = Network.fromArchitecture(ckpt.architecture as unknown as NetworkArchitecture, this.options.seed);
    try {
      net.loadVariables(weights);
    } catch (err) {
      net.dispose();
      throw err;
    } finally {
      for (const t of weights.values()) t.dispose();
    }
    this.net.dispose();
    this.net = net;
    this.memory = ExemplarMemory.fromJSON(ckpt.memory as unknown as ExemplarMemoryJSON);
    this.methodState = (ckpt.methodState ?? {}) as Record<string, unknown>;
    this.taskMetrics = ckpt.metrics as TaskMetrics[];
    this.evaluations = ckpt.evaluations as Evaluation[];
    this.completed = ckpt.completedTasks as number;
    const optimizerState = ckpt.optimizer as OptimizerState | null;
    if (optimizerState) {
      if (!this.training.resetOptimizerEachTask) {
        // The spec is replaced by the next task's in mainOptimizer(); only the slots matter here.
        this.carriedOptimizer = new Optimizer(optimizerState.kind === 'adam' ? { kind: 'adam', lr: 1 } : { kind: 'sgd', lr: 1 });
        this.carriedOptimizer.setState(optimizerState);
      }
      disposeTensorsIn(optimizerState);
    }
    const backend = safeBackendName();
    if (ckpt.backend && backend && ckpt.backend !== backend) {
      console.warn(`[kdcl] resuming a checkpoint written on backend '${ckpt.backend}' on '${backend}': results may differ from an uninterrupted run`);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.net.dispose();
    this.teacher?.dispose();
    this.teacher = null;
    this.carriedOptimizer?.dispose();
    disposeTensorsIn(this.methodState);
  }
}

function safeBackendName(): string | null {
  try {
    return backendInfo().name;
  } catch {
    return null;
  }
}

/** Builds a run: relabels the dataset, builds the network, and resumes from a checkpoint if asked. */
export async function createRun(options: RunOptions): Promise<Run> {
  if (!options || typeof options !== 'object') throw new Error('createRun(options): options object required');
  for (const field of ['dataset', 'scenario', 'method', 'backbone'] as const) {
    if (options[field] === undefined) throw new Error(`createRun: '${field}' is required`);
  }
  if (!Number.isInteger(options.seed)) throw new Error(`createRun: 'seed' must be an integer, got ${JSON.stringify(options.seed)}`);
  const method = typeof options.method === 'string' ? createMethod(options.method) : options.method;
  // The method may adapt the backbone (LUCIR: no last ReLU); the adapted spec is what is built and hashed.
  options = { ...options, backbone: method.backbone?.(options.backbone) ?? options.backbone };
  const training = resolveTraining(options);
  const data = prepareData(options.dataset, options.scenario, options.classOrder);
  const identity = runIdentity(options, method, training, data.scenario, data.classOrder);
  const run = new CilRun(options, method, data, training, identity, configHash(identity));
  if (options.resumeFrom) {
    const file = resolveCheckpoint(options.resumeFrom);
    if (file) {
      try {
        run.restore(file);
      } catch (err) {
        run.dispose();
        throw err;
      }
    } else if (fs.existsSync(options.resumeFrom) && fs.statSync(options.resumeFrom).isFile()) {
      throw new Error(`createRun: resumeFrom ${options.resumeFrom} is not a checkpoint`);
    }
  }
  return run;
}
