/**
 * BiC, LUCIR and SS-IL: each trains three tasks through createRun on a tiny synthetic dataset with no tensor
 * leak; each one's distinctive mechanism is checked; and on the real steps of those runs, the method with
 * `kd: false` gives exactly 0 for its KD terms and bit-identical values for every other term.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../kernel-lib/tf';
import { initBackend } from '../kernel-lib/backend/index';
import type { ImageDataset } from '../kernel-lib/data/types';
import { classColouredDataset } from './data-helpers';
import type { Batch, Method, NetworkLike, StepContext, TaskContext } from '../kernel-lib/methods/types';
import { createMethod } from '../kernel-lib/methods/registry';
import { applyCorrections, BIC_DEFAULTS, createBic, fitBiasLayer, type BiasCorrection, type BiasStageReport, type BicConfig } from '../kernel-lib/methods/bic';
import { BiasLayer } from '../kernel-lib/models/heads';
import { createLucir, lessForgetWeight, type LucirConfig } from '../kernel-lib/methods/lucir';
import { createSsil, type SsilConfig } from '../kernel-lib/methods/ssil';
import { classMeans } from '../kernel-lib/memory/prototypes';
import { CosineHead } from '../kernel-lib/models/heads';
import { createRun, type Run, type RunOptions } from '../kernel-lib/train/index';


const CLASSES = 6;
const dataset: ImageDataset = classColouredDataset('synthetic-methods', { classes: CLASSES, trainPerClass: 14, testPerClass: 4, size: 16 });

function options(method: Method, overrides: Partial<RunOptions> = {}): RunOptions {
  return {
    dataset,
    scenario: { initial: 2, increment: 2 },
    classOrder: [4, 1, 5, 0, 3, 2],
    method,
    backbone: { kind: 'resnet32', width: 0.25, blocksPerStage: 1 },
    seed: 3,
    optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 5e-4 },
    schedule: { kind: 'constant' },
    epochs: 1,
    batchSize: 8,
    evalBatchSize: 32,
    quiet: true,
    ...overrides,
  };
}

interface KdProbe {
  /** Per task >= 1 step: the kd-on and kd-off term values, read on the same step context. */
  steps: { task: number; on: Record<string, number>; off: Record<string, number> }[];
}

/**
 * `method` with lossTerms wrapped: on every main-stage step of tasks >= 1, the same method built with
 * `kd: false` is evaluated on the same StepContext (same batch, same memoised student and teacher outputs).
 */
function withKdProbe<C extends { kd: boolean }>(method: Method<C>, off: Method<C>): { method: Method<C>; probe: KdProbe } {
  const probe: KdProbe = { steps: [] };
  const values = (terms: Record<string, tf.Scalar>) => Object.fromEntries(Object.entries(terms).map(([k, v]) => [k, v.dataSync()[0]]));
  const wrapped: Method<C> = {
    ...method,
    lossTerms(step: StepContext) {
      const on = method.lossTerms(step);
      if (step.task.index > 0) probe.steps.push({ task: step.task.index, on: values(on), off: values(off.lossTerms({ ...step, kd: false })) });
      return on;
    },
  };
  return { method: wrapped, probe };
}

function expectKdRemoval(probe: KdProbe, kdTerms: readonly string[], replaced: readonly string[] = []): void {
  expect(probe.steps.length).toBeGreaterThan(2);
  let nonZeroKd = 0;
  for (const { on, off } of probe.steps) {
    expect(Object.keys(off).sort()).toEqual(Object.keys(on).sort());
    for (const name of Object.keys(on)) {
      if (kdTerms.includes(name)) {
        expect(off[name]).toBe(0);
        if (on[name] !== 0) nonZeroKd++;
      } else if (!replaced.includes(name)) {
        expect(off[name]).toBe(on[name]);
      }
    }
  }
  expect(nonZeroKd).toBeGreaterThan(0);
}

