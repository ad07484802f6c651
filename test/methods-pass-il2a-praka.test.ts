/**
 * The exemplar-free prototype family: PASS, IL2A, PRAKA. Each trains three tasks through createRun with a flat
 * tensor count; each distinctive mechanism is checked against a direct computation; `kd: false` zeroes exactly
 * the KD terms and leaves every other term unchanged on the same batch. Also the Beta/Gamma/Gaussian sampling.
 *
 * Data: a small synthetic ImageDataset (the embedded dataset's loader has not landed); 6 classes, 3 tasks of 2,
 * 16x16 images, ResNet-32 at width 0.25 with one block per stage, 1 epoch per task.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { comparable } from './helpers/comparable-metrics';
import { tf } from '../kernel-lib/tf';
import { initBackend } from '../kernel-lib/backend/index';
import type { ImageDataset } from '../kernel-lib/data/types';
import { classColouredDataset } from './data-helpers';
import type { Batch, Method, StepContext, TaskContext, TrainerServices } from '../kernel-lib/methods/types';
import { createMethod, methodNames } from '../kernel-lib/methods/registry';
import { createRun, type Run, type RunOptions } from '../kernel-lib/train/index';
import { createRandom } from '../kernel-lib/train/rng';
import { learningRateAt, validateScheduleSpec, type ScheduleSpec } from '../kernel-lib/train/optim';
import { crossEntropy } from '../kernel-lib/losses/index';
import { LinearHead, mixedClassIndex, type Network } from '../kernel-lib/models/index';
import { fillStandardNormal, randomInt, sampleBeta, sampleGamma, standardNormal } from '../kernel-lib/methods/shared/sampling';
import { PASS_ROTATED_HEAD, createPass, passJointOf, type PassState } from '../kernel-lib/methods/pass';
import { sampleOldPrototypes } from '../kernel-lib/methods/shared/prototypes';
import { rot90, rotateBatch } from '../kernel-lib/methods/shared/rotation';
import { applyClassAug, classAugPlan, createIl2a, IL2A_DEFAULTS, IL2A_MIXUP_HEAD, type Il2aState } from '../kernel-lib/methods/il2a';
import {
  createPraka, PRAKA_DEFAULTS, PRAKA_JOINT_HEAD, PRAKA_RECIPE, reminiscencePlan, reminiscentPrototypes, type PrakaState,
} from '../kernel-lib/methods/praka';

// ------------------------------------------------------------------------------------------------------------
// Fixtures


const DATASET: ImageDataset = classColouredDataset('synthetic-prototype-family', { classes: 6, trainPerClass: 6, testPerClass: 3, size: 16 });

const SEED = 11;

function runOptions(method: Method, extra: Partial<RunOptions> = {}): RunOptions {
  return {
    dataset: DATASET,
    scenario: { initial: 2, increment: 2 },
    classOrder: [3, 0, 5, 1, 4, 2],
    method,
    backbone: { kind: 'resnet32', width: 0.25, blocksPerStage: 1 },
    seed: SEED,
    optimizer: { kind: 'adam', lr: 0.001, weightDecay: 2e-4 },
    epochs: 1,
    batchSize: 6,
    evalBatchSize: 32,
    quiet: true,
    ...extra,
  };
}

async function trainedRun(method: Method, onTask?: (run: Run, task: number) => void) {
  const perStep: number[][] = [[], [], []];
  const before = tf.memory().numTensors;
  const run = await createRun(
    runOptions(method, {
      onProgress: (e) => {
        if (e.type === 'step') perStep[e.task].push(tf.memory().numTensors);
      },
    }),
  );
  const afterTask: number[] = [];
  const terms: Record<string, number>[] = [];
  for (let t = 0; t < 3; t++) {
    const metrics = await run.trainTask();
    terms.push(metrics.terms);
    afterTask.push(tf.memory().numTensors);
    onTask?.(run, t);
  }
  return { run, before, perStep, afterTask, terms };
}

function expectFlatTensorCounts(perStep: number[][], afterTask: number[]): void {
  for (const counts of perStep) {
    expect(counts.length).toBeGreaterThanOrEqual(2);
    expect(new Set(counts).size).toBe(1);
  }
  expect(perStep[2][0]).toBe(perStep[1][0]);
  expect(afterTask[2]).toBe(afterTask[1]);
}

/** Normalised, un-augmented training images (relabelled dataset) as a tensor. */
function trainImages(run: Run, indices: Int32Array): tf.Tensor4D {
  const { train, mean, std } = run.state.dataset;
  const pixel = train.height * train.width * 3;
  const x = new Float32Array(indices.length * pixel);
  indices.forEach((i, k) => {
    for (let p = 0; p < pixel; p++) x[k * pixel + p] = (train.images[i * pixel + p] / 255 - mean[p % 3]) / std[p % 3];
  });
  return tf.tensor4d(x, [indices.length, train.height, train.width, 3]);
}

