/**
 * kdcl's native backend ('kdcl-native', oneDNN addon): every native kernel against tfjs's reference cpu backend
 * (forward values and gradients, relative error <= 1e-4 in max norm), a ResNet training step, flat tensor count,
 * run-to-run bitwise determinism, and the output-buffer pool's safety rules. Skipped, with the reason, where the
 * addon is not built (`npm run build:native`, needs libdnnl-dev).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../kernel-lib/tf';
import { batchNormEval, batchNormTrain } from '../kernel-lib/backend/ops';
import { loadAddon, loadNativeBackend, NATIVE_BACKEND_NAME } from '../kernel-lib/backend/native/index';
import { BufferPool, sizeClass } from '../kernel-lib/backend/native/storage';
import { createBackbone, LinearHead } from '../kernel-lib/models/index';
import { crossEntropy } from '../kernel-lib/losses/index';

let unavailable: string | undefined;
try {
  loadAddon();
} catch (err) {
  unavailable = (err as Error).message;
  console.warn(`[native-backend.test] skipped: ${unavailable}`);
}

const THREADS = 2;
const TOLERANCE = 1e-4;

/** Deterministic pseudo-random values in [-1, 1) (mulberry32). */
function randomValues(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

function input(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(randomValues(shape.reduce((a, b) => a * b, 1), seed), shape);
}

/** max|a - b| / max|b| (max norm; 0 when both are 0). */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Runs fn on a backend and returns its outputs' values (tensors created inside are disposed). */
async function runOn(backend: string, fn: () => tf.Tensor[]): Promise<{ shapes: number[][]; values: Float32Array[] }> {
  await tf.setBackend(backend);
  const outs = tf.tidy(fn);
  const result = { shapes: outs.map((t) => t.shape), values: outs.map((t) => Float32Array.from(t.dataSync())) };
  tf.dispose(outs);
  return result;
}

/** fn's outputs on kdcl-native and on cpu agree in shape and to TOLERANCE. */
async function expectMatchesCpu(label: string, fn: () => tf.Tensor[], tolerance = TOLERANCE): Promise<void> {
  const native = await runOn(NATIVE_BACKEND_NAME, fn);
  const cpu = await runOn('cpu', fn);
  await tf.setBackend(NATIVE_BACKEND_NAME);
  expect(native.shapes, `${label}: shapes`).toEqual(cpu.shapes);
  native.values.forEach((v, i) => {
    expect(relativeError(v, cpu.values[i]), `${label}: output ${i}`).toBeLessThanOrEqual(tolerance);
  });
}

/** Value and gradients of sum(f(inputs) * r) with respect to every input, r a fixed random tensor. */
function valueAndGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], seed = 99): tf.Tensor[] {
  const y = f(...inputs);
  const r = input(y.shape, seed);
  const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), r)))(inputs);
  return [y, ...grads];
}