function snapshot(vars: Map<string, tf.Variable>): Map<string, Float32Array> {
  return new Map([...vars].map(([name, v]) => [name, Float32Array.from(v.dataSync() as Float32Array)]));
}

/**
 * Trains every task; checks per-stage tensor flatness, and that between tasks only the network and the teacher
 * hold tensors: their variables plus the constant tensors a freshly built network holds (measured first).
 */
async function trainAll(run: Run, before: number, perStage: Map<string, number[]>): Promise<void> {
  const constantsPerNetwork = tf.memory().numTensors - before - run.state.net.namedVariables().size;
  for (let t = 0; t < run.state.tasks.length; t++) {
    await run.trainTask();
    const networks = run.state.teacher ? [run.state.net, run.state.teacher] : [run.state.net];
    const alive = networks.reduce((sum, n) => sum + n.namedVariables().size + constantsPerNetwork, 0);
    expect(tf.memory().numTensors - before, `tensors alive after task ${t}`).toBe(alive);
  }
  for (const [stage, counts] of perStage) {
    expect(counts.length, stage).toBeGreaterThan(0);
    expect(new Set(counts).size, `tensor count changed between steps of ${stage}`).toBe(1);
  }
}

function stepRecorder(perStage: Map<string, number[]>): RunOptions['onProgress'] {
  return (e) => {
    if (e.type !== 'step') return;
    const key = `task ${e.task} ${e.stage}`;
    perStage.set(key, [...(perStage.get(key) ?? []), tf.memory().numTensors]);
  };
}

beforeAll(async () => {
  await initBackend({ log: false });
});

describe('registry', () => {
  it('has bic, lucir and ssil with their typed defaults', () => {
    expect(createMethod('bic').config).toMatchObject({ kd: true, temperature: 2, validationRatio: 0.1, memory: { total: 2000 } });
    expect(createMethod('lucir').config).toMatchObject({ kd: true, lambdaBase: 5, margin: 0.5, hardNegatives: 2, cbf: false });
    expect(createMethod('ssil', { kd: false }).config).toMatchObject({ kd: false, temperature: 2, replayBatchRatio: 0.25 });
    expect(() => createMethod('bic', { lambda: 1 })).toThrow(/unknown config key 'lambda'/);
  });
});