function indicesOfClasses(run: Run, start: number, end: number): Int32Array {
  const labels = run.state.dataset.train.labels;
  return Int32Array.from(Array.from(labels.keys()).filter((i) => labels[i] >= start && labels[i] < end));
}

/** Eval-mode features straight from the network (no trainer code), as float64 rows. */
function directFeatures(run: Run, indices: Int32Array): number[][] {
  const f = tf.tidy(() => run.state.net.forward(trainImages(run, indices), { training: false }).features);
  const rows = f.arraySync() as number[][];
  f.dispose();
  return rows;
}

function meanRows(rows: number[][]): number[] {
  const out = new Array(rows[0].length).fill(0);
  for (const r of rows) r.forEach((v, d) => (out[d] += v / rows.length));
  return out;
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tolerance = 1e-4): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(want[i])));
}

/**
 * A hand-built step at task `taskIndex` on the run's network (a fresh frozen clone as the teacher), for calling a
 * method's hooks directly on a fixed batch with a fixed random stream.
 */
interface ManualTask {
  ctx: TaskContext;
  teacher: Network;
  batch(): Batch;
  /** prepareBatch + lossTerms with `method` (its own `kd`), the random source seeded by `randomSeed`. */
  terms(method: Method, randomSeed: number): Record<string, number>;
  dispose(): void;
}

function manualTask(run: Run, method: Method, taskIndex: number): ManualTask {
  const task = run.state.tasks[taskIndex];
  const net = run.state.net;
  const teacher = net.clone(false);
  let random = createRandom(1);
  const services: TrainerServices = {
    trainLoop: async () => {
      throw new Error('not in this test');
    },
    features: (indices) => tf.tidy(() => net.forward(trainImages(run, indices), { training: false }).features),
    labels: (indices) => Int32Array.from(indices, (i) => run.state.dataset.train.labels[i]),
    taskIndices: (spec) => indicesOfClasses(run, spec.start, spec.end),
    memory: () => new Map(),
    random: () => random,
  };
  const ctx: TaskContext = {
    task, oldClasses: task.start, seenClasses: task.end, totalClasses: 6, net, teacher, kd: true, seed: SEED, services, state: run.state.methodState,
  };
  method.beforeTask?.(ctx);
  // Two images of each of the task's classes.
  const picked = Int32Array.from(
    Array.from({ length: task.end - task.start }, (_, c) => Array.from(indicesOfClasses(run, task.start + c, task.start + c + 1)).slice(0, 2)).flat(),
  );
  const batch = (): Batch => ({
    x: trainImages(run, picked),
    y: tf.tensor1d(services.labels(picked), 'int32'),
    replay: tf.zeros([picked.length]),
  });
  return {
    ctx,
    teacher,
    batch,
    terms(m: Method, randomSeed: number) {
      random = createRandom(randomSeed);
      return tf.tidy(() => {
        const local: TaskContext = { ...ctx, kd: m.config.kd };
        const prepared = m.prepareBatch ? m.prepareBatch(local, batch()) : batch();
        let student: ReturnType<Network['forward']> | undefined;
        let teacherOut: ReturnType<Network['forward']> | undefined;
        const step: StepContext = {
          ...local,
          batch: prepared,
          epoch: 0,
          step: 0,
          student: () => (student ??= net.forward(prepared.x, { training: true })),
          teacherOut: () => (teacherOut ??= teacher.forward(prepared.x, { training: false })),
        };
        const terms = m.lossTerms(step);
        return Object.fromEntries(Object.entries(terms).map(([k, v]) => [k, v.dataSync()[0]]));
      }) as Record<string, number>;
    },
    dispose() {
      teacher.dispose();
    },
  };
}

/** Runs both configs on the same batch and random stream: KD terms exactly 0 when off, the rest identical. */
function expectKdRemoval(run: Run, on: Method, off: Method, taskIndex: number): void {
  const manual = manualTask(run, on, taskIndex);
  try {
    const withKd = manual.terms(on, 1234);
    const withoutKd = manual.terms(off, 1234);
    expect(Object.keys(withoutKd).sort()).toEqual(Object.keys(withKd).sort());
    expect(off.kdTerms).toEqual(on.kdTerms);
    for (const name of on.kdTerms) {
      expect(withoutKd[name]).toBe(0);
      expect(withKd[name]).toBeGreaterThan(0);
    }
    for (const name of Object.keys(withKd).filter((n) => !on.kdTerms.includes(n))) {
      expect(Number.isFinite(withKd[name])).toBe(true);
      expect(withoutKd[name]).toBe(withKd[name]);
    }
  } finally {
    manual.dispose();
  }
}

