/**
 * Shared fixture of the LwF / LwM / iCaRL / EEIL tests: a tiny slice of the embedded dataset, the tiny run profile, a tensor-leak check over a whole run, a KD-removal probe on
 * the real training steps, and hand-built step contexts for gradient checks.
 */
import { expect } from 'vitest';
import { tf } from '../kernel-lib/tf';
import type { ImageDataset, ImageSplit } from '../kernel-lib/data/types';
import { loadDataset } from '../kernel-lib/data/index';
import type { Batch, LossTerms, Method, NetworkLike, StepContext, TaskContext, TaskSpec, TrainerServices } from '../kernel-lib/methods/types';
import { LinearHead, Network, createBackbone } from '../kernel-lib/models/index';
import { createRun, type Run, type RunOptions, type TaskMetrics } from '../kernel-lib/train/index';

export const CLASSES = 6;

/** The first `perClass` images of each class of a split (in split order). */
function firstPerClass(split: ImageSplit, perClass: number): ImageSplit {
  const pixel = split.height * split.width * 3;
  const taken = new Map<number, number>();
  const keep: number[] = [];
  for (let i = 0; i < split.count; i++) {
    const n = taken.get(split.labels[i]) ?? 0;
    if (n < perClass) {
      taken.set(split.labels[i], n + 1);
      keep.push(i);
    }
  }
  const images = new Uint8Array(keep.length * pixel);
  keep.forEach((i, k) => images.set(split.images.subarray(i * pixel, (i + 1) * pixel), k * pixel));
  return { ...split, images, labels: Int32Array.from(keep, (i) => split.labels[i]), count: keep.length };
}

let embedded: Promise<ImageDataset> | null = null;

/**
 * The tiny profile of the embedded dataset: its first 6 classes at 16x16, the first 12 training and 4 test images of
 * each (normalisation statistics of the whole 6-class training split, as loadDataset computes them).
 */
export function tinyEmbedded(): Promise<ImageDataset> {
  embedded ??= loadDataset('embedded', { classesLimit: CLASSES, imageSize: 16 }).then((ds) => ({
    ...ds,
    train: firstPerClass(ds.train, 12),
    test: firstPerClass(ds.test, 4),
  }));
  return embedded;
}

export const TINY_BACKBONE = { kind: 'resnet32', width: 0.25, blocksPerStage: 1 } as const;
/** 3 tasks of 2 classes. */
export const TASKS: TaskSpec[] = [
  { index: 0, start: 0, end: 2 },
  { index: 1, start: 2, end: 4 },
  { index: 2, start: 4, end: 6 },
];

export function runOptions(dataset: ImageDataset, method: Method, overrides: Partial<RunOptions> = {}): RunOptions {
  return {
    dataset,
    scenario: { initial: 2, increment: 2 },
    classOrder: [3, 0, 5, 1, 4, 2],
    method,
    backbone: TINY_BACKBONE,
    seed: 7,
    optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 5e-4 },
    schedule: { kind: 'constant' },
    epochs: 1,
    batchSize: 8,
    evalBatchSize: 32,
    quiet: true,
    ...overrides,
  };
}

function variableCount(run: Run): number {
  return [run.state.net, run.state.teacher].reduce((n, net) => n + (net ? net.namedVariables().size : 0), 0);
}

/**
 * Creates the run, trains every task and checks tensor discipline: the count is flat over the steps of each stage,
 * the tensors alive besides the network's and the teacher's variables are the same after every task from the
 * second on (the first has no teacher), and dispose() frees everything.
 */
export async function trainAllWithoutLeak(options: RunOptions): Promise<{ run: Run; metrics: TaskMetrics[]; dispose: () => void }> {
  const before = tf.memory().numTensors;
  const perStage = new Map<string, number[]>();
  const run = await createRun({
    ...options,
    onProgress: (e) => {
      if (e.type !== 'step') return;
      const key = `task ${e.task} ${e.stage}`;
      perStage.set(key, [...(perStage.get(key) ?? []), tf.memory().numTensors]);
    },
  });
  const metrics: TaskMetrics[] = [];
  const extra: number[] = [];
  for (let t = 0; t < run.state.tasks.length; t++) {
    metrics.push(await run.trainTask());
    extra.push(tf.memory().numTensors - before - variableCount(run));
  }
  expect(new Set(extra.slice(1)).size, `tensors besides the networks' variables after tasks 1.. : ${extra}`).toBe(1);
  for (const [stage, counts] of perStage) expect(new Set(counts).size, `tensor count changed between steps of ${stage}: ${counts}`).toBe(1);
  return {
    run,
    metrics,
    dispose: () => {
      run.dispose();
      expect(tf.memory().numTensors, 'tensors left after run.dispose()').toBe(before);
    },
  };
}

export interface KdProbe {
  steps: { task: number; stage: string; on: Record<string, number>; off: Record<string, number> }[];
}

