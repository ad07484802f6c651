/**
 * Trainer tests: optimiser/schedule equivalence with PyTorch, checkpoint format, and small training runs through
 * the public API (finetune and joint, determinism, NaN guard, tensor flatness, replay mask, extra stages).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { comparable } from './helpers/comparable-metrics';
import { tf } from '../kernel-lib/tf';
import { initBackend, loadDataset, type ImageDataset, type ImageSplit } from '../kernel-lib/index';
import type { LossTerms, Method, StepContext } from '../kernel-lib/methods/types';
import { createMethod, methodNames } from '../kernel-lib/methods/registry';
import { createFinetune } from '../kernel-lib/methods/finetune';
import { expandLinearHead } from '../kernel-lib/methods/shared/heads';
import { crossEntropy } from '../kernel-lib/losses/classification';
import {
  createRun,
  learningRateAt,
  NonFiniteLossError,
  Optimizer,
  resolveCheckpoint,
  type OptimizerSpec,
  type ProgressEvent,
  type RunOptions,
} from '../kernel-lib/train/index';
import { decodeCheckpoint, encodeCheckpoint } from '../kernel-lib/train/checkpoint';

/** The first `perClass` images of each class of a split (keeps the split's order). */
function firstPerClass(split: ImageSplit, perClass: number): ImageSplit {
  const taken = new Map<number, number>();
  const keep: number[] = [];
  for (let i = 0; i < split.count; i++) {
    const n = taken.get(split.labels[i]) ?? 0;
    if (n < perClass) {
      keep.push(i);
      taken.set(split.labels[i], n + 1);
    }
  }
  const pixel = split.height * split.width * 3;
  const images = new Uint8Array(keep.length * pixel);
  keep.forEach((src, dst) => images.set(split.images.subarray(src * pixel, (src + 1) * pixel), dst * pixel));
  return { ...split, images, labels: Int32Array.from(keep, (i) => split.labels[i]), count: keep.length };
}

/** A few classes of the embedded dataset (32x32 Tiny ImageNet images), few images each: tests stay in seconds. */
async function embeddedSubset(classes: number, perClassTrain: number, perClassTest: number): Promise<ImageDataset> {
  const full = await loadDataset('embedded', { classesLimit: classes, log: false });
  return { ...full, train: firstPerClass(full.train, perClassTrain), test: firstPerClass(full.test, perClassTest) };
}

let tiny: ImageDataset;

const SMALL_NET = { kind: 'resnet32', width: 0.25, blocksPerStage: 1 } as const;

function baseOptions(overrides: Partial<RunOptions> = {}): RunOptions {
  return {
    dataset: tiny,
    scenario: { initial: 2, increment: 2 },
    classOrder: [3, 0, 5, 1, 4, 2],
    method: 'finetune',
    backbone: SMALL_NET,
    seed: 7,
    optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 5e-4 },
    schedule: { kind: 'multistep', milestones: [1], gamma: 0.5 },
    epochs: 2,
    batchSize: 8,
    evalBatchSize: 16,
    quiet: true,
    ...overrides,
  };
}

const tmpDirs: string[] = [];
function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-train-'));
  tmpDirs.push(dir);
  return dir;
}

beforeAll(async () => {
  await initBackend({ log: false });
  tiny = await embeddedSubset(6, 6, 4);
});