describe('BiC', () => {
  // Stage 2 at its default 200 epochs: it trains on cached logits, so it costs one forward pass of the held-out images.
  const config: Partial<BicConfig> = { memory: { selection: 'herding', perClass: 10 } };

  it('trains 3 tasks with a 9:1 exemplar split, a stage 2 that changes only alpha and beta, and exact KD removal', async () => {
    const before = tf.memory().numTensors;
    const { method: probed, probe } = withKdProbe(createBic(config), createBic({ ...config, kd: false }));
    const splits: { task: number; train: Int32Array[]; validation: Int32Array[]; memory: Map<number, Int32Array> }[] = [];
    const stage2: { changed: string[]; unchanged: number; correction: BiasCorrection }[] = [];
    let net: NetworkLike | null = null;
    const method: Method<BicConfig> = {
      ...probed,
      trainingData(ctx, defaults) {
        const data = probed.trainingData!(ctx, defaults);
        const validation = (ctx.state as { bicValidation?: { newIndices: Int32Array; replayIndices: Int32Array } }).bicValidation;
        if (validation) {
          splits.push({
            task: ctx.task.index,
            train: [data.newIndices, data.replayIndices],
            validation: [validation.newIndices, validation.replayIndices],
            memory: ctx.services.memory(),
          });
        }
        return data;
      },
      async afterTask(ctx: TaskContext) {
        net = ctx.net;
        const named = (ctx.net as unknown as { namedVariables(): Map<string, tf.Variable> }).namedVariables();
        const values = snapshot(named);
        await probed.afterTask!(ctx);
        if (ctx.task.index === 0) return;
        const after = snapshot(named);
        const changed = [...values].filter(([name, v]) => !after.get(name)!.every((x, i) => Object.is(x, v[i]))).map(([name]) => name);
        const list = (ctx.state as { bicCorrections: BiasCorrection[] }).bicCorrections;
        stage2.push({ changed, unchanged: values.size - changed.length, correction: list[list.length - 1] });
      },
    };
    const perStage = new Map<string, number[]>();
    const run = await createRun(options(method, { onProgress: stepRecorder(perStage) }));
    await trainAll(run, before, perStage);

    // The split: per class, floor(0.1 * 10) = 1 held-out exemplar (old classes) and 1 held-out image (new classes).
    expect(splits.map((s) => s.task)).toEqual([1, 2]);
    const labels = run.state.dataset.train.labels;
    for (const s of splits) {
      const heldOut = [...s.validation[0], ...s.validation[1]];
      const trained = new Set([...s.train[0], ...s.train[1]]);
      expect(heldOut.some((i) => trained.has(i))).toBe(false);
      const perClass = new Map<number, number>();
      for (const i of heldOut) perClass.set(labels[i], (perClass.get(labels[i]) ?? 0) + 1);
      expect([...perClass.keys()].sort()).toEqual(Array.from({ length: 2 * (s.task + 1) }, (_, c) => c));
      expect(new Set(perClass.values())).toEqual(new Set([1]));
      // Old-class validation images come from the memory; the rest of the memory is replayed.
      const memory = new Set([...s.memory.values()].flatMap((m) => [...m]));
      expect(s.validation[1].every((i) => memory.has(i))).toBe(true);
      expect(s.train[1].length + s.validation[1].length).toBe(memory.size);
    }

    // Stage 2 changed alpha and beta only: every network variable (weights, batch-norm statistics) is bit-identical.
    expect(stage2).toHaveLength(2);
    for (const s of stage2) {
      expect(s.changed).toEqual([]);
      expect(s.unchanged).toBeGreaterThan(10);
      expect(s.correction.alpha !== 1 || s.correction.beta !== 0).toBe(true);
    }
    // Stage 2 fits the held-out split: its accuracy there is no lower than with no correction.
    const reports = run.state.methodState.bicStageReports as BiasStageReport[];
    expect(reports.map((r) => [r.task, r.heldOutImages])).toEqual([
      [1, 4],
      [2, 6],
    ]);
    for (const r of reports) expect(r.accuracyAfter).toBeGreaterThanOrEqual(r.accuracyBefore);
    const corrections = run.state.methodState.bicCorrections as BiasCorrection[];
    expect(corrections.map((c) => [c.start, c.end])).toEqual([
      [2, 4],
      [4, 6],
    ]);

    // Evaluation uses the corrected logits.
    expect(run.state.metrics.tasks[2].fromMethod).toBe(true);
    const x = tf.randomNormal([3, 16, 16, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const ctx = { seenClasses: 6, net, state: run.state.methodState } as unknown as TaskContext;
    const predicted = run.state.method.predict!(ctx, x);
    const raw = run.state.net.forward(x, { training: false });
    const expected = applyCorrections(raw.logits, corrections);
    expect(Array.from(predicted.dataSync())).toEqual(Array.from(expected.dataSync()));
    tf.dispose([x, predicted, raw.logits, raw.features, raw.featureMap, expected]);

    // With KD off, lambda = 0: the CE is not scaled by 1 - lambda, so it is larger than with KD on (same batch).
    expectKdRemoval(probe, ['kd'], ['ce']);
    for (const { on, off } of probe.steps) expect(off.ce).toBeGreaterThan(on.ce);
    run.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('stage 2 at its defaults undoes a constant bias toward the new classes on fixed logits', () => {
    // 5 classes, the new task's are 3 and 4; every sample's true logit is 2 above the rest, and the new classes'
    // logits carry +3: with no correction every old-class sample goes to a new class.
    const n = 60;
    const labels = Int32Array.from({ length: n }, (_, i) => i % 5);
    const values = new Float32Array(n * 5);
    labels.forEach((y, i) => {
      for (let c = 0; c < 5; c++) values[i * 5 + c] = (c === y ? 2 : 0) + (c >= 3 ? 3 : 0) + 0.1 * Math.sin(i * 7 + c);
    });
    const before = tf.memory().numTensors;
    const logits = tf.tensor2d(values, [n, 5]);
    const layer = new BiasLayer({ start: 3, end: 5 });
    let seed = 1;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    fitBiasLayer(layer, logits, labels, BIC_DEFAULTS, random);
    const accuracy = (t: tf.Tensor2D) => tf.tidy(() => tf.argMax(t, 1).dataSync()).filter((p, i) => p === labels[i]).length / n;
    const corrected = layer.apply(logits);
    expect(accuracy(logits)).toBeCloseTo(0.4, 6);
    expect(accuracy(corrected)).toBe(1);
    // The fitted shift takes back most of the +3 (alpha scales the 2-point signal too).
    const [alpha] = layer.alpha.dataSync();
    const [beta] = layer.beta.dataSync();
    expect(alpha * 3 + beta).toBeLessThan(1.5);
    expect(alpha).toBeGreaterThan(0);
    tf.dispose([logits, corrected]);
    layer.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('keeps its corrections in checkpoints: a resumed run predicts exactly as the run that wrote them', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-bic-'));
    try {
      const first = await createRun(options(createBic(config), { checkpointDir: dir, scenario: { initial: 3, increment: 3 } }));
      await first.trainTask();
      await first.trainTask();
      const resumed = await createRun(options(createBic(config), { resumeFrom: dir, scenario: { initial: 3, increment: 3 } }));
      expect(resumed.state.methodState.bicCorrections).toEqual(first.state.methodState.bicCorrections);
      const a = first.evaluate();
      const b = resumed.evaluate();
      expect(Array.from(b.predictions)).toEqual(Array.from(a.predictions));
      expect(Array.from(b.predictions)).not.toEqual(Array.from(b.cnnPredictions));
      first.dispose();
      resumed.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('weights CE by 1 - lambda and KD by lambda = n_old / (n_old + n_new)', () => {
    const bic = createBic();
    tf.tidy(() => {
      const logits = tf.tensor2d([[1, 2, 0.5, -1], [0, 1, 2, 3]]);
      const teacher = tf.tensor2d([[2, 0], [1, 1]]);
      const step = fakeStep({ logits, teacherLogits: teacher, y: [0, 3], replay: [1, 0], oldClasses: 2, seenClasses: 4, state: {} });
      const terms = bic.lossTerms(step);
      // lambda = n_old / (n_old + n_new) = 2 / 4; CE over the 4 seen classes; KD at T = 2 over the 2 old ones.
      const ce0 = -Math.log(Math.exp(1) / (Math.exp(1) + Math.exp(2) + Math.exp(0.5) + Math.exp(-1)));
      const ce1 = -Math.log(Math.exp(3) / (Math.exp(0) + Math.exp(1) + Math.exp(2) + Math.exp(3)));
      expect(terms.ce.dataSync()[0]).toBeCloseTo(0.5 * ((ce0 + ce1) / 2), 5);
      const soft = (a: number, b: number) => [Math.exp(a / 2) / (Math.exp(a / 2) + Math.exp(b / 2)), Math.exp(b / 2) / (Math.exp(a / 2) + Math.exp(b / 2))];
      const kd = (s: number[], t: number[]) => -(soft(t[0], t[1])[0] * Math.log(soft(s[0], s[1])[0]) + soft(t[0], t[1])[1] * Math.log(soft(s[0], s[1])[1]));
      expect(terms.kd.dataSync()[0]).toBeCloseTo(0.5 * ((kd([1, 2], [2, 0]) + kd([0, 1], [1, 1])) / 2), 5);
    });
  });
});

describe('bic with KD off', () => {
  it('uses lambda = 0: the CE keeps its full weight and the KD term is exactly 0', () => {
    const bic = createBic({ kd: false });
    tf.tidy(() => {
      const logits = tf.tensor2d([[1, 2, 0.5, -1], [0, 1, 2, 3]]);
      const teacher = tf.tensor2d([[2, 0], [1, 1]]);
      const step = fakeStep({ logits, teacherLogits: teacher, y: [0, 3], replay: [1, 0], oldClasses: 2, seenClasses: 4, state: {}, kd: false });
      const terms = bic.lossTerms(step);
      const ce0 = -Math.log(Math.exp(1) / (Math.exp(1) + Math.exp(2) + Math.exp(0.5) + Math.exp(-1)));
      const ce1 = -Math.log(Math.exp(3) / (Math.exp(0) + Math.exp(1) + Math.exp(2) + Math.exp(3)));
      // Not (1 - 2/4) x CE: with KD off nothing is traded against a KD term.
      expect(terms.ce.dataSync()[0]).toBeCloseTo((ce0 + ce1) / 2, 5);
      expect(terms.kd.dataSync()[0]).toBe(0);
    });
  });
});

/** A StepContext over given logits (and optional features), for loss-level checks. */
function fakeStep(o: {
  logits: tf.Tensor2D;
  teacherLogits?: tf.Tensor2D;
  features?: tf.Tensor2D;
  y: number[];
  replay: number[];
  oldClasses: number;
  seenClasses: number;
  taskIndex?: number;
  state: Record<string, unknown>;
  kd?: boolean;
}): StepContext {
  const n = o.y.length;
  const batch: Batch = {
    x: tf.zeros([n, 1, 1, 3]) as tf.Tensor4D,
    y: tf.tensor1d(o.y, 'int32'),
    replay: tf.tensor1d(o.replay, 'float32'),
  };
  const features = o.features ?? (tf.zeros([n, 4]) as tf.Tensor2D);
  const output = (logits: tf.Tensor2D) => ({ logits, features, featureMap: tf.zeros([n, 1, 1, 4]) as tf.Tensor4D });
  return {
    task: { index: o.taskIndex ?? 1, start: o.oldClasses, end: o.seenClasses },
    oldClasses: o.oldClasses,
    seenClasses: o.seenClasses,
    totalClasses: o.seenClasses,
    net: null as unknown as NetworkLike,
    teacher: null,
    kd: o.kd ?? true,
    seed: 0,
    services: null as unknown as TaskContext['services'],
    state: o.state,
    batch,
    epoch: 0,
    step: 0,
    student: () => output(o.logits),
    teacherOut: () => output(o.teacherLogits!),
  };
}

describe('SS-IL', () => {
  it('separated softmax: new samples send no gradient to old-class logits, replayed ones none to new-class logits', () => {
    const ssil = createSsil();
    const state = { ssilTasks: [[0, 2], [2, 3], [3, 5]] };
    const y = [3, 4, 0, 2];
    const replay = [0, 0, 1, 1];
    const logits = tf.tensor2d([
      [0.3, -1.2, 0.8, 2.0, 0.1],
      [1.5, 0.4, -0.3, 0.2, 0.9],
      [0.7, 0.2, 1.1, -0.5, 0.3],
      [-0.4, 0.6, 0.9, 1.3, -1.0],
    ]);
    const teacher = tf.tensor2d([
      [1, 0, 2],
      [0, 1, 1],
      [2, 2, 0],
      [1, -1, 0],
    ]);
    const grad = tf.grad((z: tf.Tensor) => {
      const step = fakeStep({ logits: z as tf.Tensor2D, teacherLogits: teacher, y, replay, oldClasses: 3, seenClasses: 5, taskIndex: 2, state });
      return ssil.lossTerms(step)['separated-ce'];
    })(logits);
    const g = grad.arraySync() as number[][];
    for (const row of [0, 1]) for (const c of [0, 1, 2]) expect(g[row][c]).toBe(0);
    for (const row of [2, 3]) for (const c of [3, 4]) expect(g[row][c]).toBe(0);
    expect(g[0][3]).not.toBe(0);
    expect(g[2][0]).not.toBe(0);
    // Task-wise KD: one KL per old task block [0, 2) and [2, 3); the single-class block contributes 0.
    const terms = ssil.lossTerms(fakeStep({ logits, teacherLogits: teacher, y, replay, oldClasses: 3, seenClasses: 5, taskIndex: 2, state }));
    const kl = (s: number[], t: number[]) => {
      const p = t.map((v) => Math.exp(v / 2));
      const q = s.map((v) => Math.exp(v / 2));
      const ps = p.reduce((a, b) => a + b);
      const qs = q.reduce((a, b) => a + b);
      return p.reduce((acc, pi, i) => acc + (pi / ps) * Math.log(pi / ps / (q[i] / qs)), 0);
    };
    const rows = logits.arraySync() as number[][];
    const trows = teacher.arraySync() as number[][];
    const expected = (4 * rows.reduce((acc, r, i) => acc + kl(r.slice(0, 2), trows[i].slice(0, 2)), 0)) / 4;
    expect(terms['task-kd'].dataSync()[0]).toBeCloseTo(expected, 5);
    tf.dispose([logits, teacher, grad, terms['task-kd'], terms['separated-ce']]);
  });

  it('trains 3 tasks with ratio-preserving batches, random memory and exact KD removal', async () => {
    const config: Partial<SsilConfig> = { memory: { selection: 'random', total: 24 } };
    const before = tf.memory().numTensors;
    const { method: probed, probe } = withKdProbe(createSsil(config), createSsil({ ...config, kd: false }));
    const batches: { task: number; size: number; replayed: number }[] = [];
    const method: Method<SsilConfig> = {
      ...probed,
      lossTerms(step) {
        batches.push({ task: step.task.index, size: step.batch.y.shape[0], replayed: step.batch.replay.sum().dataSync()[0] });
        return probed.lossTerms(step);
      },
    };
    const perStage = new Map<string, number[]>();
    const record = stepRecorder(perStage)!;
    const mainStageLr = new Map<number, Set<number>>();
    const onProgress: RunOptions['onProgress'] = (e) => {
      record(e);
      if (e.type === 'step' && e.stage === 'train') mainStageLr.set(e.task, (mainStageLr.get(e.task) ?? new Set()).add(e.lr));
    };
    const run = await createRun(options(method, { onProgress }));
    await trainAll(run, before, perStage);
    // Main stage of task t at lr / (t + 1) (official main.py), on the run's constant schedule: 0.05, 0.025, 0.0166...
    expect([...mainStageLr].map(([task, lrs]) => [task, [...lrs]])).toEqual([0, 1, 2].map((t) => [t, [0.05 / (t + 1)]]));
    // Ratio-preserving batches: 8 new + round(8 * 32 / 128) = 2 replayed; floor(28 new / 8) = 3 steps per epoch.
    expect(batches.filter((b) => b.task === 0).map((b) => [b.size, b.replayed])).toEqual([[8, 0], [8, 0], [8, 0], [4, 0]]);
    for (const task of [1, 2]) {
      expect(batches.filter((b) => b.task === task).map((b) => [b.size, b.replayed])).toEqual([[10, 2], [10, 2], [10, 2]]);
    }
    expect(run.state.methodState.ssilTasks).toEqual([
      [0, 2],
      [2, 4],
      [4, 6],
    ]);
    expect([...run.state.memory.toMap().values()].map((m) => m.length)).toEqual([4, 4, 4, 4, 4, 4]);
    expectKdRemoval(probe, ['task-kd']);
    run.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('LUCIR', () => {
  const config: Partial<LucirConfig> = { memory: { selection: 'herding', perClass: 4 } };
  // No lastRelu or shortcut: the method's backbone() hook sets them.
  const backbone = { kind: 'resnet32', width: 0.25, blocksPerStage: 1 } as const;

  it('trains 3 tasks: imprinted new weights, fixed old weights, scale-invariant cosine head, exact KD removal', async () => {
    const before = tf.memory().numTensors;
    const { method: probed, probe } = withKdProbe(createLucir(config), createLucir({ ...config, kd: false }));
    const imprints: { task: number; maxError: number }[] = [];
    const oldBlocks: { task: number; before: Float32Array[] }[] = [];
    const method: Method<LucirConfig> = {
      ...probed,
      beforeTask(ctx) {
        const head = ctx.net.head as CosineHead;
        if (ctx.task.index === 0) return probed.beforeTask!(ctx);
        // Expected imprint: normalised mean of normalised features (the network before training), times the old mean norm.
        const indices = ctx.services.taskIndices(ctx.task);
        const features = ctx.services.features(indices);
        const means = classMeans(features, ctx.services.labels(indices), [ctx.task.start, ctx.task.start + 1], { normalize: true });
        features.dispose();
        const norms = head.weightBlocks.flatMap((b) => {
          const w = b.arraySync() as number[][];
          return w[0].map((_, c) => Math.hypot(...w.map((row) => row[c])));
        });
        const meanNorm = norms.reduce((a, b) => a + b, 0) / norms.length;
        oldBlocks.push({ task: ctx.task.index, before: head.weightBlocks.map((b) => Float32Array.from(b.dataSync() as Float32Array)) });
        probed.beforeTask!(ctx);
        // The main stage trains everything but the old class weights (the official script's fc1 at lr 0).
        const trained = new Set(probed.trainableVariables!(ctx));
        const old = head.weightBlocks.slice(0, -1);
        const untrained = ctx.net.trainableVariables.filter((v) => !trained.has(v));
        expect(untrained.length).toBe(old.length);
        expect(untrained.every((v, i) => v === old[i])).toBe(true);
        const imprinted = head.weightBlocks[head.weightBlocks.length - 1].arraySync() as number[][];
        let maxError = 0;
        for (let c = 0; c < 2; c++) {
          for (let d = 0; d < means.dim; d++) maxError = Math.max(maxError, Math.abs(imprinted[d][c] - means.data[c * means.dim + d] * meanNorm));
        }
        imprints.push({ task: ctx.task.index, maxError });
      },
      afterTask(ctx) {
        const head = ctx.net.head as CosineHead;
        const record = oldBlocks.find((r) => r.task === ctx.task.index);
        if (record) {
          record.before.forEach((values, i) => {
            expect(Array.from(head.weightBlocks[i].dataSync()), `old block ${i} moved during task ${ctx.task.index}`).toEqual(Array.from(values));
          });
          const newest = head.weightBlocks[head.weightBlocks.length - 1];
          expect(newest.shape).toEqual([head.inFeatures, 2]);
        }
        return probed.afterTask?.(ctx);
      },
    };
    const perStage = new Map<string, number[]>();
    const run = await createRun(options(method, { backbone, onProgress: stepRecorder(perStage) }));
    await trainAll(run, before, perStage);

    expect(imprints.map((i) => i.task)).toEqual([1, 2]);
    for (const i of imprints) expect(i.maxError).toBeLessThan(1e-5);
    expect(oldBlocks).toHaveLength(2);

    // The head's logits do not change when each class weight is rescaled.
    const head = run.state.net.head as CosineHead;
    expect(head).toBeInstanceOf(CosineHead);
    const scaled = head.clone(true);
    tf.tidy(() => {
      const features = tf.randomNormal([5, head.inFeatures], 0, 1, 'float32', 2) as tf.Tensor2D;
      scaled.weightBlocks.forEach((block, i) => block.assign(tf.mul(block, tf.tensor1d(Array.from({ length: block.shape[1] }, (_, c) => 0.1 + 3 * i + c)))));
      const a = head.apply(features).arraySync() as number[][];
      const b = scaled.apply(features).arraySync() as number[][];
      a.forEach((row, r) => row.forEach((v, c) => expect(b[r][c]).toBeCloseTo(v, 5)));
    });
    scaled.dispose();

    expectKdRemoval(probe, ['less-forget']);
    run.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('uses lambda_base * sqrt(old / new)', () => {
    expect(lessForgetWeight(5, 50, 10)).toBeCloseTo(5 * Math.sqrt(5), 12);
  });

  it('builds its backbone without the last ReLU and with projection shortcuts from a plain spec', async () => {
    const before = tf.memory().numTensors;
    const run = await createRun(options(createLucir(config), { backbone: { kind: 'resnet32', width: 0.25 } }));
    expect(run.state.net.architecture().backbone).toEqual({ kind: 'resnet32', width: 0.25, blocksPerStage: 5, lastRelu: false, shortcut: 'projection' });
    // 1x1 conv + BN where a stage changes shape (official modified_resnet_cifar.py's downsample).
    expect([...run.state.net.namedVariables().keys()].filter((n) => n.endsWith('shortcut/conv'))).toEqual([
      'backbone/stage2/block0/shortcut/conv',
      'backbone/stage3/block0/shortcut/conv',
    ]);
    run.dispose();
    // The variant on purpose: createLucir's config decides; a backbone that says otherwise is refused, not overridden.
    const variant = await createRun(options(createLucir({ ...config, lastRelu: true }), { backbone: { kind: 'resnet32', width: 0.25, blocksPerStage: 1 } }));
    expect(variant.state.net.architecture().backbone).toMatchObject({ lastRelu: true, shortcut: 'projection' });
    variant.dispose();
    await expect(createRun(options(createLucir(config), { backbone: { kind: 'resnet32', width: 0.25, lastRelu: true } }))).rejects.toThrow(
      /lucir: the backbone sets lastRelu: true, but LUCIR uses lastRelu: false.*createLucir\(\{ lastRelu: true \}\)/,
    );
    await expect(createRun(options(createLucir(config), { backbone: { kind: 'resnet32', shortcut: 'subsample-pad' } }))).rejects.toThrow(
      /shortcut: "subsample-pad", but LUCIR uses shortcut: "projection"/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it('class-balanced fine-tuning trains only the class weights, on the memory', async () => {
    const before = tf.memory().numTensors;
    const seen: { changed: string[] }[] = [];
    const base = createLucir({ ...config, cbf: true, cbfEpochs: 2, cbfMilestones: [1] });
    const method: Method<LucirConfig> = {
      ...base,
      async afterTask(ctx) {
        const named = (ctx.net as unknown as { namedVariables(): Map<string, tf.Variable> }).namedVariables();
        const values = snapshot(named);
        await base.afterTask!(ctx);
        const after = snapshot(named);
        seen.push({ changed: [...values].filter(([name, v]) => !after.get(name)!.every((x, i) => Object.is(x, v[i]))).map(([n]) => n) });
      },
    };
    let cbfImages = 0;
    const run = await createRun(
      options(method, {
        backbone,
        onProgress: (e) => {
          if (e.type === 'epoch' && e.stage === 'lucir-cbf' && e.epoch === 0) cbfImages = e.images;
        },
      }),
    );
    await run.trainTask();
    await run.trainTask();
    expect(seen[0].changed).toEqual([]);
    expect(seen[1].changed.sort()).toEqual(['head/weight0', 'head/weight1']);
    expect(cbfImages).toBe(4 * 4);
    run.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
