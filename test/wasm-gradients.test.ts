/**
 * The wasm training kernels (kernel-lib/backend/wasm-gradients.ts) against the cpu backend: every rewritten gradient on
 * random inputs, then whole training steps (a conv + BN + ReLU net with each loss kind, and kdcl's own ResNet-32 and
 * losses), to a relative error <= 1e-4 (max |wasm - cpu| / max |cpu| per tensor).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../kernel-lib/tf';
import { initBackend } from '../kernel-lib/backend/index';
import { batchNormTrain } from '../kernel-lib/backend/ops';
import { WASM_TRAINING_KERNELS, registerWasmGradients, wasmGradientsRegistered } from '../kernel-lib/backend/wasm-gradients';
import { CosineHead, LinearHead, createNetwork } from '../kernel-lib/models/index';
import * as losses from '../kernel-lib/losses/index';
import { relativeError } from './helpers/relative-error';

const TOLERANCE = 1e-4;
let worst = 0;

beforeAll(async () => {
  await initBackend({ backend: 'wasm', log: false });
});

afterAll(() => {
  console.log(`[wasm-gradients] largest relative error wasm vs cpu: ${worst.toExponential(2)}`);
});

type BackendName = 'cpu' | 'wasm';


function expectClose(actual: Float32Array | Int32Array, reference: Float32Array | Int32Array, what: string): void {
  const err = relativeError(actual, reference);
  worst = Math.max(worst, err);
  expect(err, `${what}: relative error ${err.toExponential(2)}`).toBeLessThanOrEqual(TOLERANCE);
}

/** Runs f with the given backend active and returns plain arrays (tensors it makes are disposed). */
async function on<T>(backend: BackendName, f: () => T): Promise<T> {
  await tf.setBackend(backend);
  return f();
}

/** Gradients of a scalar function of the inputs, as arrays, computed on one backend. */
async function gradients(backend: BackendName, f: (...xs: tf.Tensor[]) => tf.Scalar, inputs: () => tf.Tensor[]): Promise<Float32Array[]> {
  return on(backend, () => tf.tidy(() => tf.grads(f)(inputs()).map((g) => g.dataSync() as Float32Array)));
}

async function compareGradients(what: string, f: (...xs: tf.Tensor[]) => tf.Scalar, inputs: () => tf.Tensor[]): Promise<void> {
  const wasm = await gradients('wasm', f, inputs);
  const cpu = await gradients('cpu', f, inputs);
  cpu.forEach((reference, i) => expectClose(wasm[i], reference, `${what}, input ${i}`));
}

let seedCounter = 1;
function random(shape: number[]): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, 'float32', seedCounter++);
}

describe('wasm training kernels', () => {
  it('are registered for wasm only', () => {
    expect(wasmGradientsRegistered()).toBe(true);
    registerWasmGradients(); // idempotent: a second call changes nothing
    for (const name of WASM_TRAINING_KERNELS) {
      const wasm = tf.getKernel(name, 'wasm');
      const cpu = tf.getKernel(name, 'cpu');
      expect(wasm, name).toBeDefined();
      expect(cpu?.kernelFunc, `cpu keeps its own ${name}`).not.toBe(wasm?.kernelFunc);
    }
  });
});