afterAll(() => {
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe('optimisers (reference values from torch 1.13, float64)', () => {
  // loss = sum(w^3)/3 + sum(w), so grad = w^2 + 1; three steps with lr 0.1, 0.1, 0.05.
  const w0 = [0.5, -1.0, 2.0, 0.25];
  function threeSteps(spec: OptimizerSpec): number[] {
    const w = tf.variable(tf.tensor2d(w0, [2, 2]));
    const opt = new Optimizer(spec);
    for (const lr of [0.1, 0.1, 0.05]) {
      const g = tf.tidy(() => tf.add(tf.square(w), 1));
      opt.apply([{ name: 'w', variable: w }], new Map([['w', g]]), lr);
      g.dispose();
    }
    const out = Array.from(w.dataSync());
    opt.dispose();
    w.dispose();
    return out;
  }
  const close = (got: number[], want: number[]) => got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));

  it('SGD with Nesterov momentum and coupled weight decay matches torch.optim.SGD', () => {
    close(threeSteps({ kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true }), [
      -0.22785992736344768, -2.7839042111057672, -0.12928350036441255, -0.4083376133903386,
    ]);
  });
  it('SGD with momentum matches torch.optim.SGD', () => {
    close(threeSteps({ kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 5e-4 }), [
      -0.004702155585012311, -1.9963814392034354, 0.29967192112374386, -0.19308555091214197,
    ]);
  });
  it('plain SGD matches torch.optim.SGD', () => {
    close(threeSteps({ kind: 'sgd', lr: 0.1, momentum: 0 }), [0.20753308105468748, -1.5982568, 1.0559687500000001, -0.008403282349395776]);
  });
  it('Adam with weight decay matches torch.optim.Adam', () => {
    close(threeSteps({ kind: 'adam', lr: 0.1, weightDecay: 0.01 }), [0.2505856015880338, -1.2503158331652768, 1.7506891961990414, 0.0002409244289052273]);
  });
  it('slots restart when a variable changes shape, and state round-trips', () => {
    const opt = new Optimizer({ kind: 'sgd', lr: 0.1, momentum: 0.9 });
    const w = tf.variable(tf.ones([2]));
    const g = tf.ones([2]);
    opt.apply([{ name: 'w', variable: w }], new Map([['w', g]]), 0.1);
    const state = opt.getState();
    expect(Array.from(state.slots.w.momentum.dataSync())).toEqual([1, 1]);
    const copy = new Optimizer({ kind: 'sgd', lr: 0.1, momentum: 0.9 });
    copy.setState(state);
    const w3 = tf.variable(tf.ones([3]));
    const g3 = tf.ones([3]);
    copy.apply([{ name: 'w', variable: w3 }], new Map([['w', g3]]), 0.1); // shape changed: momentum restarts at g
    expect(Array.from(w3.dataSync()).map((v) => +v.toFixed(6))).toEqual([0.9, 0.9, 0.9]);
    for (const t of [w, g, w3, g3, state.slots.w.momentum]) t.dispose();
    opt.dispose();
    copy.dispose();
  });
});

describe('schedules (reference values from torch.optim.lr_scheduler)', () => {
  const lrs = (spec: Parameters<typeof learningRateAt>[0]) => Array.from({ length: 10 }, (_, e) => learningRateAt(spec, 0.1, e, 10));
  it('StepLR(3, 0.5)', () => {
    lrs({ kind: 'step', stepSize: 3, gamma: 0.5 }).forEach((v, i) => expect(v).toBeCloseTo([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125][i], 12));
  });
  it('MultiStepLR([2, 5], 0.1)', () => {
    lrs({ kind: 'multistep', milestones: [2, 5], gamma: 0.1 }).forEach((v, i) => expect(v).toBeCloseTo([0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001, 0.001, 0.001, 0.001][i], 12));
  });
  it('CosineAnnealingLR(T_max 10, eta_min 0.001)', () => {
    const want = [0.1, 0.09757729755661011, 0.0905463412215599, 0.07959536998847742, 0.0657963412215599, 0.0505, 0.03520365877844011, 0.02140463001152259, 0.010453658778440109, 0.0034227024433899004];
    lrs({ kind: 'cosine', minLr: 0.001 }).forEach((v, i) => expect(v).toBeCloseTo(want[i], 12));
  });
});