const values = (terms: LossTerms) => Object.fromEntries(Object.entries(terms).map(([k, v]) => [k, v.dataSync()[0]]));

/**
 * `method` whose lossTerms also evaluate `off` (the same method with kd: false) on the same StepContext (same batch,
 * same memoised student and teacher outputs) on every main-stage step of tasks >= 1.
 */
export function withKdProbe<C extends { kd: boolean }>(method: Method<C>, off: Method<C>): { method: Method<C>; probe: KdProbe } {
  const probe: KdProbe = { steps: [] };
  return {
    probe,
    method: {
      ...method,
      lossTerms(step: StepContext) {
        const on = method.lossTerms(step);
        if (step.task.index > 0) probe.steps.push({ task: step.task.index, stage: 'train', on: values(on), off: values(off.lossTerms({ ...step, kd: false })) });
        return on;
      },
    },
  };
}

/**
 * Every step: each KD term is exactly 0 with KD off (and non-zero somewhere with KD on); every other term is
 * bit-identical, except the names in `replaced` (documented changes, e.g. iCaRL's one-hot old-class targets).
 */
export function expectExactKdRemoval(probe: KdProbe, kdTerms: readonly string[], replaced: readonly string[] = []): void {
  expect(probe.steps.length).toBeGreaterThan(2);
  const nonZero = new Set<string>();
  for (const { on, off } of probe.steps) {
    expect(Object.keys(off).sort()).toEqual(Object.keys(on).sort());
    for (const name of Object.keys(on)) {
      if (kdTerms.includes(name)) {
        expect(off[name], name).toBe(0);
        if (on[name] !== 0) nonZero.add(name);
      } else if (!replaced.includes(name)) {
        expect(off[name], name).toBe(on[name]);
      }
    }
  }
  for (const name of kdTerms) if (probe.steps.some((s) => name in s.on)) expect([...nonZero], `KD term '${name}' never non-zero with KD on`).toContain(name);
}

const noServices: TrainerServices = {
  trainLoop: async () => {
    throw new Error('no trainLoop in a hand-built context');
  },
  features: () => {
    throw new Error('no features in a hand-built context');
  },
  labels: () => {
    throw new Error('no labels in a hand-built context');
  },
  taskIndices: () => {
    throw new Error('no taskIndices in a hand-built context');
  },
  memory: () => new Map(),
  random: () => Math.random,
};

export function taskContext(method: Method, net: NetworkLike, teacher: NetworkLike | null, task: TaskSpec, state: Record<string, unknown> = {}): TaskContext {
  return {
    task,
    oldClasses: task.start,
    seenClasses: task.end,
    totalClasses: CLASSES,
    net,
    teacher,
    kd: method.config.kd,
    seed: 7,
    services: noServices,
    state,
  };
}

/**
 * The network of `method` after task 0 (head grown by beforeTask, weights as initialised), its frozen clone as
 * teacher, and the network grown for task 1 with its backbone perturbed so that student and teacher differ.
 */
export function networksForTask1(method: Method, state: Record<string, unknown> = {}): { net: Network; teacher: Network; state: Record<string, unknown> } {
  const backbone = createBackbone(TINY_BACKBONE, 7);
  const net = new Network(backbone, method.createHead?.(backbone.featureDim, 7) ?? new LinearHead(backbone.featureDim, 0, 7));
  method.beforeTask?.(taskContext(method, net, null, TASKS[0], state));
  const teacher = net.clone(false);
  method.beforeTask?.(taskContext(method, net, teacher, TASKS[1], state));
  tf.tidy(() => {
    for (const v of net.backbone.trainableVariables) v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.05, 'float32', 3)));
  });
  return { net, teacher, state };
}

/** A batch of task `task`'s classes: random images, labels cycling over the task's classes. */
export function randomBatch(task: TaskSpec, n = 8, seed = 5): Batch {
  return tf.tidy(() => ({
    x: tf.randomNormal([n, 16, 16, 3], 0, 1, 'float32', seed) as tf.Tensor4D,
    y: tf.tensor1d(Int32Array.from({ length: n }, (_, i) => task.start + (i % (task.end - task.start))), 'int32'),
    replay: tf.zeros([n]) as tf.Tensor1D,
  }));
}

/** A StepContext on a fixed batch (memoised student forward in training mode, teacher in eval mode), as trainStep builds it. */
export function stepContext(ctx: TaskContext, batch: Batch, kd = ctx.kd): StepContext {
  let student: ReturnType<NetworkLike['forward']> | undefined;
  let teacher: ReturnType<NetworkLike['forward']> | undefined;
  return {
    ...ctx,
    kd,
    batch,
    epoch: 0,
    step: 0,
    student: () => (student ??= ctx.net.forward(batch.x, { training: true })),
    teacherOut: () => {
      if (!ctx.teacher) throw new Error('no teacher');
      return (teacher ??= ctx.teacher.forward(batch.x, { training: false }));
    },
  };
}