describe('conv2d gradients (input and filter), wasm vs cpu', () => {
  type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
  interface ConvCase { batch: number; height: number; width: number; inC: number; outC: number; kernel: [number, number]; stride: [number, number]; pad: Pad }
  const cases: ConvCase[] = [];
  for (const stride of [1, 2]) {
    for (const k of [1, 3]) {
      for (const pad of ['same', 'valid'] as const) {
        cases.push({ batch: 1, height: 9, width: 9, inC: 3, outC: 8, kernel: [k, k], stride: [stride, stride], pad });
        cases.push({ batch: 3, height: 8, width: 8, inC: 8, outC: 5, kernel: [k, k], stride: [stride, stride], pad });
        cases.push({ batch: 2, height: 10, width: 7, inC: 16, outC: 32, kernel: [k, k], stride: [stride, stride], pad });
      }
    }
  }
  cases.push(
    { batch: 2, height: 11, width: 11, inC: 4, outC: 6, kernel: [5, 5], stride: [2, 2], pad: 'same' },
    { batch: 2, height: 9, width: 8, inC: 3, outC: 4, kernel: [3, 1], stride: [2, 1], pad: 'same' },
    { batch: 2, height: 10, width: 10, inC: 3, outC: 4, kernel: [2, 2], stride: [3, 3], pad: 'valid' },
    { batch: 2, height: 8, width: 8, inC: 3, outC: 4, kernel: [3, 3], stride: [2, 2], pad: 1 },
    { batch: 2, height: 8, width: 9, inC: 3, outC: 4, kernel: [3, 3], stride: [2, 2], pad: [[0, 0], [2, 1], [0, 2], [0, 0]] },
    { batch: 1, height: 4, width: 4, inC: 2, outC: 3, kernel: [4, 4], stride: [1, 1], pad: 'valid' },
  );

  it.each(cases)('$batch x $height x $width x $inC -> $outC, kernel $kernel, stride $stride, pad $pad', async (c) => {
    const x = random([c.batch, c.height, c.width, c.inC]);
    const w = random([...c.kernel, c.inC, c.outC]);
    const rounding = typeof c.pad === 'number' ? 'floor' : undefined;
    const probe = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.stride, c.pad, 'NHWC', 1, rounding);
    // Loss sum(y * r) makes dy = r: random, not all ones.
    const r = random(probe.shape);
    probe.dispose();
    const loss = (xIn: tf.Tensor, wIn: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(xIn as tf.Tensor4D, wIn as tf.Tensor4D, c.stride, c.pad, 'NHWC', 1, rounding), r)) as tf.Scalar;
    await compareGradients('conv2d', loss, () => [x, w]);
    tf.dispose([x, w, r]);
  });

  it('forward-pass conv2dTranspose (Conv2DBackpropInput) matches cpu', async () => {
    const dy = random([2, 4, 4, 6]);
    const w = random([3, 3, 5, 6]);
    const run = () => tf.tidy(() => tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, [2, 8, 8, 5], 2, 'same').dataSync() as Float32Array);
    expectClose(await on('wasm', run), await on('cpu', run), 'conv2dTranspose');
    tf.dispose([dy, w]);
  });
});

describe('matMul gradients, wasm vs cpu', () => {
  const cases = [
    { a: [5, 7], b: [7, 3], transposeA: false, transposeB: false },
    { a: [7, 5], b: [7, 3], transposeA: true, transposeB: false },
    { a: [5, 7], b: [3, 7], transposeA: false, transposeB: true },
    { a: [7, 5], b: [3, 7], transposeA: true, transposeB: true },
    { a: [64, 33], b: [33, 100], transposeA: false, transposeB: false },
    { a: [2, 5, 7], b: [2, 7, 4], transposeA: false, transposeB: false },
    { a: [3, 7, 5], b: [3, 4, 7], transposeA: true, transposeB: true },
  ];
  it.each(cases)('a $a, b $b, transposeA $transposeA, transposeB $transposeB', async (c) => {
    const a = random(c.a);
    const b = random(c.b);
    const probe = tf.matMul(a, b, c.transposeA, c.transposeB);
    const r = random(probe.shape);
    probe.dispose();
    const loss = (aIn: tf.Tensor, bIn: tf.Tensor) => tf.sum(tf.mul(tf.matMul(aIn, bIn, c.transposeA, c.transposeB), r)) as tf.Scalar;
    await compareGradients('matMul', loss, () => [a, b]);
    tf.dispose([a, b, r]);
  });

  it('fused matMul with bias and relu (forward and gradient)', async () => {
    const a = random([6, 9]);
    const b = random([4, 9]);
    const bias = random([4]);
    const r = random([6, 4]);
    const fused = (aIn: tf.Tensor, bIn: tf.Tensor, biasIn: tf.Tensor) =>
      tf.fused.matMul({ a: aIn as tf.Tensor2D, b: bIn as tf.Tensor2D, transposeB: true, bias: biasIn, activation: 'relu' });
    const forward = () => tf.tidy(() => fused(a, b, bias).dataSync() as Float32Array);
    expectClose(await on('wasm', forward), await on('cpu', forward), 'fused matMul forward');
    await compareGradients('fused matMul', (aIn, bIn, biasIn) => tf.sum(tf.mul(fused(aIn, bIn, biasIn), r)) as tf.Scalar, () => [a, b, bias]);
    tf.dispose([a, b, bias, r]);
  });
});