describe('checkpoint format', () => {
  it('round-trips JSON, typed arrays, maps, tensors and non-finite numbers', () => {
    const t = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const bytes = encodeCheckpoint({ a: 1, nan: NaN, inf: -Infinity, arr: new Int32Array([5, -6]), map: new Map([[3, new Float32Array([0.5])]]), t });
    const back = decodeCheckpoint(bytes, 'mem');
    expect(back.a).toBe(1);
    expect(back.nan).toBeNaN();
    expect(back.inf).toBe(-Infinity);
    expect(Array.from(back.arr as Int32Array)).toEqual([5, -6]);
    expect(Array.from((back.map as Map<number, Float32Array>).get(3)!)).toEqual([0.5]);
    const tb = back.t as tf.Tensor;
    expect(tb.shape).toEqual([2, 2]);
    expect(Array.from(tb.dataSync())).toEqual([1, 2, 3, 4]);
    t.dispose();
    tb.dispose();
  });
  it('refuses class instances and functions with the path of the bad value', () => {
    expect(() => encodeCheckpoint({ state: { fn: () => 1 } })).toThrow(/checkpoint\.state\.fn/);
    expect(() => encodeCheckpoint({ state: { d: new Date() } })).toThrow(/checkpoint\.state\.d: Date/);
  });
  it('detects truncation, bit flips and foreign files', () => {
    const bytes = encodeCheckpoint({ x: new Float32Array(64).fill(1) });
    expect(() => decodeCheckpoint(bytes.slice(0, bytes.length - 10), 'f.kdcl')).toThrow(/f\.kdcl is unreadable: payload is .*\(truncated/);
    const flipped = bytes.slice();
    flipped[flipped.length - 3] ^= 0xff;
    expect(() => decodeCheckpoint(flipped, 'f.kdcl')).toThrow(/checksum mismatch/);
    expect(() => decodeCheckpoint(new TextEncoder().encode('hello world, not a checkpoint'), 'f.kdcl')).toThrow(/bad magic/);
  });
  it('covers the header by a checksum: an edited metric in valid JSON is refused', () => {
    const bytes = Buffer.from(encodeCheckpoint({ metrics: [{ accuracy: 0.25 }], completedTasks: 1 }));
    const text = bytes.toString('latin1');
    const edited = Buffer.from(text.replace('"accuracy":0.25', '"accuracy":0.95'), 'latin1');
    expect(edited.length).toBe(bytes.length);
    expect(edited.equals(bytes)).toBe(false);
    expect(() => decodeCheckpoint(edited, 'f.kdcl')).toThrow(/f\.kdcl is unreadable: header checksum mismatch/);
    expect((decodeCheckpoint(bytes, 'f.kdcl').metrics as { accuracy: number }[])[0].accuracy).toBe(0.25);
  });
});

describe('methods registry', () => {
  it('lists finetune and joint, and names the valid methods for an unknown one', () => {
    expect(methodNames()).toEqual(expect.arrayContaining(['finetune', 'joint']));
    expect(() => createMethod('nope')).toThrow(/unknown method 'nope'; valid names: .*finetune.*joint/);
    expect(() => createMethod('finetune', { temperature: 2 })).toThrow(/unknown config key 'temperature'; valid keys: kd, ceOver/);
    expect(createMethod('finetune', { kd: false }).config).toEqual({ kd: false, ceOver: 'seen' });
  });
});

describe('training runs (tiny ResNet-32, embedded dataset subset)', () => {
  it('fine-tunes a narrow ResNet-32 (width 0.25, 5 blocks per stage) on two tasks through the public API', async () => {
    const dataset = await embeddedSubset(4, 16, 10);
    const events: ProgressEvent[] = [];
    const run = await createRun({
      dataset,
      scenario: { initial: 2, increment: 2 },
      classOrder: 'seed1993',
      method: 'finetune',
      backbone: { kind: 'resnet32', width: 0.25 },
      seed: 1993,
      optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 2e-4 },
      schedule: { kind: 'constant' },
      epochs: 3,
      batchSize: 16,
      quiet: true,
      onProgress: (e) => events.push(e),
    });
    expect(run.state.nextTask).toEqual({ index: 0, start: 0, end: 2 });
    expect(run.state.currentTask).toBeNull();
    const m0 = await run.trainTask();
    expect(run.state.currentTask).toEqual({ index: 0, start: 0, end: 2 });
    expect(run.state.net.head.outputs).toBe(2);
    expect(run.state.teacher).toBeNull();
    const m1 = await run.trainTask();
    expect(run.state.net.head.outputs).toBe(4);
    expect(run.state.teacher).not.toBeNull();
    expect(run.state.nextTask).toBeNull();
    expect(run.state.dataset.classNames).toEqual(run.state.classOrder.map((c) => dataset.classNames[c]));

    expect([m0.trainImages, m1.trainImages]).toEqual([32, 32]);
    expect(m0.primary.samples).toBe(20);
    expect(m1.primary.samples).toBe(40);
    for (const m of [m0, m1]) {
      expect(Object.keys(m.terms)).toEqual(['ce']);
      expect(Number.isFinite(m.loss)).toBe(true);
      expect(m.accuracy).toBeGreaterThanOrEqual(0);
      expect(m.accuracy).toBeLessThanOrEqual(1);
    }
    const epochs = events.filter((e): e is Extract<ProgressEvent, { type: 'epoch' }> => e.type === 'epoch' && e.task === 0);
    expect(epochs.map((e) => e.epoch)).toEqual([0, 1, 2]);
    const metrics = run.state.metrics;
    expect(metrics.accuracyMatrix.map((row) => row.length)).toEqual([1, 2]);
    expect(metrics.aia).toBeCloseTo((m0.accuracy + m1.accuracy) / 2, 12);
    expect(metrics.last).toBe(m1.accuracy);
    // FACIL forgetting after task 1: the best earlier accuracy on task 0 (only acc[0][0]) minus the current one.
    expect(metrics.forgetting).toBeCloseTo(metrics.accuracyMatrix[0][0] - metrics.accuracyMatrix[1][0], 12);
    const again = run.evaluate();
    expect(again.primary).toEqual(m1.primary);
    run.dispose();
  });

  it('is deterministic: same seed, same metrics; another seed differs', async () => {
    const a = await createRun(baseOptions());
    await a.trainTask();
    await a.trainTask();
    const b = await createRun(baseOptions());
    await b.trainTask();
    await b.trainTask();
    expect(comparable(b.state.metrics.tasks)).toEqual(comparable(a.state.metrics.tasks));
    const c = await createRun(baseOptions({ seed: 8 }));
    await c.trainTask();
    expect(c.state.metrics.tasks[0].loss).not.toEqual(a.state.metrics.tasks[0].loss);
    for (const r of [a, b, c]) r.dispose();
  });

  it('keeps tf.memory().numTensors flat across steps and tasks, and frees everything on dispose', async () => {
    const before = tf.memory().numTensors;
    const perStep: number[][] = [[], [], []];
    const run = await createRun(
      baseOptions({
        method: createFinetune(),
        onProgress: (e) => {
          if (e.type === 'step') perStep[e.task].push(tf.memory().numTensors);
        },
      }),
    );
    const afterTask: number[] = [];
    for (let t = 0; t < 3; t++) {
      await run.trainTask();
      afterTask.push(tf.memory().numTensors);
    }
    for (const counts of perStep) {
      expect(counts.length).toBeGreaterThan(2);
      expect(new Set(counts).size).toBe(1);
    }
    // Task 0 has no teacher; from task 1 on the teacher is replaced, not added.
    expect(perStep[2][0]).toBe(perStep[1][0]);
    expect(afterTask[2]).toBe(afterTask[1]);
    run.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('keeps memoised forward outputs alive for the whole step, even if first requested inside a method tidy', async () => {
    const base = createFinetune();
    const before = tf.memory().numTensors;
    const perStep: number[] = [];
    const method = {
      ...base,
      lossTerms(step: StepContext) {
        // A term computed in its own tidy asks for the memoised outputs first; the next term reuses them.
        const probe = tf.tidy(() => tf.mean(step.student().features) as tf.Scalar);
        const terms = base.lossTerms(step);
        return { ...terms, probe: tf.mul(probe, 0) as tf.Scalar };
      },
    };
    const run = await createRun(baseOptions({ method, onProgress: (e) => e.type === 'step' && perStep.push(tf.memory().numTensors) }));
    await run.trainTask();
    await run.trainTask();
    expect(new Set(perStep.slice(0, 3)).size).toBe(1);
    run.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('stops on a NaN loss naming task, epoch, step and term, and keeps the last good checkpoint', async () => {
    const dir = tmpDir();
    const base = createFinetune();
    const poisoned: Method = {
      ...base,
      name: 'nan-probe',
      lossTerms(step: StepContext) {
        const terms = base.lossTerms(step);
        const bad = step.task.index === 1 && step.epoch === 1 && step.step === 1;
        return { ...terms, probe: bad ? tf.scalar(NaN) : tf.scalar(0) };
      },
    };
    const run = await createRun(baseOptions({ method: poisoned, checkpointDir: dir }));
    await run.trainTask();
    const good = fs.readFileSync(path.join(dir, 'task-000.kdcl'));
    const failure = await run.trainTask().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(NonFiniteLossError);
    expect((failure as Error).message).toMatch(/task 1, stage 'train', epoch 1, step 1: 'probe' = NaN/);
    await expect(run.trainTask()).rejects.toThrow(/stopped with an error earlier/);
    expect(fs.readdirSync(dir).filter((f) => !f.startsWith('.'))).toEqual(['task-000.kdcl']);
    expect(fs.readFileSync(path.join(dir, 'task-000.kdcl')).equals(good)).toBe(true);
    run.dispose();
  });

  it('refuses a checkpoint from another config, and a corrupt one, with clear errors', async () => {
    const dir = tmpDir();
    const run = await createRun(baseOptions({ epochs: 1, checkpointDir: dir }));
    await run.trainTask();
    run.dispose();
    await expect(createRun(baseOptions({ epochs: 1, seed: 99, resumeFrom: dir }))).rejects.toThrow(/different config .*differing: seed/);
    await expect(createRun(baseOptions({ epochs: 1, batchSize: 4, resumeFrom: dir }))).rejects.toThrow(/differing: training\.batchSize/);
    const file = path.join(dir, 'task-000.kdcl');
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 100));
    await expect(createRun(baseOptions({ epochs: 1, resumeFrom: dir }))).rejects.toThrow(/task-000\.kdcl is unreadable: payload is .*truncated/);
  });

  it('ignores the temp file of a checkpoint write killed before its rename, and sweeps it only if its writer is dead', async () => {
    const dir = tmpDir();
    const run = await createRun(baseOptions({ epochs: 1, checkpointDir: dir }));
    await run.trainTask();
    run.dispose();
    // pid 2^31 - 2 exists on no Linux host (pid_max is at most 2^22).
    const dead = path.join(dir, `.task-001.kdcl.tmp-${os.hostname()}-2147483646-1700000000000`);
    const otherHost = path.join(dir, `.task-001.kdcl.tmp-elsewhere.example-${process.ppid}-1700000000000`);
    const alive = path.join(dir, `.task-001.kdcl.tmp-${os.hostname()}-${process.ppid}-1700000000000`);
    for (const f of [dead, otherHost, alive]) fs.writeFileSync(f, 'KDCLCKPT half-written');
    expect(resolveCheckpoint(dir)).toBe(path.join(dir, 'task-000.kdcl'));
    const resumed = await createRun(baseOptions({ epochs: 1, checkpointDir: dir, resumeFrom: dir }));
    expect(resumed.state.completedTasks).toBe(1);
    await resumed.trainTask();
    resumed.dispose();
    expect(fs.readdirSync(dir).sort()).toEqual([path.basename(otherHost), path.basename(alive), 'task-001.kdcl'].sort());
  });

  it('resumes in process to the same metrics as an uninterrupted run (replay, teacher, carried optimiser)', async () => {
    const dir = tmpDir();
    const memoryMethod = (): Method => {
      const base = createFinetune();
      return {
        ...base,
        name: 'replay-probe',
        memory: { selection: 'herding', total: 6 },
        beforeTask(ctx) {
          expandLinearHead(ctx.net, ctx.seenClasses, 'replay-probe');
          ctx.state[`draw${ctx.task.index}`] = new Float32Array([ctx.services.random()()]);
        },
        lossTerms(step): LossTerms {
          const ce = crossEntropy(step.student().logits, step.batch.y);
          if (!step.teacher) return { ce };
          const old = step.oldClasses;
          const kd = tf.tidy(() => {
            const s = step.student().logits.slice([0, 0], [-1, old]);
            const t = step.teacherOut().logits.slice([0, 0], [-1, old]);
            return tf.mean(tf.square(tf.sub(s, t))) as tf.Scalar;
          });
          return { ce, kd };
        },
      };
    };
    const options = (extra: Partial<RunOptions>) => baseOptions({ method: memoryMethod(), resetOptimizerEachTask: false, ...extra });
    const full = await createRun(options({}));
    await full.runAll();
    const first = await createRun(options({ checkpointDir: dir }));
    await first.trainTask();
    first.dispose();
    const resumed = await createRun(options({ checkpointDir: dir, resumeFrom: dir }));
    expect(resumed.state.completedTasks).toBe(1);
    expect(resumed.state.methodState.draw0).toBeInstanceOf(Float32Array);
    await resumed.runAll();
    expect(comparable(resumed.state.metrics.tasks)).toEqual(comparable(full.state.metrics.tasks));
    expect(resumed.state.memory.toJSON()).toEqual(full.state.memory.toJSON());
    expect(resumed.state.metrics.tasks[2].replayImages).toBe(4); // floor(6 / 4 seen classes) = 1 each
    expect(resumed.state.metrics.tasks[2].terms.kd).toBeGreaterThanOrEqual(0);
    full.dispose();
    resumed.dispose();
  });

  it('sets the replay mask for exemplars, runs extra stages on chosen variables, and reports them', async () => {
    const replaySeen: number[] = [];
    const base = createFinetune();
    let headBefore: Float32Array | null = null;
    let backboneBefore: Float32Array | null = null;
    const method: Method = {
      ...base,
      name: 'stage-probe',
      memory: { selection: 'random', perClass: 2 },
      lossTerms(step) {
        if (step.task.index === 1 && step.epoch === 0) replaySeen.push(step.batch.replay.sum().arraySync() as number);
        return base.lossTerms(step);
      },
      async afterTask(ctx) {
        if (ctx.task.index !== 1) return;
        const net = ctx.net as import('../kernel-lib/models/index').Network;
        const headVars = net.head.trainableVariables;
        headBefore = headVars[0].dataSync().slice() as Float32Array;
        backboneBefore = net.backbone.trainableVariables[0].dataSync().slice() as Float32Array;
        const memory = ctx.services.memory();
        await ctx.services.trainLoop({
          data: { newIndices: new Int32Array(0), replayIndices: Int32Array.from([...memory.values()].flatMap((m) => [...m])) },
          epochs: 1,
          learningRate: 0.01,
          variables: headVars,
          lossTerms: (step) => ({ balanced: crossEntropy(step.student().logits, step.batch.y) }),
          stage: 'head-only',
        });
        expect(Array.from(headVars[0].dataSync())).not.toEqual(Array.from(headBefore));
        expect(Array.from(net.backbone.trainableVariables[0].dataSync())).toEqual(Array.from(backboneBefore));
      },
    };
    const events: ProgressEvent[] = [];
    const run = await createRun(baseOptions({ method, onProgress: (e) => events.push(e) }));
    await run.trainTask();
    const m1 = await run.trainTask();
    expect(replaySeen.reduce((a, b) => a + b, 0)).toBe(4); // 2 old classes x 2 exemplars, once per epoch
    expect(m1.replayImages).toBe(4);
    expect(m1.stages.map((s) => s.stage)).toEqual(['train', 'head-only']);
    expect(m1.stages[1].terms).toHaveProperty('balanced');
    expect(m1.memorySize).toBe(8);
    expect(headBefore).not.toBeNull();
    expect(events.some((e) => e.type === 'epoch' && e.stage === 'head-only')).toBe(true);
    run.dispose();
  });

  it('composes ratio-preserving batches when trainingData sets replayRatio (SS-IL)', async () => {
    const composition: { replay: number; total: number }[] = [];
    const base = createFinetune();
    const method: Method = {
      ...base,
      name: 'ratio-probe',
      memory: { selection: 'random', perClass: 3 },
      trainingData: (_ctx, defaults) => ({ ...defaults, replayRatio: 0.5 }),
      lossTerms(step) {
        if (step.task.index === 1) composition.push({ replay: step.batch.replay.sum().arraySync() as number, total: step.batch.y.shape[0] });
        return base.lossTerms(step);
      },
    };
    const run = await createRun(baseOptions({ method, epochs: 1, batchSize: 4 }));
    await run.trainTask();
    await run.trainTask();
    // 12 new images, batch 4 -> floor(12 / 4) = 3 steps of 4 new + round(4 * 0.5) = 2 replayed.
    expect(composition).toEqual([
      { replay: 2, total: 6 },
      { replay: 2, total: 6 },
      { replay: 2, total: 6 },
    ]);
    run.dispose();
  });

  it('prints one line per epoch in lines mode', async () => {
    const lines: string[] = [];
    const original = console.log;
    console.log = (...args: unknown[]) => void lines.push(args.join(' '));
    try {
      const run = await createRun(baseOptions({ quiet: false, progress: 'lines', epochs: 2 }));
      await run.trainTask();
      run.dispose();
    } finally {
      console.log = original;
    }
    expect(lines[0]).toMatch(/^task 1\/3: classes 0-1, 12 new \+ 0 replay images$/);
    expect(lines[1]).toMatch(/^task 1\/3 epoch 1\/2: loss \d+\.\d{4} lr 0\.0500 \d+ img\/s/);
    expect(lines[2]).toMatch(/^task 1\/3 epoch 2\/2: loss \d+\.\d{4} lr 0\.0250 /);
    expect(lines[3]).toMatch(/^task 1\/3 done: accuracy \d+\.\d\d% in /);
  });

  it('joint trains on every seen class', async () => {
    const run = await createRun(baseOptions({ method: 'joint', epochs: 1 }));
    const m0 = await run.trainTask();
    const m1 = await run.trainTask();
    expect(m0.trainImages).toBe(12);
    expect(m1.trainImages).toBe(24);
    expect(m1.replayImages).toBe(0);
    run.dispose();
  });
});
