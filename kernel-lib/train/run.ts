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
import { ExemplarMemory } from '../memory/index';
import type { Method, TaskContext, TaskSpec, TrainerServices, TrainingData } from '../methods/types';
import { LinearHead, Network, createBackbone } from '../models/index';
import { resolveCheckpoint } from './checkpoint';
import type { EngineIdentity, ResolvedTraining, RunOptions } from './config';
import { planRun, type RunPlan } from './plan';
import type { PreparedData } from './data';
import { evaluateNetwork, type Evaluation } from './evaluate';
import { summariseRun, type RunMetrics, type StageSummary, type TaskMetrics } from './metrics';
import type { Optimizer } from './optim';
import { MainOptimizerCarry, disposeTensorsIn } from './optimizer-carry';
import { createProgressSink, type ProgressSink } from './progress';
import { createRandom, streamSeed, type SeededRandom } from './rng';
import { loadRunCheckpoint, saveRunCheckpoint } from './run-checkpoint';
import { RunLock } from './run-lock';
import type { Run, RunState } from './run-types';
import { runStage, type StageEnvironment } from './stage';
import fs from 'node:fs';

export type { Run, RunState, StageOptions } from './run-types';

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
  private readonly optimizers: MainOptimizerCarry;
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
    private readonly lock: RunLock | null,
  ) {
    this.data = data;
    this.training = training;
    this.optimizers = new MainOptimizerCarry(training.resetOptimizerEachTask);
    this.progress = createProgressSink(options.quiet ? 'none' : (options.progress ?? 'auto'), options.onProgress);
    const backbone = createBackbone(options.backbone, options.seed);
    const head = method.createHead?.(backbone.featureDim, options.seed) ?? new LinearHead(backbone.featureDim, 0, options.seed);
    this.net = new Network(backbone, head);
  }

  get state(): RunState {
    const self = this;
    return {
      get net() { return self.net; },
      get teacher() { return self.teacher; },
      get memory() { return self.memory; },
      get metrics() { return self.metrics(); },
      get evaluations() { return self.evaluations; },
      get currentTask() { return self.data.scenario.tasks[self.busy ? self.completed : self.completed - 1] ?? null; },
      get completedTasks() { return self.completed; },
      get nextTask() { return self.data.scenario.tasks[self.completed] ?? null; },
      tasks: this.data.scenario.tasks,
      dataset: this.data.dataset,
      classOrder: this.data.classOrder,
      method: this.method,
      get methodState() { return self.methodState; },
      configHash: this.hash,
      settings: { ...this.training, backbone: this.options.backbone },
      engine: this.identity.engine as EngineIdentity,
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
    const cpuStarted = process.cpuUsage();
    const t = task.index;
    const tasks = this.data.scenario.tasks.length;
    if (t > 0) {
      this.teacher?.dispose();
      this.teacher = this.net.clone(false);
    }
    const stageCounts = new Map<string, number>();
    const stages: StageSummary[] = [];
    const services = this.services(t, async (opts) => {
      stages.push(await runStage(this.stageEnvironment(), ctx, opts, stageCounts));
    });
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
    const mainOptimizer = this.optimizers.next(spec);
    let mainStage: StageSummary;
    try {
      const defaults = { learningRate: spec.lr, epochs: first ? this.training.initEpochs : this.training.epochs };
      const custom = this.method.mainStage?.(ctx, defaults) ?? {};
      mainStage = await runStage(
        this.stageEnvironment(),
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

    const selectExemplars = () => {
      if (!this.method.memory) return;
      const newClasses = new Map<number, Int32Array>();
      for (let c = task.start; c < task.end; c++) newClasses.set(c, this.data.trainIndicesOfClasses(c, c + 1));
      this.memory.update(this.method.memory, newClasses, {
        features: (indices) => this.data.features(this.net, indices, this.training.evalBatchSize),
        random: createRandom(streamSeed(this.options.seed, 'memory', t)),
      });
    };
    if (this.method.selectExemplarsAfter === 'afterTask') {
      await this.method.afterTask?.(ctx);
      selectExemplars();
    } else {
      selectExemplars();
      await this.method.afterTask?.(ctx);
    }
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
      cpuSeconds: cpuSecondsSince(cpuStarted),
    };
    this.taskMetrics.push(metrics);
    this.completed = t + 1;
    this.progress({ type: 'task-end', task: t, tasks, accuracy: metrics.accuracy, seconds: metrics.seconds });
    if (this.options.checkpointDir) this.writeCheckpoint(mainOptimizer);
    return metrics;
  }

  private stageEnvironment(): StageEnvironment {
    return { data: this.data, training: this.training, progress: this.progress, seed: this.options.seed, net: this.net, teacher: this.teacher };
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
      this.lastContext = this.taskContext(last, this.services(last.index));
    }
    return this.evaluateAt(this.lastContext);
  }

  /** The trainer's services for task t; after resume (no trainLoop given) a context for evaluation only. */
  private services(t: number, trainLoop?: TrainerServices['trainLoop']): TrainerServices {
    let random: SeededRandom | null = null;
    return {
      trainLoop: trainLoop ?? (async () => {
        throw new Error('trainLoop is only available while a task trains');
      }),
      features: (indices, net, augment) => this.data.features(
        net ?? this.net, indices, this.training.evalBatchSize, augment ? streamSeed(this.options.seed, 'feature-augment', t) : undefined,
      ),
      labels: (indices) => this.data.labels(indices),
      taskIndices: (spec) => this.data.trainIndicesOfClasses(spec.start, spec.end),
      memory: () => this.memory.toMap(),
      random: () => (random ??= createRandom(streamSeed(this.options.seed, 'method', t))),
    };
  }

  async runAll(): Promise<RunMetrics> {
    while (this.completed < this.data.scenario.tasks.length) await this.trainTask();
    return this.metrics();
  }

  private writeCheckpoint(optimizer: Optimizer): void {
    const file = saveRunCheckpoint(
      this.options.checkpointDir!,
      {
        configHash: this.hash,
        identity: this.identity,
        seed: this.options.seed,
        completedTasks: this.completed,
        net: this.net,
        optimizer: this.optimizers.state(optimizer),
        memory: this.memory,
        methodState: this.methodState,
        metrics: this.taskMetrics,
        evaluations: this.evaluations,
      },
      this.options.keepCheckpoints ?? 'last',
    );
    this.progress({ type: 'checkpoint', task: this.completed - 1, path: file });
  }

  /** Loads a checkpoint written by a run with the same config hash. */
  restore(file: string): void {
    const restored = loadRunCheckpoint(file, { configHash: this.hash, identity: this.identity, seed: this.options.seed });
    this.net.dispose();
    this.net = restored.net;
    this.memory = restored.memory;
    this.methodState = restored.methodState;
    this.taskMetrics = restored.metrics;
    this.evaluations = restored.evaluations;
    this.completed = restored.completedTasks;
    this.optimizers.restore(restored.optimizer);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.net.dispose();
    this.teacher?.dispose();
    this.teacher = null;
    this.optimizers.dispose();
    disposeTensorsIn(this.methodState);
    this.lock?.release();
  }
}

/** Builds a run: relabels the dataset, builds the network, and resumes from a checkpoint if asked. */
export async function createRun(options: RunOptions): Promise<Run> {
  return createRunFromPlan(planRun(options));
}

/** createRun for a plan already made (planRun): the experiment runner plans first to recognise finished runs. */
export async function createRunFromPlan(plan: RunPlan): Promise<Run> {
  const { method, options, training, data, identity, hash } = plan;
  // One writer per run: a second process on the same checkpoint folder gets RunLockedError naming the owner.
  const lock = options.checkpointDir ? RunLock.acquire(options.checkpointDir) : null;
  const run = new CilRun(options, method, data, training, identity, hash, lock);
  if (options.resumeFrom) {
    try {
      const file = resolveCheckpoint(options.resumeFrom);
      if (file) run.restore(file);
      else if (fs.existsSync(options.resumeFrom) && fs.statSync(options.resumeFrom).isFile()) {
        throw new Error(`createRun: resumeFrom ${options.resumeFrom} is not a checkpoint`);
      }
    } catch (err) {
      run.dispose();
      throw err;
    }
  }
  return run;
}

/** CPU seconds (user + system, all threads) the process used since `start`. */
function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}