beforeAll(async () => {
  await initBackend({ log: false });
});

// ------------------------------------------------------------------------------------------------------------

describe('sampling (seeded Gaussian, Gamma by Marsaglia-Tsang, Beta)', () => {
  const moments = (draw: () => number, n = 20000) => {
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const v = draw();
      sum += v;
      sq += v * v;
    }
    const mean = sum / n;
    return { mean, variance: sq / n - mean * mean };
  };

  it('N(0, 1), Gamma(k) and Beta(a, a) have the right mean and variance (within 5 standard errors)', () => {
    const random = createRandom(3);
    const n = 20000;
    const check = (m: { mean: number; variance: number }, mean: number, variance: number) => {
      expect(Math.abs(m.mean - mean)).toBeLessThan(5 * Math.sqrt(variance / n));
      expect(Math.abs(m.variance - variance) / variance).toBeLessThan(0.06);
    };
    check(moments(() => standardNormal(random), n), 0, 1);
    const buffer = new Float64Array(7);
    let at = buffer.length;
    check(moments(() => (at === buffer.length ? (fillStandardNormal(random, buffer), (at = 1), buffer[0]) : buffer[at++]), n), 0, 1);
    check(moments(() => sampleGamma(random, 3), n), 3, 3);
    check(moments(() => sampleGamma(random, 0.5), n), 0.5, 0.5);
    // Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)).
    check(moments(() => sampleBeta(random, 20, 20), n), 0.5, 1 / (4 * 41));
    check(moments(() => sampleBeta(random, 0.5, 0.5), n), 0.5, 1 / 8);
  });

  it('is deterministic for a seed, and randomInt stays in range', () => {
    const a = createRandom(42);
    const b = createRandom(42);
    for (let i = 0; i < 200; i++) expect(sampleBeta(a, 0.5, 0.5)).toBe(sampleBeta(b, 0.5, 0.5));
    for (let i = 0; i < 1000; i++) {
      const k = randomInt(a, 3);
      expect(k >= 0 && k < 3 && Number.isInteger(k)).toBe(true);
    }
    expect(() => sampleBeta(a, 0, 1)).toThrow(/Beta/);
  });
});

describe('registry and configs', () => {
  it('registers pass, il2a and praka with their typed defaults', () => {
    expect(methodNames()).toEqual(expect.arrayContaining(['pass', 'il2a', 'praka']));
    expect(createMethod('pass').config).toMatchObject({ kd: true, kdWeight: 10, protoAugWeight: 10, temperature: 0.1 });
    expect(createMethod('il2a').config).toMatchObject({ kdWeight: 10, semanticWeight: 10, isdaRatio: 2.5, mixupAlpha: 20, mixTimes: 4 });
    expect(createMethod('praka').config).toMatchObject({ kdWeight: 15, protoAugWeight: 15, reminiscenceAlpha: 0.5, lambdaCap: 0.6 });
    expect(createMethod('pass', { kd: false }).config.kd).toBe(false);
    expect(createPass().kdTerms).toEqual(['feature-kd']);
    expect(createIl2a().kdTerms).toEqual(['feature-kd']);
    expect(createPraka().kdTerms).toEqual(['akd', 'proto-akd', 'feature-kd']);
    expect(createPraka({ asymmetricKdIsKd: false }).kdTerms).toEqual(['feature-kd']);
    for (const m of [createPass(), createIl2a(), createPraka()]) expect(m.memory).toBeNull();
  });

  it('refuses bad configs with the field named', () => {
    expect(() => createPass({ temperature: 0 })).toThrow(/pass: temperature/);
    expect(() => createIl2a({ lambdaMin: 0.7 })).toThrow(/il2a: need 0 <= lambdaMin/);
    expect(() => createPraka({ kdWeight: -1 })).toThrow(/praka: kdWeight/);
    expect(() => createMethod('praka', { nope: 1 })).toThrow(/unknown config key 'nope'/);
  });

  it("PRAKA's schedule is CosineAnnealingLR(T_max=32): torch's values after k steps, period 64, whatever the epochs", () => {
    const schedule = PRAKA_RECIPE.schedule!;
    expect(schedule).toEqual({ kind: 'cosine', tMax: 32, offset: 1 });
    expect(() => validateScheduleSpec(schedule, 'schedule')).not.toThrow();
    const lr = PRAKA_RECIPE.optimizer!.lr;
    // Epoch e trains after e + 1 scheduler steps (jointSSL.py steps at the start of each epoch).
    const atStep = { ...schedule, offset: 0 } as ScheduleSpec;
    for (const e of [0, 15, 31, 63]) expect(learningRateAt(schedule, lr, e, 100)).toBe(learningRateAt(atStep, lr, e + 1, 100));
    // lr (1 + cos(pi k / 32)) / 2 by hand: 1 at k = 0, 1/2 at 16, 0 at 32, rising again to 1 at 64.
    const byHand: [number, number][] = [
      [0, lr],
      [16, lr / 2],
      [31, (lr * (1 - Math.cos(Math.PI / 32))) / 2],
      [32, 0],
      [33, (lr * (1 - Math.cos(Math.PI / 32))) / 2],
      [48, lr / 2],
      [64, lr],
      [65, (lr * (1 + Math.cos(Math.PI / 32))) / 2],
      [96, 0],
      [99, (lr * (1 - Math.cos((3 * Math.PI) / 32))) / 2],
    ];
    for (const [k, expected] of byHand) expect(learningRateAt(atStep, lr, k, 100), `k = ${k}`).toBeCloseTo(expected, 15);
    // torch 1.13: CosineAnnealingLR(SGD(lr=0.1), T_max=32), param_groups[0]['lr'] after k scheduler.step() calls.
    const torch: [number, number][] = [
      [16, 0.05],
      [33, 0.00024076366639015357],
      [65, 0.0997592363336099],
      [80, 0.05000000000000004],
      [96, 0],
    ];
    for (const [k, expected] of torch) expect(learningRateAt(atStep, 0.1, k, 100), `torch k = ${k}`).toBeCloseTo(expected, 13);
    // T_max does not follow the stage's length.
    expect(learningRateAt(schedule, lr, 10, 20)).toBe(learningRateAt(schedule, lr, 10, 100));
  });
});