describe('gather gradient (UnsortedSegmentSum), wasm vs cpu', () => {
  it('gathers rows and columns with repeated indices', async () => {
    const params = random([6, 5]);
    const rows = tf.tensor1d([0, 2, 2, 5, 0], 'int32');
    const cols = tf.tensor1d([4, 1, 1], 'int32');
    const r0 = random([5, 5]);
    const r1 = random([6, 3]);
    await compareGradients('gather axis 0', (p) => tf.sum(tf.mul(tf.gather(p, rows, 0), r0)) as tf.Scalar, () => [params]);
    await compareGradients('gather axis 1', (p) => tf.sum(tf.mul(tf.gather(p, cols, 1), r1)) as tf.Scalar, () => [params]);
    tf.dispose([params, rows, cols, r0, r1]);
  });

  it('unsortedSegmentSum drops ids outside [0, numSegments), for float32 and int32', async () => {
    const ids = tf.tensor1d([1, 0, 3, -1, 1, 7], 'int32');
    const values = random([6, 2, 3]);
    const ints = tf.tensor2d([[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12]], [6, 2], 'int32');
    const sums = () => tf.tidy(() => [tf.unsortedSegmentSum(values, ids, 4).dataSync(), tf.unsortedSegmentSum(ints, ids, 4).dataSync()]);
    const [wasmFloat, wasmInt] = await on('wasm', sums);
    const [cpuFloat, cpuInt] = await on('cpu', sums);
    expectClose(wasmFloat as Float32Array, cpuFloat as Float32Array, 'unsortedSegmentSum float32');
    expect(Array.from(wasmInt)).toEqual(Array.from(cpuInt));
    expect(Array.from(cpuInt)).toEqual([3, 4, 10, 12, 0, 0, 5, 6]);
    tf.dispose([ids, values, ints]);
  });
});