describe.skipIf(unavailable !== undefined)('kdcl-native backend', () => {
  beforeAll(async () => {
    const info = await loadNativeBackend(THREADS);
    expect(info.tfBackend).toBe(NATIVE_BACKEND_NAME);
    expect(info.threads).toBe(THREADS);
    expect(info.version).toMatch(/oneDNN \d+\.\d+/);
    expect(typeof info.details?.isa).toBe('string');
    expect(tf.getBackend()).toBe(NATIVE_BACKEND_NAME);
  });

  afterAll(async () => {
    await tf.setBackend(NATIVE_BACKEND_NAME);
  });

  describe('conv2d forward and gradients (dx, dfilter) match the cpu backend', () => {
    const cases: { k: number; stride: number; pad: 'same' | 'valid' | number; inC: number; outC: number; size: number }[] = [];
    for (const k of [1, 3])
      for (const stride of [1, 2])
        for (const pad of ['same', 'valid'] as const) cases.push({ k, stride, pad, inC: 5, outC: 7, size: 9 });
    // The model's own shapes: PyTorch-style numeric padding, 16 -> 16 channels (oneDNN's blocked layout path),
    // a 3-channel stem, and the option-A shortcut (1x1, stride 2, pad 0).
    cases.push({ k: 3, stride: 1, pad: 1, inC: 16, outC: 16, size: 8 });
    cases.push({ k: 3, stride: 2, pad: 1, inC: 16, outC: 32, size: 8 });
    cases.push({ k: 3, stride: 1, pad: 1, inC: 3, outC: 16, size: 8 });
    cases.push({ k: 1, stride: 2, pad: 0, inC: 16, outC: 32, size: 8 });
    for (const c of cases) {
      it(`${c.k}x${c.k} stride ${c.stride} pad ${c.pad}, ${c.inC} -> ${c.outC} channels`, async () => {
        await expectMatchesCpu(`conv ${JSON.stringify(c)}`, () =>
          valueAndGrads((x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.stride, c.pad),
            [input([3, c.size, c.size, c.inC], 1), input([c.k, c.k, c.inC, c.outC], 2)]));
      });
    }

    it('a batch size that is not a power of two (run as chunks 4 + 1) matches cpu, bit for bit the same on every call', async () => {
      // Bitwise repeatability is what lets a killed and resumed run end exactly like an uninterrupted one.
      const runs = [];
      for (let i = 0; i < 4; i++) {
        runs.push(await runOn(NATIVE_BACKEND_NAME, () =>
          valueAndGrads((x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 1), [input([5, 6, 6, 16], 8), input([3, 3, 16, 16], 9)])));
      }
      const cpu = await runOn('cpu', () =>
        valueAndGrads((x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 1), [input([5, 6, 6, 16], 8), input([3, 3, 16, 16], 9)]));
      await tf.setBackend(NATIVE_BACKEND_NAME);
      for (const run of runs) run.values.forEach((v, i) => expect(relativeError(v, cpu.values[i])).toBeLessThanOrEqual(TOLERANCE));
      for (const run of runs.slice(1)) expect(run.values).toEqual(runs[0].values);
    });

    it('gather along each axis, with 2-d indices and repeats, and its gradient', async () => {
      await expectMatchesCpu('gather', () => [
        tf.gather(input([5, 3, 4], 11), tf.tensor1d([4, 0, 0, 2], 'int32'), 0),
        tf.gather(input([5, 3, 4], 12), tf.tensor2d([[2, 1], [0, 2]], [2, 2], 'int32'), 1),
        tf.gather(input([5, 3, 4], 13), tf.tensor1d([3, 3, 1], 'int32'), -1),
        ...valueAndGrads((x) => tf.gather(x, tf.tensor1d([1, 1, 4, 0], 'int32')), [input([5, 6], 14)]),
      ]);
    });

    it('dilated conv forward', async () => {
      await expectMatchesCpu('dilated conv', () => [
        tf.conv2d(input([2, 10, 10, 4], 3) as tf.Tensor4D, input([3, 3, 4, 6], 4) as tf.Tensor4D, 1, 'same', 'NHWC', 2),
      ]);
    });

    it('fused conv2d with bias and relu', async () => {
      await expectMatchesCpu('fused conv', () => [
        tf.fused.conv2d({
          x: input([2, 8, 8, 4], 5) as tf.Tensor4D, filter: input([3, 3, 4, 6], 6) as tf.Tensor4D, strides: 1, pad: 'same',
          bias: input([6], 7), activation: 'relu',
        }),
      ]);
    });
  });

  describe('pooling forward and gradient match the cpu backend', () => {
    // Random inputs: no two pixels of a window tie for the maximum, so the max gradient is unambiguous.
    for (const [k, stride, pad] of [[3, 2, 1], [3, 2, 'same'], [2, 2, 'valid'], [3, 1, 'same']] as const) {
      it(`maxPool ${k}x${k} stride ${stride} pad ${pad}`, async () => {
        await expectMatchesCpu(`maxPool ${k} ${stride} ${pad}`, () =>
          valueAndGrads((x) => tf.maxPool(x as tf.Tensor4D, k, stride, pad), [input([2, 9, 9, 5], 90)]));
      });
    }
    it('avgPool (unpadded natively; padded windows go to the cpu kernel)', async () => {
      await expectMatchesCpu('avgPool', () => [
        ...valueAndGrads((x) => tf.avgPool(x as tf.Tensor4D, 2, 2, 'valid'), [input([2, 8, 8, 5], 91)]),
        ...valueAndGrads((x) => tf.avgPool(x as tf.Tensor4D, 3, 2, 'same'), [input([2, 9, 9, 5], 92)]),
      ]);
    });
  });

  describe('matmul matches the cpu backend', () => {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
      it(`transposeA ${ta}, transposeB ${tb}, with gradients`, async () => {
        const a = ta ? [6, 5] : [5, 6], b = tb ? [4, 6] : [6, 4];
        await expectMatchesCpu(`matmul ${ta} ${tb}`, () =>
          valueAndGrads((x, y) => tf.matMul(x, y, ta, tb), [input(a, 10), input(b, 11)]));
      });
    }

    it('batched, with one side broadcast', async () => {
      await expectMatchesCpu('batch matmul', () => [
        tf.matMul(input([3, 5, 6], 12), input([3, 6, 4], 13)),
        tf.matMul(input([3, 5, 6], 14), input([6, 4], 15)),
        // Mixed batch broadcasting ([3] with [2, 3]) goes to the cpu kernel.
        tf.matMul(input([3, 5, 6], 16), input([2, 3, 6, 4], 17)),
      ]);
    });

    it('fused matmul with bias and relu', async () => {
      await expectMatchesCpu('fused matmul', () => [
        tf.fused.matMul({ a: input([5, 6], 18), b: input([6, 4], 19), bias: input([4], 20), activation: 'relu' }),
        tf.fused.matMul({ a: input([5, 6], 21), b: input([4, 6], 22), transposeB: true, bias: input([4], 23) }),
        // A column bias on a square output is not a per-column bias (cpu kernel).
        tf.fused.matMul({ a: input([4, 6], 24), b: input([6, 4], 25), bias: input([4, 1], 26) }),
        tf.fused.matMul({ a: input([4, 6], 27), b: input([6, 4], 28), bias: input([1, 4], 29) }),
      ]);
    });
  });

  describe('elementwise ops and reductions match the cpu backend', () => {
    const broadcasts: [number[], number[]][] = [
      [[2, 3, 4, 5], [2, 3, 4, 5]],
      [[2, 3, 4, 5], [5]],
      [[5], [2, 3, 4, 5]],
      [[2, 3, 4, 5], []],
      [[2, 1, 4, 1], [2, 3, 4, 5]],
      [[3, 1, 5], [2, 1, 4, 1]],
      [[64, 100], [64, 1]],
    ];
    for (const [sa, sb] of broadcasts) {
      it(`binary ops on [${sa}] and [${sb}], with gradients`, async () => {
        const ops: ((a: tf.Tensor, b: tf.Tensor) => tf.Tensor)[] = [tf.add, tf.sub, tf.mul];
        // tfjs's Maximum/Minimum/SquaredDifference gradients do not support broadcasting (on any backend): values only.
        const noGrad: ((a: tf.Tensor, b: tf.Tensor) => tf.Tensor)[] = [tf.maximum, tf.minimum, tf.squaredDifference];
        const sameShape = sa.join() === sb.join();
        await expectMatchesCpu(`binary [${sa}] [${sb}]`, () => [
          ...ops.flatMap((op) => valueAndGrads(op, [input(sa, 30), input(sb, 31)])),
          ...noGrad.flatMap((op) => (sameShape ? valueAndGrads(op, [input(sa, 30), input(sb, 31)]) : [op(input(sa, 30), input(sb, 31))])),
          // Keep the divisor away from 0.
          tf.div(input(sa, 32), tf.add(tf.abs(input(sb, 33)), 0.5)),
        ]);
      });
    }

    it('large elementwise ops (multi-threaded path)', async () => {
      const shape = [8, 32, 32, 32];
      await expectMatchesCpu('large binary', () => [
        tf.add(input(shape, 34), input(shape, 35)),
        tf.mul(input(shape, 36), input([32], 37)),
        tf.relu(input(shape, 38)),
      ]);
    });

    it('unary ops, with gradients', async () => {
      const x = () => input([3, 4, 5], 40);
      const positive = () => tf.add(tf.abs(input([3, 4, 5], 41)), 0.1);
      await expectMatchesCpu('unary', () => [
        ...valueAndGrads(tf.relu, [x()]),
        tf.step(x()),
        tf.step(x(), 0.3),
        ...valueAndGrads(tf.neg, [x()]),
        ...valueAndGrads(tf.square, [x()]),
        ...valueAndGrads(tf.exp, [x()]),
        ...valueAndGrads(tf.abs, [x()]),
        ...valueAndGrads(tf.sqrt, [positive()]),
        ...valueAndGrads(tf.rsqrt, [positive()]),
        ...valueAndGrads(tf.log, [positive()]),
        ...valueAndGrads(tf.reciprocal, [positive()]),
      ]);
    });

    it('reductions over contiguous and non-contiguous axes, keepDims', async () => {
      const shape = [4, 5, 6, 7];
      const axesList: (number | number[] | undefined)[] = [[0, 1, 2], [1, 2], 3, 0, [2, 3], undefined, [0, 2], -1];
      await expectMatchesCpu('reductions', () =>
        axesList.flatMap((axes) => [
          tf.sum(input(shape, 50), axes),
          tf.mean(input(shape, 51), axes, true),
          tf.max(input(shape, 52), axes),
          tf.min(input(shape, 53), axes, true),
        ]));
    });

    it('a large column reduction (multi-threaded path)', async () => {
      await expectMatchesCpu('large sum', () => [tf.sum(input([64, 32, 32, 16], 54), [0, 1, 2]), tf.mean(input([64, 32, 32, 16], 55), [1, 2])]);
    });

    it('AddN, and ops on int32 tensors (cpu fallback)', async () => {
      await expectMatchesCpu('addN and int32', () => [
        tf.addN([input([3, 4], 56), input([3, 4], 57), input([3, 4], 58)]),
        tf.cast(tf.add(tf.tensor([1, 2, 3], [3], 'int32'), tf.tensor([4, 5, 6], [3], 'int32')), 'float32'),
        tf.cast(tf.sum(tf.tensor([[1, 2], [3, 4]], [2, 2], 'int32'), 0), 'float32'),
      ]);
    });
  });

  describe('batch norm', () => {
    for (const shape of [[4, 5, 5, 3], [16, 16, 16, 16]]) {
      it(`batchNormTrain [${shape}]: y, batch statistics and gradients match the portable path on cpu`, async () => {
        await expectMatchesCpu(`batchNormTrain ${shape}`, () => {
          const c = shape[3];
          // An offset mean keeps the variance computation honest.
          const x = tf.add(tf.mul(input(shape, 60), 3), 2) as tf.Tensor4D;
          const gamma = tf.add(input([c], 61), 1.5) as tf.Tensor1D, beta = input([c], 62) as tf.Tensor1D;
          const { y, mean, variance } = batchNormTrain(x, gamma, beta);
          const [, dx, dgamma, dbeta] = valueAndGrads((a, g, b) => batchNormTrain(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D).y,
            [x, gamma, beta]);
          return [y, mean, variance, dx, dgamma, dbeta];
        });
      });
    }

    it('batchNormEval matches the cpu backend, with per-channel and scalar parameters', async () => {
      await expectMatchesCpu('batchNormEval', () => {
        const x = input([4, 5, 5, 3], 63) as tf.Tensor4D;
        const positive = (seed: number) => tf.add(tf.abs(input([3], seed)), 0.5) as tf.Tensor1D;
        return [
          batchNormEval(x, input([3], 64) as tf.Tensor1D, positive(65), input([3], 66) as tf.Tensor1D, input([3], 67) as tf.Tensor1D),
          tf.batchNorm(x, tf.scalar(0.5), tf.scalar(2), undefined, undefined, 1e-3),
        ];
      });
    });
  });

  /** A small ResNet-32-shaped network (models helper) and one CE step's loss and gradients. */
  function resnetStep(): tf.Tensor[] {
    const backbone = createBackbone({ kind: 'resnet32', width: 0.5, blocksPerStage: 1 }, 3);
    const head = new LinearHead(backbone.featureDim, 10, 3);
    const x = tf.mul(input([8, 16, 16, 3], 70), 2) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], 'int32');
    const vars = [...backbone.trainableVariables, ...head.trainableVariables];
    const { value, grads } = tf.variableGrads(
      () => crossEntropy(head.apply(backbone.apply(x, { training: true }).features), labels),
      vars,
    );
    const out = [value, ...vars.map((v) => grads[v.name]), ...backbone.stateVariables.map((v) => v.clone())];
    backbone.dispose();
    head.dispose();
    return out;
  }

  it('a ResNet training step: loss, every gradient and the batch-norm running statistics match the cpu backend', async () => {
    await expectMatchesCpu('resnet step', resnetStep);
  });

  it('is deterministic: the same step twice gives bitwise the same loss, gradients and statistics', async () => {
    const first = await runOn(NATIVE_BACKEND_NAME, resnetStep);
    const second = await runOn(NATIVE_BACKEND_NAME, resnetStep);
    first.values.forEach((v, i) => expect(Buffer.from(v.buffer).equals(Buffer.from(second.values[i].buffer)), `output ${i}`).toBe(true));
    // Large tensors take the multi-threaded paths (conv, batch norm, reductions).
    const large = () => {
      const x = tf.mul(input([16, 32, 32, 16], 71), 2) as tf.Tensor4D;
      const w = input([3, 3, 16, 16], 72) as tf.Tensor4D;
      const gamma = tf.ones([16]) as tf.Tensor1D, beta = tf.zeros([16]) as tf.Tensor1D;
      return valueAndGrads((a, f) => tf.relu(batchNormTrain(tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, 1, 1), gamma, beta).y), [x, w]);
    };
    const a = await runOn(NATIVE_BACKEND_NAME, large);
    const b = await runOn(NATIVE_BACKEND_NAME, large);
    a.values.forEach((v, i) => expect(Buffer.from(v.buffer).equals(Buffer.from(b.values[i].buffer)), `large output ${i}`).toBe(true));
  });

  it('keeps the tensor count flat across SGD steps', async () => {
    await tf.setBackend(NATIVE_BACKEND_NAME);
    const backbone = createBackbone({ kind: 'resnet32', width: 0.5, blocksPerStage: 1 }, 4);
    const head = new LinearHead(backbone.featureDim, 10, 4);
    const optimizer = tf.train.momentum(0.01, 0.9);
    const x = input([8, 16, 16, 3], 73) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], 'int32');
    const vars = [...backbone.trainableVariables, ...head.trainableVariables];
    const step = () => tf.tidy(() => {
      optimizer.minimize(() => crossEntropy(head.apply(backbone.apply(x, { training: true }).features), labels), false, vars);
    });
    step();
    const after1 = tf.memory().numTensors;
    step();
    step();
    expect(tf.memory().numTensors).toBe(after1);
    optimizer.dispose();
    backbone.dispose();
    head.dispose();
    tf.dispose([x, labels]);
  });

  describe('output-buffer reuse never changes values someone can still see', () => {
    it('arrays returned by dataSync() survive disposal of their tensor', async () => {
      await tf.setBackend(NATIVE_BACKEND_NAME);
      const x = input([64, 64, 4], 80);
      const t = tf.relu(x);
      const seen = t.dataSync();
      const copy = Float32Array.from(seen);
      t.dispose();
      for (let i = 0; i < 3; i++) tf.dispose(tf.neg(x));
      expect(seen).toEqual(copy);
      x.dispose();
    });

    it('a view that shares its input buffer (cpu slice) survives disposal of the input', async () => {
      await tf.setBackend(NATIVE_BACKEND_NAME);
      const x = input([2, 16384], 81);
      const base = tf.relu(x);
      const view = tf.slice(base, [0, 0], [1, 16384]);
      const expected = randomValues(16384, 81).map((v) => Math.max(v, 0));
      base.dispose();
      for (let i = 0; i < 3; i++) tf.dispose(tf.neg(x));
      expect(Float32Array.from(view.dataSync())).toEqual(expected);
      tf.dispose([x, view]);
    });
  });
});