// ------------------------------------------------------------------------------------------------------------

describe('PASS', () => {
  let trained: Awaited<ReturnType<typeof trainedRun>>;
  /** Class means and radius computed directly after each task, with the network of that moment. */
  const expectedMeans: number[][] = [];
  let expectedRadius = NaN;

  beforeAll(async () => {
    // Plain images, so the statistics can be recomputed here exactly (the augmented default is tested below).
    trained = await trainedRun(createPass({ prototypeImages: 'plain' }), (run, t) => {
      const task = run.state.tasks[t];
      for (let c = task.start; c < task.end; c++) {
        const rows = directFeatures(run, indicesOfClasses(run, c, c + 1));
        expectedMeans[c] = meanRows(rows);
        if (t === 0) {
          // r = sqrt(mean_c trace(cov_c) / D), unbiased covariance.
          const mu = expectedMeans[c];
          const trace = rows.reduce((s, r) => s + r.reduce((q, v, d) => q + (v - mu[d]) ** 2, 0), 0) / (rows.length - 1);
          expectedRadius = (Number.isNaN(expectedRadius) ? 0 : expectedRadius) + trace / mu.length / (task.end - task.start);
        }
      }
      if (t === 0) expectedRadius = Math.sqrt(expectedRadius);
    });
  }, 120_000);

  afterAll(() => trained?.run.dispose());

  it('trains three tasks through createRun with a flat tensor count and finite terms', () => {
    expectFlatTensorCounts(trained.perStep, trained.afterTask);
    expect(Object.keys(trained.terms[0]).sort()).toEqual(['ce', 'feature-kd', 'proto-aug']);
    expect(trained.terms[0]['proto-aug']).toBe(0);
    expect(trained.terms[0]['feature-kd']).toBe(0);
    for (const t of [1, 2]) {
      expect(trained.terms[t]['proto-aug']).toBeGreaterThan(0);
      expect(trained.terms[t]['feature-kd']).toBeGreaterThan(0);
    }
    const head = trained.run.state.net.head as LinearHead;
    expect(head.outputs).toBe(6);
    expect(trained.run.state.net.aux[PASS_ROTATED_HEAD].outputs).toBe(18);
  });

  it('rot90 matches torch.rot90(x, k, (2, 3)) and rotateBatch lays out 4B rows with labels 4y + r', () => {
    // torch.rot90(torch.arange(9.).view(1, 1, 3, 3), k, (2, 3)), printed with torch 1.13.
    const torchRot = [
      [0, 1, 2, 3, 4, 5, 6, 7, 8],
      [2, 5, 8, 1, 4, 7, 0, 3, 6],
      [8, 7, 6, 5, 4, 3, 2, 1, 0],
      [6, 3, 0, 7, 4, 1, 8, 5, 2],
    ];
    const x = tf.tensor4d(Array.from({ length: 9 }, (_, i) => i), [1, 3, 3, 1]);
    torchRot.forEach((want, k) => {
      const r = rot90(x, k);
      expect(Array.from(r.dataSync())).toEqual(want);
      r.dispose();
    });
    x.dispose();

    tf.tidy(() => {
      const images = tf.tensor4d(Array.from({ length: 2 * 4 * 3 }, (_, i) => i), [2, 2, 2, 3]);
      const batch = rotateBatch({ x: images, y: tf.tensor1d([5, 2], 'int32'), replay: tf.tensor1d([0, 1]) });
      expect(batch.images).toBe(2);
      expect(batch.x.shape).toEqual([8, 2, 2, 3]);
      expect(Array.from(batch.y.dataSync())).toEqual([20, 21, 22, 23, 8, 9, 10, 11]);
      expect(Array.from(batch.classes.dataSync())).toEqual([5, 5, 5, 5, 2, 2, 2, 2]);
      expect(Array.from(batch.replay.dataSync())).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
      for (let b = 0; b < 2; b++) {
        for (let r = 0; r < 4; r++) {
          const want = rot90(images.slice([b, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D, r).dataSync();
          expect(Array.from(batch.x.slice([4 * b + r, 0, 0, 0], [1, -1, -1, -1]).dataSync())).toEqual(Array.from(want));
        }
      }
    });
  });

  it('stores class means of the training features as prototypes, and the first task radius', () => {
    const state = trained.run.state.methodState.pass as PassState;
    expect(state.classes).toBe(6);
    expect(state.dim).toBe(trained.run.state.net.featureDim);
    for (let c = 0; c < 6; c++) expectClose(state.means.subarray(c * state.dim, (c + 1) * state.dim), expectedMeans[c]);
    expect(state.radius).toBeCloseTo(expectedRadius, 4);
    expect(state.radius).toBeGreaterThan(0);
  });

  it('infers with the rotation-0 logits only: network logits = joint columns 4y, rotation heads ignored', () => {
    const run = trained.run;
    const net = run.state.net;
    const testIndices = Int32Array.from({ length: 8 }, (_, i) => i);
    tf.tidy(() => {
      const out = net.forward(trainImages(run, testIndices), { training: false });
      const joint = passJointOf(net, out.features);
      expect(joint.shape).toEqual([8, 24]);
      const columns = tf.gather(joint, tf.tensor1d(Array.from({ length: 6 }, (_, y) => 4 * y), 'int32'), 1);
      expectClose(out.logits.dataSync(), columns.dataSync(), 1e-5);
    });
    const before = run.evaluate();
    const rotated = net.aux[PASS_ROTATED_HEAD] as LinearHead;
    const saved = rotated.weights!.clone();
    tf.tidy(() => rotated.weights!.assign(tf.mul(tf.randomNormal(saved.shape, 0, 1, 'float32', 3), 100) as tf.Tensor2D));
    const after = run.evaluate();
    rotated.weights!.assign(saved);
    saved.dispose();
    expect(Array.from(after.predictions)).toEqual(Array.from(before.predictions));
    expect(before.fromMethod).toBe(false);
  });

  it('augments old prototypes with radius-scaled noise and labels them 4c', () => {
    const run = trained.run;
    const method = createPass();
    const manual = manualTask(run, method, 2);
    try {
      const terms = manual.terms(method, 77);
      // Replay the same draws: per sample the class, then its D normals.
      const state = run.state.methodState.pass as PassState;
      const random = createRandom(77);
      const { rows, classes } = sampleOldPrototypes(state, 4, 4, random);
      const noise = new Float32Array(state.dim);
      for (let k = 0; k < 4; k++) {
        fillStandardNormal(random, noise);
        for (let d = 0; d < state.dim; d++) rows[k * state.dim + d] += noise[d] * state.radius;
      }
      const want = tf.tidy(() => {
        const joint = passJointOf(run.state.net, tf.tensor2d(rows, [4, state.dim]));
        return crossEntropy(joint, Int32Array.from(classes, (c) => 4 * c), { temperature: 0.1 }).mul(10).dataSync()[0];
      });
      expect(terms['proto-aug']).toBeCloseTo(want, 4);
      for (const c of classes) expect(c >= 0 && c < 4).toBe(true);
    } finally {
      manual.dispose();
    }
  });

  it('kd: false zeroes exactly the feature KD and leaves the other terms unchanged', () => {
    expectKdRemoval(trained.run, createPass(), createPass({ kd: false }), 2);
  });

  it('frees every tensor on dispose', () => {
    trained.run.dispose();
    expect(tf.memory().numTensors).toBe(trained.before);
  });
});

// ------------------------------------------------------------------------------------------------------------

describe('IL2A', () => {
  let trained: Awaited<ReturnType<typeof trainedRun>>;
  const expectedCovariances: number[][][] = [];

  beforeAll(async () => {
    trained = await trainedRun(createIl2a({ prototypeImages: 'plain' }), (run, t) => {
      const task = run.state.tasks[t];
      for (let c = task.start; c < task.end; c++) {
        const rows = directFeatures(run, indicesOfClasses(run, c, c + 1));
        const mu = meanRows(rows);
        expectedCovariances[c] = mu.map((_, a) => mu.map((__, b) => rows.reduce((s, r) => s + (r[a] - mu[a]) * (r[b] - mu[b]), 0) / (rows.length - 1)));
      }
    });
  }, 120_000);

  afterAll(() => trained?.run.dispose());

  it('trains three tasks through createRun with a flat tensor count and finite terms', () => {
    expectFlatTensorCounts(trained.perStep, trained.afterTask);
    expect(Object.keys(trained.terms[0]).sort()).toEqual(['ce', 'feature-kd', 'semantic-aug']);
    expect(trained.terms[0]['semantic-aug']).toBe(0);
    for (const t of [1, 2]) {
      expect(trained.terms[t]['semantic-aug']).toBeGreaterThan(0);
      expect(trained.terms[t]['feature-kd']).toBeGreaterThan(0);
    }
    // The virtual classes live for one task only.
    expect(trained.run.state.net.aux[IL2A_MIXUP_HEAD]).toBeUndefined();
    expect(trained.run.state.net.head.outputs).toBe(6);
  });

  it('mixup lambda always lies in [0.4, 0.6] (0.5 after a reset) and virtual labels index the mixed pair', () => {
    const random = createRandom(9);
    const task = { start: 4, end: 8 };
    // Virtual index of {a, b} by enumerating the pairs i < j in lexicographic order.
    const pairIndex = new Map<string, number>();
    for (let i = 0, k = 0; i < 4; i++) for (let j = i + 1; j < 4; j++) pairIndex.set(`${i},${j}`, k++);
    let mixed = 0;
    let resets = 0;
    for (let trial = 0; trial < 200; trial++) {
      const labels = Int32Array.from({ length: 10 }, () => task.start + randomInt(random, 4));
      const plan = classAugPlan(labels, task, IL2A_DEFAULTS, random);
      for (let k = 0; k < plan.first.length; k++) {
        const a = labels[plan.first[k]] - task.start;
        const b = labels[plan.second[k]] - task.start;
        expect(a).not.toBe(b);
        expect(plan.virtual[k]).toBe(pairIndex.get(`${Math.min(a, b)},${Math.max(a, b)}`));
        expect(plan.virtual[k]).toBe(mixedClassIndex(a, b, 4));
        expect(plan.lambdas[k]).toBeGreaterThanOrEqual(0.4);
        expect(plan.lambdas[k]).toBeLessThanOrEqual(0.6);
        if (plan.lambdas[k] === 0.5) resets++;
      }
      mixed += plan.first.length;
      expect(plan.first.length).toBeLessThanOrEqual(4 * labels.length);
    }
    // P(Beta(20, 20) outside [0.4, 0.6]) is about 0.2: the resets happen, and not always.
    expect(resets / mixed).toBeGreaterThan(0.1);
    expect(resets / mixed).toBeLessThan(0.3);
    // Same-class pairs and classes outside the task are never mixed.
    const none = classAugPlan(Int32Array.from([4, 4, 4, 1, 1]), task, IL2A_DEFAULTS, random);
    expect(none.first.length).toBe(0);
  });

  it('appends lambda x_a + (1 - lambda) x_b with label seen + virtual', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([3, 2, 2, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
      const plan = { first: Int32Array.from([0, 2]), second: Int32Array.from([1, 0]), lambdas: Float64Array.from([0.45, 0.5]), virtual: Int32Array.from([0, 1]) };
      const batch = applyClassAug({ x, y: tf.tensor1d([4, 5, 6], 'int32'), replay: tf.zeros([3]) }, plan, 7);
      expect(batch.images).toBe(3);
      expect(batch.x.shape).toEqual([5, 2, 2, 3]);
      expect(Array.from(batch.y.dataSync())).toEqual([4, 5, 6, 7, 8]);
      expect(Array.from(batch.replay.dataSync())).toEqual([0, 0, 0, 0, 0]);
      const rows = x.arraySync().map((r) => r.flat(2));
      const got = batch.x.arraySync().map((r) => r.flat(2));
      expectClose(got[3], rows[0].map((v, i) => 0.45 * v + 0.55 * rows[1][i]), 1e-6);
      expectClose(got[4], rows[2].map((v, i) => 0.5 * v + 0.5 * rows[0][i]), 1e-6);
    });
  });

  it('stores class means and class-indexed covariances after each task', () => {
    const state = trained.run.state.methodState.il2a as Il2aState;
    expect(state.classes).toBe(6);
    expect(state.covariances.shape).toEqual([6, state.dim, state.dim]);
    const cov = state.covariances.arraySync();
    for (let c = 0; c < 6; c++) expectClose(cov[c].flat(), expectedCovariances[c].flat(), 1e-3);
  });

  it('kd: false zeroes exactly the feature KD and leaves the other terms unchanged', () => {
    expectKdRemoval(trained.run, createIl2a(), createIl2a({ kd: false }), 2);
  });


  it('frees every tensor on dispose', () => {
    trained.run.dispose();
    expect(tf.memory().numTensors).toBe(trained.before);
  });

  // After the dispose check: resuming currently leaks one tensor per network variable in the trainer's checkpoint
  // decoding (train/checkpoint.ts decodeValue keeps the tensor it wraps in tf.variable), which is not IL2A's.
  it('resumes from a task checkpoint (prototypes, covariance tensor, random streams) to the same metrics', async () => {
    const uninterrupted = comparable(trained.run.state.metrics.tasks);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-il2a-'));
    try {
      const first = await createRun(runOptions(createIl2a({ prototypeImages: 'plain' }), { checkpointDir: dir }));
      await first.trainTask();
      await first.trainTask();
      first.dispose();
      const resumed = await createRun(runOptions(createIl2a({ prototypeImages: 'plain' }), { resumeFrom: dir }));
      expect(resumed.state.completedTasks).toBe(2);
      expect((resumed.state.methodState.il2a as Il2aState).covariances.shape[0]).toBe(4);
      await resumed.trainTask();
      expect(comparable(resumed.state.metrics.tasks)).toEqual(uninterrupted);
      resumed.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

// ------------------------------------------------------------------------------------------------------------

describe('PRAKA', () => {
  let trained: Awaited<ReturnType<typeof trainedRun>>;

  beforeAll(async () => {
    trained = await trainedRun(createPraka());
  }, 120_000);

  afterAll(() => trained?.run.dispose());

  it('trains three tasks through createRun with a flat tensor count and finite terms', () => {
    expectFlatTensorCounts(trained.perStep, trained.afterTask);
    expect(Object.keys(trained.terms[0]).sort()).toEqual(['akd', 'ce', 'feature-kd', 'joint-ce', 'proto-akd', 'proto-ce', 'proto-joint-ce']);
    expect(trained.terms[0]['proto-ce']).toBe(0);
    expect(trained.terms[0]['akd']).toBeGreaterThan(0);
    for (const t of [1, 2]) for (const name of ['proto-ce', 'proto-joint-ce', 'feature-kd']) expect(trained.terms[t][name]).toBeGreaterThan(0);
    const net = trained.run.state.net;
    expect(net.head.outputs).toBe(6);
    expect(net.aux[PRAKA_JOINT_HEAD].outputs).toBe(24);
    const state = trained.run.state.methodState.praka as PrakaState;
    expect(state.classes).toBe(6);
  });

  it('reminiscence draws: any rotated feature row, an old class, lambda ~ Beta(0.5, 0.5) capped by x0.6 above 0.6', () => {
    const random = createRandom(21);
    const n = 20000;
    const plan = reminiscencePlan(n, 24, 5, PRAKA_DEFAULTS, random);
    let belowCut = 0;
    let extrapolated = 0;
    const rowsSeen = new Set<number>();
    for (let k = 0; k < n; k++) {
      expect(plan.lambdas[k]).toBeGreaterThanOrEqual(0);
      expect(plan.lambdas[k]).toBeLessThanOrEqual(0.6 + 1e-7);
      expect(plan.classes[k] >= 0 && plan.classes[k] < 5).toBe(true);
      rowsSeen.add(plan.rows[k]);
      if (plan.lambdas[k] <= 0.36) belowCut++;
      extrapolated += plan.extrapolate[k];
    }
    expect(rowsSeen.size).toBe(24); // all 4B rows, every rotation
    // lambda <= 0.36 only when Beta drew it there (capped values lie in (0.36, 0.6]):
    // P = I_0.36(1/2, 1/2) = (2 / pi) asin(sqrt(0.36)).
    const p = (2 / Math.PI) * Math.asin(0.6);
    expect(Math.abs(belowCut / n - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));
    expect(Math.abs(extrapolated / n - 0.5)).toBeLessThan(5 * Math.sqrt(0.25 / n));
  });

  it('mixes prototypes as (1 + l) mu - l f or (1 - l) mu + l f, with no gradient into the features', () => {
    const store = { dim: 3, classes: 2, means: Float32Array.from([1, 2, 3, -1, 0, 4]) };
    const plan = { rows: Int32Array.from([1, 0]), classes: Int32Array.from([1, 0]), lambdas: Float64Array.from([0.25, 0.5]), extrapolate: Uint8Array.from([1, 0]) };
    const features = tf.tensor2d([[0.5, 0.5, 0.5], [2, -2, 1]]);
    const mixed = reminiscentPrototypes(store, features, plan);
    expectClose(mixed.dataSync(), [1.25 * -1 - 0.25 * 2, 1.25 * 0 + 0.25 * 2, 1.25 * 4 - 0.25 * 1, 0.5 * 1 + 0.5 * 0.5, 0.5 * 2 + 0.5 * 0.5, 0.5 * 3 + 0.5 * 0.5], 1e-6);
    const grad = tf.grad((f: tf.Tensor) => tf.sum(reminiscentPrototypes(store, f as tf.Tensor2D, plan)))(features);
    expect(Array.from(grad.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
    for (const t of [features, mixed, grad]) t.dispose();
  });

  it('labels reminiscent prototypes with their old class (c for the classifier, 4c for the joint head)', () => {
    const run = trained.run;
    const method = createPraka();
    const manual = manualTask(run, method, 2);
    try {
      const terms = manual.terms(method, 31);
      const store = run.state.methodState.praka as PrakaState;
      const want = tf.tidy(() => {
        const batch = rotateBatch(manual.batch());
        const features = run.state.net.forward(batch.x, { training: true }).features;
        const plan = reminiscencePlan(batch.images, features.shape[0], 4, PRAKA_DEFAULTS, createRandom(31));
        const prototypes = reminiscentPrototypes(store, features, plan);
        const single = run.state.net.head.apply(prototypes, { training: true });
        const joint = run.state.net.applyAux(PRAKA_JOINT_HEAD, prototypes, { training: true });
        return [
          crossEntropy(single, plan.classes, { temperature: 0.1 }).mul(15).dataSync()[0],
          crossEntropy(joint, Int32Array.from(plan.classes, (c) => 4 * c), { temperature: 0.1 }).mul(15).dataSync()[0],
        ];
      });
      expect(terms['proto-ce']).toBeCloseTo(want[0], 3);
      expect(terms['proto-joint-ce']).toBeCloseTo(want[1], 3);
    } finally {
      manual.dispose();
    }
  });

  it('kd: false zeroes the feature KD and both asymmetric KD terms, and leaves the CE terms unchanged', () => {
    expectKdRemoval(trained.run, createPraka(), createPraka({ kd: false }), 2);
  });

  it('with asymmetricKdIsKd: false, kd: false removes only the feature KD', () => {
    expectKdRemoval(trained.run, createPraka({ asymmetricKdIsKd: false }), createPraka({ asymmetricKdIsKd: false, kd: false }), 2);
  });

  it('frees every tensor on dispose', () => {
    trained.run.dispose();
    expect(tf.memory().numTensors).toBe(trained.before);
  });
});

describe('prototype statistics images', () => {
  it("default to the augmented training images, as the official protoSave does; 'plain' is the switch", async () => {
    const { createMethod: create } = await import('../kernel-lib/methods/registry');
    const { currentTaskFeatures } = await import('../kernel-lib/methods/shared/prototypes');
    for (const m of ['pass', 'il2a', 'praka']) expect((create(m).config as { prototypeImages: string }).prototypeImages).toBe('augmented');
    const asked: (boolean | undefined)[] = [];
    const ctx = {
      task: { index: 0, start: 0, end: 2 },
      services: {
        taskIndices: () => Int32Array.from([0, 1]),
        labels: (i: Int32Array) => i,
        features: (_i: Int32Array, _net: unknown, augment?: boolean) => {
          asked.push(augment);
          return tf.zeros([2, 4]) as tf.Tensor2D;
        },
      },
    } as unknown as TaskContext;
    currentTaskFeatures(ctx, 'augmented').features.dispose();
    currentTaskFeatures(ctx, 'plain').features.dispose();
    expect(asked).toEqual([true, false]);
  });

  it('augmented features are the training augmentation of the same images, seeded: they differ from the plain ones and repeat', async () => {
    const { prepareData } = await import('../kernel-lib/train/data');
    const { createNetwork } = await import('../kernel-lib/models/network');
    const data = prepareData(DATASET, { initial: 2, increment: 2 }, undefined);
    const net = createNetwork({ backbone: { kind: 'resnet32', width: 0.25, blocksPerStage: 1 }, seed: 1993 });
    try {
      const indices = data.trainIndicesOfClasses(0, 2).slice(0, 8);
      const read = (seed?: number) => {
        const f = data.features(net, indices, 4, seed);
        const out = f.arraySync() as number[][];
        f.dispose();
        return out;
      };
      const plain = read();
      const a = read(7);
      expect(read(7)).toEqual(a);
      expect(a).not.toEqual(plain);
    } finally {
      net.dispose();
    }
  });
});