describe('a training step of a conv + BN + ReLU net, wasm vs cpu', () => {
  const lossKinds = ['cross-entropy', 'kl', 'l2', 'cosine', 'sigmoid-bce', 'slice-concat-gather'] as const;
  type LossKind = (typeof lossKinds)[number];
  const batch = 4;
  const classes = 10;

  /** Fixed initial values (seeded), so both backends start from the same weights. */
  function initialWeights(): Record<string, tf.Tensor> {
    const scaled = (shape: number[], seed: number, std: number) => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed), std);
    return tf.tidy(() => ({
      conv1: scaled([3, 3, 3, 8], 11, 0.3),
      gamma1: tf.add(scaled([8], 12, 0.1), 1),
      beta1: scaled([8], 13, 0.1),
      conv2: scaled([3, 3, 8, 16], 14, 0.15),
      gamma2: tf.add(scaled([16], 15, 0.1), 1),
      beta2: scaled([16], 16, 0.1),
      shortcut: scaled([1, 1, 8, 16], 17, 0.3),
      conv3: scaled([3, 3, 16, 16], 18, 0.1),
      gamma3: tf.add(scaled([16], 19, 0.1), 1),
      beta3: scaled([16], 20, 0.1),
      head: scaled([16, classes], 21, 0.25),
      bias: scaled([classes], 22, 0.1),
    }));
  }

  function forward(v: Record<string, tf.Variable>, x: tf.Tensor4D): { features: tf.Tensor2D; logits: tf.Tensor2D } {
    const a1 = tf.relu(batchNormTrain(tf.conv2d(x, v.conv1 as tf.Tensor4D, 1, 'same'), v.gamma1 as tf.Tensor1D, v.beta1 as tf.Tensor1D).y);
    const a2 = tf.relu(batchNormTrain(tf.conv2d(a1, v.conv2 as tf.Tensor4D, 2, 'same'), v.gamma2 as tf.Tensor1D, v.beta2 as tf.Tensor1D).y);
    const a3 = batchNormTrain(tf.conv2d(a2, v.conv3 as tf.Tensor4D, 1, 'same'), v.gamma3 as tf.Tensor1D, v.beta3 as tf.Tensor1D).y;
    const block = tf.relu(tf.add(a3, tf.conv2d(a1, v.shortcut as tf.Tensor4D, 2, 'same')));
    const features = tf.mean(block, [1, 2]) as tf.Tensor2D;
    return { features, logits: tf.add(tf.matMul(features, v.head as tf.Tensor2D), v.bias) as tf.Tensor2D };
  }

  function loss(kind: LossKind, out: { features: tf.Tensor2D; logits: tf.Tensor2D }, y: tf.Tensor1D): tf.Scalar {
    const { features, logits } = out;
    const teacherLogits = tf.randomNormal([batch, classes], 0, 1, 'float32', 31);
    const teacherFeatures = tf.randomUniform([batch, 16], 0, 1, 'float32', 32);
    const oneHot = tf.oneHot(y, classes).toFloat();
    switch (kind) {
      case 'cross-entropy':
        return tf.losses.softmaxCrossEntropy(oneHot, logits);
      case 'kl': {
        const t = 2;
        const p = tf.softmax(tf.div(teacherLogits, t));
        return tf.mul(tf.sum(tf.mul(p, tf.sub(tf.log(p), tf.logSoftmax(tf.div(logits, t))))), t * t / batch) as tf.Scalar;
      }
      case 'l2':
        return tf.mean(tf.square(tf.sub(features, teacherFeatures))) as tf.Scalar;
      case 'cosine': {
        const cos = tf.sum(tf.mul(tf.div(features, tf.norm(features, 2, 1, true)), tf.div(teacherFeatures, tf.norm(teacherFeatures, 2, 1, true))), 1);
        return tf.mean(tf.sub(1, cos)) as tf.Scalar;
      }
      case 'sigmoid-bce':
        return tf.losses.sigmoidCrossEntropy(oneHot, logits);
      case 'slice-concat-gather': {
        // Old/new logit blocks recombined, and each sample's label logit picked out (margin-style losses do this).
        const old = tf.slice(logits, [0, 0], [-1, 4]);
        const fresh = tf.slice(logits, [0, 4], [-1, -1]);
        const joined = tf.concat([fresh, old], 1);
        const flat = tf.reshape(joined, [-1]);
        const picked = tf.gather(flat, tf.add(tf.mul(tf.range(0, batch, 1, 'int32'), tf.scalar(classes, 'int32')), y));
        return tf.add(tf.mean(tf.relu(tf.sub(1, picked))), tf.mean(tf.square(joined))) as tf.Scalar;
      }
    }
  }

  interface StepResult { loss: number; grads: Record<string, Float32Array>; updated: Record<string, Float32Array>; lossAfter: number }

  async function trainStep(backend: BackendName, kind: LossKind): Promise<StepResult> {
    return on(backend, () => {
      const init = initialWeights();
      const vars = Object.fromEntries(Object.entries(init).map(([name, value]) => [name, tf.variable(value, true)]));
      tf.dispose(Object.values(init));
      const x = tf.randomNormal([batch, 8, 8, 3], 0, 1, 'float32', 41) as tf.Tensor4D;
      const y = tf.tensor1d([3, 7, 0, 9], 'int32');
      const { value, grads } = tf.variableGrads(() => loss(kind, forward(vars, x), y), Object.values(vars));
      const result: StepResult = {
        loss: value.dataSync()[0],
        // variableGrads keys by the engine's variable names; report by ours (weights a loss does not use have none).
        grads: Object.fromEntries(Object.entries(vars).filter(([, v]) => grads[v.name]).map(([name, v]) => [name, grads[v.name].dataSync() as Float32Array])),
        updated: {},
        lossAfter: 0,
      };
      // SGD (the first step of SGD with momentum, whose buffer starts at the gradient). tf.train optimizers keep a
      // tensor or two after dispose(), which would hide what this file checks: that the kernels leak nothing.
      tf.tidy(() => { for (const v of Object.values(vars)) if (grads[v.name]) v.assign(tf.sub(v, tf.mul(grads[v.name], 0.1))); });
      result.updated = Object.fromEntries(Object.entries(vars).map(([name, v]) => [name, v.dataSync() as Float32Array]));
      result.lossAfter = tf.tidy(() => loss(kind, forward(vars, x), y).dataSync()[0]);
      tf.dispose([value, ...Object.values(grads), ...Object.values(vars), x, y]);
      return result;
    });
  }

  it.each(lossKinds)('%s: loss, every gradient, the updated weights and the next loss match', async (kind) => {
    const wasm = await trainStep('wasm', kind);
    const cpu = await trainStep('cpu', kind);
    expectClose(Float32Array.of(wasm.loss), Float32Array.of(cpu.loss), `${kind} loss`);
    expect(Object.keys(wasm.grads).sort()).toEqual(Object.keys(cpu.grads).sort());
    for (const name of Object.keys(cpu.grads)) expectClose(wasm.grads[name], cpu.grads[name], `${kind} gradient of ${name}`);
    for (const name of Object.keys(cpu.updated)) expectClose(wasm.updated[name], cpu.updated[name], `${kind} updated ${name}`);
    expectClose(Float32Array.of(wasm.lossAfter), Float32Array.of(cpu.lossAfter), `${kind} loss after the step`);
  });

  it('repeated steps on wasm leave no tensors or wasm buffers behind', async () => {
    await trainStep('wasm', 'slice-concat-gather');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const tensors = tf.memory().numTensors;
    const dataIds = backend.numDataIds();
    for (let i = 0; i < 3; i++) await trainStep('wasm', lossKinds[i % lossKinds.length]);
    await tf.setBackend('wasm');
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backend.numDataIds()).toBe(dataIds);
  });
});