describe('BufferPool (native backend output buffers)', () => {
  const released = (pool: BufferPool, x: Float32Array) => {
    pool.noteWrite(x);
    pool.release(x);
  };

  it('size classes are at most 1/8 (or 64 floats) larger than asked for', () => {
    for (const n of [1, 63, 64, 65, 4096, 4097, 5000, 131072, 131073, 2_000_001]) {
      const c = sizeClass(n);
      expect(c).toBeGreaterThanOrEqual(n);
      expect(c - n).toBeLessThanOrEqual(Math.max(63, n / 8));
    }
  });

  it('reuses a released buffer of the same size class, most recent first, as an exact-length view', () => {
    const pool = new BufferPool(1 << 20);
    const a = pool.alloc(5000), b = pool.alloc(5000);
    released(pool, a);
    released(pool, b);
    const c = pool.alloc(5100);
    expect(c.buffer).toBe(b.buffer);
    expect(c.length).toBe(5100);
    expect(pool.alloc(4990).buffer).toBe(a.buffer);
    expect(pool.alloc(5000).buffer).not.toBe(a.buffer);
  });

  it('serves a request from the smallest pooled buffer of at most twice its size', () => {
    const pool = new BufferPool(1 << 24);
    const big = pool.alloc(9000), mid = pool.alloc(6000);
    released(pool, big);
    released(pool, mid);
    expect(pool.alloc(5000).buffer).toBe(mid.buffer);
    expect(pool.alloc(4000).buffer).not.toBe(big.buffer); // 9216 floats > 2 x 4000
    expect(pool.alloc(5000).buffer).toBe(big.buffer);
  });

  it('never reuses buffers it did not allocate or that a second tensor shares', () => {
    const pool = new BufferPool(1 << 20);
    const foreign = new Float32Array(10);
    released(pool, foreign);
    const shared = pool.alloc(10);
    pool.noteWrite(shared);
    pool.noteWrite(shared.subarray(0, 5));
    pool.release(shared);
    expect(pool.bytes).toBe(0);
    const next = pool.alloc(10);
    for (const old of [foreign, shared]) expect(next.buffer).not.toBe(old.buffer);
  });

  it('stays under its byte limit by dropping the buffers released longest ago', () => {
    const pool = new BufferPool(3 * 4096 * 4);
    const arrays = [4096, 4096, 4096, 4096].map((n) => pool.alloc(n));
    for (const x of arrays) {
      released(pool, x);
      expect(pool.bytes).toBeLessThanOrEqual(3 * 4096 * 4);
    }
    // The first one released was dropped; the other three are reused, newest first.
    expect(pool.alloc(4096).buffer).toBe(arrays[3].buffer);
    expect(pool.alloc(4096).buffer).toBe(arrays[2].buffer);
    expect(pool.alloc(4096).buffer).toBe(arrays[1].buffer);
    expect(pool.alloc(4096).buffer).not.toBe(arrays[0].buffer);
    // Many one-off sizes never grow it past the limit.
    for (let n = 1; n < 20_000; n += 97) {
      released(pool, pool.alloc(n));
      expect(pool.bytes).toBeLessThanOrEqual(3 * 4096 * 4);
    }
  });

  it('drops buffers that were not reused within maxAge allocations', () => {
    const pool = new BufferPool(1 << 30, 1000);
    released(pool, pool.alloc(100_000));
    expect(pool.bytes).toBeGreaterThan(0);
    for (let i = 0; i < 2000; i++) released(pool, pool.alloc(64));
    expect(pool.bytes).toBe(64 * 4);
  });
});