describe("kdcl's ResNet-32 and losses train on wasm as on cpu", () => {
  for (const shortcut of ['subsample-pad', 'projection'] as const) {
    it(`ResNet-32 (${shortcut} shortcut) with a linear head: CE + KL + feature L2 + cosine + BCE`, async () => {
      const batch = 4;
      const classes = 6;
      const x = tf.randomNormal([batch, 8, 8, 3], 0, 1, 'float32', 51) as tf.Tensor4D;
      const y = tf.tensor1d([0, 5, 2, 2], 'int32');
      const run = (backend: BackendName) => on(backend, () => {
        const spec = { kind: 'resnet32' as const, width: 0.5, blocksPerStage: 1, shortcut };
        const net = createNetwork({ backbone: spec, head: new LinearHead(32, classes, 7), seed: 7 });
        const teacher = createNetwork({ backbone: spec, head: new CosineHead(32, classes, 8), seed: 8 });
        const t = teacher.forward(x, { training: false });
        const { value, grads } = tf.variableGrads(() => {
          const out = net.forward(x, { training: true });
          return tf.addN([
            losses.crossEntropy(out.logits, y),
            losses.klDistillation(out.logits, t.logits, 2),
            losses.featureL2(out.features, t.features),
            losses.featureCosine(out.features, t.features),
            losses.bceWithLogits(out.logits, losses.icarlTargets(y, tf.slice(t.logits, [0, 0], [-1, 3]) as tf.Tensor2D, classes)),
          ]) as tf.Scalar;
        }, net.trainableVariables);
        const result = { loss: value.dataSync()[0], grads: Object.values(grads).map((g) => g.dataSync() as Float32Array) };
        tf.dispose([value, ...Object.values(grads), t.logits, t.features, t.featureMap]);
        net.dispose();
        teacher.dispose();
        return result;
      });
      const wasm = await run('wasm');
      const cpu = await run('cpu');
      expectClose(Float32Array.of(wasm.loss), Float32Array.of(cpu.loss), 'loss');
      expect(wasm.grads.length).toBe(cpu.grads.length);
      cpu.grads.forEach((g, i) => expectClose(wasm.grads[i], g, `ResNet-32 gradient ${i}`));
      tf.dispose([x, y]);
    });
  }

  it('the other losses (separated softmax, margin ranking, ISDA, task-wise KD, Grad-CAM attention, PRAKA)', async () => {
    const logits = random([8, 6]);
    const teacher = random([8, 6]);
    const replay = tf.tensor1d([1, 0, 0, 1, 0, 1, 0, 0]);
    const labels = [0, 4, 5, 1, 3, 2, 4, 5];
    const weights = random([5, 6]);
    const covariances = tf.tidy(() => {
      const a = random([6, 5, 5]);
      return tf.matMul(a, a, false, true);
    });
    const featureMap = random([8, 3, 3, 5]);
    const joint = random([8, 8]);
    const terms: [string, (l: tf.Tensor) => tf.Scalar][] = [
      ['separatedSoftmaxCE', (l) => losses.separatedSoftmaxCE(l as tf.Tensor2D, labels, replay as tf.Tensor1D, 3)],
      ['marginRanking', (l) => losses.marginRanking(l as tf.Tensor2D, labels, 3, { margin: 0.5, k: 2 })],
      ['isdaLogits', (l) => losses.crossEntropy(losses.isdaLogits(l as tf.Tensor2D, weights as tf.Tensor2D, labels, covariances as tf.Tensor3D, 0.5), labels)],
      ['taskwiseKD', (l) => losses.taskwiseKD(l as tf.Tensor2D, teacher as tf.Tensor2D, [{ start: 0, end: 3 }, { start: 3, end: 6 }], 2)],
      ['logitL2', (l) => losses.logitL2(l as tf.Tensor2D, teacher as tf.Tensor2D)],
      ['softTargetCE', (l) => losses.softTargetCE(l as tf.Tensor2D, teacher as tf.Tensor2D, 2)],
      ['gradCam + attentionDistillation', (l) => {
        const w = tf.slice(tf.reshape(l, [6, 8]), [0, 0], [5, -1]) as tf.Tensor2D;
        const cls = [0, 1, 2, 3, 4, 5, 6, 7];
        return losses.attentionDistillation(losses.gradCam(featureMap as tf.Tensor4D, w, cls), losses.gradCam(tf.relu(featureMap) as tf.Tensor4D, w, cls));
      }],
    ];
    for (const [name, term] of terms) await compareGradients(name, (l) => term(l), () => [logits]);
    await compareGradients('asymmetricKD(aggregateRotationLogits)', (l, j) =>
      losses.asymmetricKD(tf.slice(l, [0, 0], [2, 2]) as tf.Tensor2D, losses.aggregateRotationLogits(j as tf.Tensor2D, 4)), () => [logits, joint]);
    tf.dispose([logits, teacher, replay, weights, covariances, featureMap, joint]);
  });
});
