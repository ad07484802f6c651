/**
 * tfjs kernels of the 'kdcl-native' backend that run in the oneDNN addon. Each reads the cpu backend's
 * Float32Arrays in place and writes a fresh output array; inputs it does not handle (other dtypes, data
 * formats or broadcast patterns) go to the cpu backend's kernel of the same name.
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { tf } from '../../tf';
import { BATCH_NORM_TRAIN_GRAD_KERNEL, BATCH_NORM_TRAIN_KERNEL } from '../ops';
import { poolOf } from './storage';

/** The addon's functions (src/addon.cc). */
export interface NativeAddon {
  /** oneDNN version, the ISA oneDNN runs, which build of kdcl's own loops runs (x86-64-v4 or baseline), threads. */
  init(threads: number): { onednn: string; isa: string; loops: string; threads: number; bf16: boolean };
  /** Convolutions in bf16 (bf16 inputs, f32 outputs); throws naming the ISA where the CPU has no bf16 kernels. */
  setBf16(on: boolean): void;
  /** pass 0: forward (x, filter -> y); 1: backprop input (dy, filter -> dx); 2: backprop filter (x, dy -> dw). */
  conv2d(pass: 0 | 1 | 2, a: Float32Array, b: Float32Array, out: Float32Array, geometry: Int32Array): string | null;
  /** kind 0: max, 1: average (padding excluded). False if oneDNN has no implementation. */
  pool(kind: 0 | 1, x: Float32Array, y: Float32Array, geometry: Int32Array): boolean;
  poolGrad(kind: 0 | 1, x: Float32Array, dy: Float32Array, dx: Float32Array, geometry: Int32Array): boolean;
  /** params: [batch, m, n, k, transA, transB, aBatchStride, bBatchStride, relu]. */
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, bias: Float32Array | null, params: Int32Array): void;
  /** params: [rank, ...shape, ...aStrides, ...bStrides]. */
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, params: Int32Array): void;
  unary(op: number, x: Float32Array, out: Float32Array, alpha: number): void;
  reduce(op: number, x: Float32Array, out: Float32Array, outer: number, mid: number, inner: number): void;
  batchNormTrain(x: Float32Array, gamma: Float32Array, beta: Float32Array, eps: number, y: Float32Array,
    mean: Float32Array, variance: Float32Array): void;
  batchNormTrainGrad(dy: Float32Array, x: Float32Array, mean: Float32Array, variance: Float32Array,
    gamma: Float32Array, eps: number, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array): void;
  batchNormInfer(x: Float32Array, channels: number, mean: Float32Array, variance: Float32Array,
    scale: Float32Array | null, offset: Float32Array | null, eps: number, y: Float32Array): void;
}

/** The parts of tfjs-backend-cpu's MathBackendCPU these kernels use. */
interface CpuStorage {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): TensorInfo;
}

interface KernelArgs {
  // tfjs types every input as optional; each kernel checks the ones it reads (f32() returns undefined if absent).
  inputs: Record<string, TensorInfo>;
  backend: unknown;
  attrs?: NamedAttrMap;
}

/** Returns the output(s), or undefined to hand the call to the cpu kernel. */
type NativeKernel = (args: KernelArgs, storage: CpuStorage) => TensorInfo | TensorInfo[] | undefined;

const { backend_util, util } = tf;

/** The input's float32 array, or undefined if it is not a float32 tensor held as a Float32Array. */
function f32(storage: CpuStorage, t: TensorInfo | undefined): Float32Array | undefined {
  if (!t || t.dtype !== 'float32') return undefined;
  const values = storage.data.get(t.dataId).values;
  return values instanceof Float32Array ? values : undefined;
}

/** An output array; its contents are arbitrary (reused buffers), so kernels must write every element. */
function alloc(storage: CpuStorage, length: number): Float32Array {
  return poolOf(storage)?.alloc(length) ?? new Float32Array(length);
}

function output(storage: CpuStorage, shape: number[], values: Float32Array): TensorInfo {
  return storage.makeTensorInfo(shape, 'float32', values);
}

const BINARY_OPS = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5, SquaredDifference: 6 } as const;
const UNARY_OPS = { Relu: 0, Step: 1, Neg: 2, Square: 3, Sqrt: 4, Rsqrt: 5, Exp: 6, Log: 7, Abs: 8, Reciprocal: 9 } as const;
const REDUCE_OPS = { Sum: 0, Mean: 1, Max: 2, Min: 3 } as const;

/** Element strides of `shape` read as broadcast into `outShape` (0 along broadcast dims). */
function broadcastStrides(shape: number[], outShape: number[]): number[] {
  const padded = new Array(outShape.length - shape.length).fill(1).concat(shape);
  const strides = new Array(outShape.length).fill(0);
  let stride = 1;
  for (let d = outShape.length - 1; d >= 0; d--) {
    strides[d] = padded[d] === 1 && outShape[d] !== 1 ? 0 : stride;
    stride *= padded[d];
  }
  return strides;
}

function binaryInto(addon: NativeAddon, op: number, a: Float32Array, aShape: number[], b: Float32Array, bShape: number[],
  outShape: number[], out: Float32Array): void {
  const params = [outShape.length, ...outShape, ...broadcastStrides(aShape, outShape), ...broadcastStrides(bShape, outShape)];
  addon.binary(op, a, b, out, Int32Array.from(params));
}

/** A bias shape that adds one value per output channel (last axis): [C], [1, C], ... or a single value. */
function perChannel(shape: number[], channels: number): boolean {
  const size = util.sizeFromShape(shape);
  return size === 1 || (size === channels && shape[shape.length - 1] === channels);
}

function convGeometry(info: tf.backend_util.Conv2DInfo): Int32Array {
  const p = info.padInfo;
  return Int32Array.from([
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.outChannels,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, p.top, p.left, p.bottom, p.right,
    info.dilationHeight, info.dilationWidth,
  ]);
}

type ConvAttrs = {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

function convInfo(inShape: number[], filterShape: number[], attrs: ConvAttrs): tf.backend_util.Conv2DInfo {
  return backend_util.computeConv2DInfo(inShape as [number, number, number, number],
    filterShape as [number, number, number, number], attrs.strides, attrs.dilations ?? 1, attrs.pad,
    attrs.dimRoundingMode, false, 'channelsLast');
}

function isNHWC(attrs: ConvAttrs): boolean {
  return attrs.dataFormat == null || attrs.dataFormat === 'NHWC';
}

// How often each oneDNN implementation ran a convolution pass (e.g. 'jit_bf16:avx512_core_bf16'): what a bf16 run
// really computed in, since a geometry without a fast bf16 kernel computes in f32.
// Shared through globalThis: tsx may load this file twice in one process (an ES-module script and CommonJS imports).
const convImplementationCounts: Map<string, number> = ((globalThis as Record<symbol, unknown>)[
  Symbol.for('kdcl.native.convImplementations')] ??= new Map<string, number>()) as Map<string, number>;

/** Convolution passes per oneDNN implementation name since the last reset. */
export function convolutionImplementations(reset = false): Record<string, number> {
  const counts = Object.fromEntries(convImplementationCounts);
  if (reset) convImplementationCounts.clear();
  return counts;
}

/** Builds the native kernels, each falling back to `fallback(name)` (the cpu kernel) when it declines. */
function nativeKernels(addon: NativeAddon): Record<string, NativeKernel> {
  const kernels: Record<string, NativeKernel> = {};

  const conv = (s: CpuStorage, pass: 0 | 1 | 2, a: Float32Array, b: Float32Array, info: tf.backend_util.Conv2DInfo,
    outSize: number) => {
    const out = alloc(s, outSize);
    const impl = addon.conv2d(pass, a, b, out, convGeometry(info));
    if (impl === null) return undefined;
    convImplementationCounts.set(impl, (convImplementationCounts.get(impl) ?? 0) + 1);
    return out;
  };

  kernels.Conv2D = ({ inputs, attrs }, s) => {
    const a = attrs as unknown as ConvAttrs;
    const x = f32(s, inputs.x), filter = f32(s, inputs.filter);
    if (!x || !filter || !isNHWC(a)) return undefined;
    const info = convInfo(inputs.x.shape, inputs.filter.shape, a);
    const y = conv(s, 0, x, filter, info, util.sizeFromShape(info.outShape));
    return y && output(s, info.outShape, y);
  };

  kernels.Conv2DBackpropInput = ({ inputs, attrs }, s) => {
    const a = attrs as unknown as ConvAttrs & { inputShape: number[] };
    const dy = f32(s, inputs.dy), filter = f32(s, inputs.filter);
    if (!dy || !filter || !isNHWC(a)) return undefined;
    const info = convInfo(a.inputShape, inputs.filter.shape, { ...a, dilations: 1 });
    const dx = conv(s, 1, dy, filter, info, util.sizeFromShape(a.inputShape));
    return dx && output(s, [...a.inputShape], dx);
  };

  kernels.Conv2DBackpropFilter = ({ inputs, attrs }, s) => {
    const a = attrs as unknown as ConvAttrs & { filterShape: number[] };
    const x = f32(s, inputs.x), dy = f32(s, inputs.dy);
    if (!x || !dy || !isNHWC(a)) return undefined;
    const info = convInfo(inputs.x.shape, a.filterShape, { ...a, dilations: 1 });
    const dw = conv(s, 2, x, dy, info, util.sizeFromShape(a.filterShape));
    return dw && output(s, [...a.filterShape], dw);
  };

  // Conv + bias + relu/linear; other activations and prelu go to the cpu kernel.
  kernels.FusedConv2D = ({ inputs, attrs }, s) => {
    const a = attrs as unknown as ConvAttrs & { activation?: string };
    const x = f32(s, inputs.x), filter = f32(s, inputs.filter);
    const bias = inputs.bias ? f32(s, inputs.bias) : undefined;
    const activation = a.activation ?? 'linear';
    if (!x || !filter || !isNHWC(a) || (inputs.bias && !bias) || inputs.preluActivationWeights) return undefined;
    if (activation !== 'linear' && activation !== 'relu') return undefined;
    const info = convInfo(inputs.x.shape, inputs.filter.shape, a);
    if (bias && !perChannel(inputs.bias.shape, info.outChannels)) return undefined;
    const y = conv(s, 0, x, filter, info, util.sizeFromShape(info.outShape));
    if (!y) return undefined;
    if (bias) binaryInto(addon, BINARY_OPS.Add, y, info.outShape, bias, inputs.bias.shape, info.outShape, y);
    if (activation === 'relu') addon.unary(UNARY_OPS.Relu, y, y, 0);
    return output(s, info.outShape, y);
  };

  type PoolAttrs = {
    filterSize: number | [number, number];
    strides: number | [number, number];
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const poolInfo = (shape: number[], attrs: PoolAttrs) => {
    const info = backend_util.computePool2DInfo(shape as [number, number, number, number], attrs.filterSize, attrs.strides,
      1, attrs.pad, attrs.dimRoundingMode);
    const p = info.padInfo;
    const geometry = Int32Array.from([info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight,
      info.outWidth, info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, p.top, p.left, p.bottom, p.right]);
    return { info, geometry, padded: p.top + p.left + p.bottom + p.right > 0 };
  };

  kernels.MaxPool = ({ inputs, attrs }, s) => {
    const x = f32(s, inputs.x);
    if (!x || inputs.x.shape.length !== 4) return undefined;
    const { info, geometry } = poolInfo(inputs.x.shape, attrs as unknown as PoolAttrs);
    const y = alloc(s, util.sizeFromShape(info.outShape));
    return addon.pool(0, x, y, geometry) ? output(s, info.outShape, y) : undefined;
  };

  // Where several pixels of a window tie for the maximum, oneDNN and tfjs may send the gradient to different
  // ones (both valid subgradients).
  kernels.MaxPoolGrad = ({ inputs, attrs }, s) => {
    const x = f32(s, inputs.input), dy = f32(s, inputs.dy);
    if (!x || !dy || inputs.input.shape.length !== 4) return undefined;
    const { geometry } = poolInfo(inputs.input.shape, attrs as unknown as PoolAttrs);
    const dx = alloc(s, x.length);
    return addon.poolGrad(0, x, dy, dx, geometry) ? output(s, inputs.input.shape, dx) : undefined;
  };

  // Average pooling only without padding: tfjs's forward divides by the real pixels of a padded window but its
  // gradient by the full window, and the cpu kernels stay the reference for that case.
  kernels.AvgPool = ({ inputs, attrs }, s) => {
    const x = f32(s, inputs.x);
    if (!x || inputs.x.shape.length !== 4) return undefined;
    const { info, geometry, padded } = poolInfo(inputs.x.shape, attrs as unknown as PoolAttrs);
    if (padded) return undefined;
    const y = alloc(s, util.sizeFromShape(info.outShape));
    return addon.pool(1, x, y, geometry) ? output(s, info.outShape, y) : undefined;
  };

  kernels.AvgPoolGrad = ({ inputs, attrs }, s) => {
    const x = f32(s, inputs.input), dy = f32(s, inputs.dy);
    if (!x || !dy || inputs.input.shape.length !== 4) return undefined;
    const { geometry, padded } = poolInfo(inputs.input.shape, attrs as unknown as PoolAttrs);
    if (padded) return undefined;
    const dx = alloc(s, x.length);
    return addon.poolGrad(1, x, dy, dx, geometry) ? output(s, inputs.input.shape, dx) : undefined;
  };

  const matmul = (args: KernelArgs, s: CpuStorage, fused: boolean) => {
    const { inputs } = args;
    const attrs = args.attrs as { transposeA: boolean; transposeB: boolean; activation?: string };
    const a = f32(s, inputs.a), b = f32(s, inputs.b);
    const bias = inputs.bias ? f32(s, inputs.bias) : undefined;
    const activation = attrs.activation ?? 'linear';
    if (!a || !b || (inputs.bias && !bias) || inputs.preluActivationWeights) return undefined;
    if (activation !== 'linear' && activation !== 'relu') return undefined;
    const aShape = inputs.a.shape, bShape = inputs.b.shape;
    const ra = aShape.length, rb = bShape.length;
    const m = attrs.transposeA ? aShape[ra - 1] : aShape[ra - 2];
    const k = attrs.transposeA ? aShape[ra - 2] : aShape[ra - 1];
    const kb = attrs.transposeB ? bShape[rb - 1] : bShape[rb - 2];
    const n = attrs.transposeB ? bShape[rb - 2] : bShape[rb - 1];
    if (k !== kb) return undefined; // the cpu kernel raises the shape error
    const batchA = aShape.slice(0, -2), batchB = bShape.slice(0, -2);
    const outBatch = backend_util.assertAndGetBroadcastShape(batchA, batchB);
    const batch = util.sizeFromShape(outBatch), sizeA = util.sizeFromShape(batchA), sizeB = util.sizeFromShape(batchB);
    // Only whole-operand broadcasting (one side unbatched); mixed patterns go to the cpu kernel.
    if (batch === 0 || (sizeA !== batch && sizeA !== 1) || (sizeB !== batch && sizeB !== 1)) return undefined;
    if (fused && bias && (!perChannel(inputs.bias.shape, n) || bias.length !== n)) return undefined;
    const c = alloc(s, batch * m * n);
    const params = [batch, m, n, k, attrs.transposeA ? 1 : 0, attrs.transposeB ? 1 : 0,
      sizeA === 1 ? 0 : m * k, sizeB === 1 ? 0 : k * n, activation === 'relu' ? 1 : 0];
    addon.matmul(a, b, c, bias ?? null, Int32Array.from(params));
    return output(s, [...outBatch, m, n], c);
  };
  kernels.BatchMatMul = (args, s) => matmul(args, s, false);
  kernels._FusedMatMul = (args, s) => matmul(args, s, true);

  for (const [name, op] of Object.entries(BINARY_OPS)) {
    kernels[name] = ({ inputs }, s) => {
      const a = f32(s, inputs.a), b = f32(s, inputs.b);
      if (!a || !b) return undefined;
      const outShape = backend_util.assertAndGetBroadcastShape(inputs.a.shape, inputs.b.shape);
      if (outShape.length > 8) return undefined;
      const out = alloc(s, util.sizeFromShape(outShape));
      binaryInto(addon, op, a, inputs.a.shape, b, inputs.b.shape, outShape, out);
      return output(s, outShape, out);
    };
  }

  kernels.AddN = ({ inputs }, s) => {
    const tensors = Object.values(inputs);
    const arrays = tensors.map((t) => f32(s, t));
    if (tensors.length === 0) return undefined;
    if (arrays.some((v) => !v) || tensors.some((t) => !util.arraysEqual(t.shape, tensors[0].shape))) return undefined;
    const shape = tensors[0].shape;
    const out = alloc(s, arrays[0]!.length);
    out.set(arrays[0]!);
    for (const v of arrays.slice(1)) binaryInto(addon, BINARY_OPS.Add, out, shape, v!, shape, shape, out);
    return output(s, shape, out);
  };

  for (const [name, op] of Object.entries(UNARY_OPS)) {
    kernels[name] = ({ inputs, attrs }, s) => {
      const x = f32(s, inputs.x);
      if (!x) return undefined;
      const out = alloc(s, x.length);
      addon.unary(op, x, out, name === 'Step' ? Number((attrs as { alpha?: number }).alpha ?? 0) : 0);
      return output(s, inputs.x.shape, out);
    };
  }

  for (const [name, op] of Object.entries(REDUCE_OPS)) {
    kernels[name] = ({ inputs, attrs }, s) => {
      const x = f32(s, inputs.x);
      // Max names its axes attribute reductionIndices; Sum, Mean and Min call it axis.
      const { axis, reductionIndices, keepDims } = attrs as {
        axis?: number | number[]; reductionIndices?: number | number[]; keepDims: boolean;
      };
      if (!x) return undefined;
      const shape = inputs.x.shape;
      const axes = util.parseAxisParam((name === 'Max' ? reductionIndices : axis) as number[], shape).sort((p, q) => p - q);
      // A contiguous run of axes reduces as the middle of [outer, mid, inner]; other patterns use the cpu kernel.
      if (axes.length === 0 || axes.some((ax, i) => i > 0 && ax !== axes[i - 1] + 1)) return undefined;
      const first = axes[0], last = axes[axes.length - 1];
      const outer = util.sizeFromShape(shape.slice(0, first));
      const mid = util.sizeFromShape(shape.slice(first, last + 1));
      const inner = util.sizeFromShape(shape.slice(last + 1));
      if (mid === 0) return undefined;
      const [outShape] = backend_util.computeOutAndReduceShapes(shape, axes);
      const out = alloc(s, outer * inner);
      addon.reduce(op, x, out, outer, mid, inner);
      return output(s, keepDims ? backend_util.expandShapeToKeepDim(outShape, axes) : outShape, out);
    };
  }

  // Eval-mode batch norm (tf.batchNorm): parameters with one value or one per channel (last axis).
  kernels.FusedBatchNorm = ({ inputs, attrs }, s) => {
    const x = f32(s, inputs.x), mean = f32(s, inputs.mean), variance = f32(s, inputs.variance);
    const scale = inputs.scale ? f32(s, inputs.scale) : undefined;
    const offset = inputs.offset ? f32(s, inputs.offset) : undefined;
    if (!x || !mean || !variance || (inputs.scale && !scale) || (inputs.offset && !offset)) return undefined;
    const shape = inputs.x.shape;
    const channels = shape[shape.length - 1];
    const fits = (v: Float32Array | undefined) => !v || v.length === 1 || v.length === channels;
    if (!channels || x.length === 0 || ![mean, variance, scale, offset].every(fits)) return undefined;
    const y = alloc(s, x.length);
    const eps = Number((attrs as { varianceEpsilon?: number }).varianceEpsilon ?? 0.001);
    addon.batchNormInfer(x, channels, mean, variance, scale ?? null, offset ?? null, eps, y);
    return output(s, shape, y);
  };

  // Row gathers (IL2A's mixup pairs, prototype lookups): tfjs's cpu kernel reads and writes element by element
  // through TensorBuffer; this copies contiguous slices. Batch dims and out-of-range indices go to the cpu kernel.
  kernels.GatherV2 = ({ inputs, attrs }, s) => {
    const x = f32(s, inputs.x);
    const indexInfo = inputs.indices;
    const { axis, batchDims } = attrs as unknown as { axis: number; batchDims: number };
    if (!x || !indexInfo || batchDims !== 0) return undefined;
    const indices = s.data.get(indexInfo.dataId).values;
    if (!(indices instanceof Int32Array)) return undefined;
    const shape = inputs.x.shape;
    const dim = util.parseAxisParam(axis, shape)[0];
    const outer = util.sizeFromShape(shape.slice(0, dim));
    const rows = shape[dim];
    const inner = util.sizeFromShape(shape.slice(dim + 1));
    for (let i = 0; i < indices.length; i++) if (indices[i] < 0 || indices[i] >= rows) return undefined;
    const out = alloc(s, outer * indices.length * inner);
    for (let o = 0; o < outer; o++) {
      const from = o * rows * inner;
      const to = o * indices.length * inner;
      for (let i = 0; i < indices.length; i++) {
        const start = from + indices[i] * inner;
        out.set(x.subarray(start, start + inner), to + i * inner);
      }
    }
    return output(s, [...shape.slice(0, dim), ...indexInfo.shape, ...shape.slice(dim + 1)], out);
  };

  kernels[BATCH_NORM_TRAIN_KERNEL] = ({ inputs, attrs }, s) => {
    const x = f32(s, inputs.x), gamma = f32(s, inputs.gamma), beta = f32(s, inputs.beta);
    const shape = inputs.x.shape;
    const channels = shape[shape.length - 1];
    if (!x || !gamma || !beta || gamma.length !== channels || beta.length !== channels || x.length === 0) {
      throw new Error(`${BATCH_NORM_TRAIN_KERNEL}: needs float32 x [..., C] and gamma, beta of size C (got x ${shape})`);
    }
    const y = alloc(s, x.length), mean = alloc(s, channels), variance = alloc(s, channels);
    addon.batchNormTrain(x, gamma, beta, Number((attrs as { epsilon: number }).epsilon), y, mean, variance);
    return [output(s, shape, y), output(s, [channels], mean), output(s, [channels], variance)];
  };

  kernels[BATCH_NORM_TRAIN_GRAD_KERNEL] = ({ inputs, attrs }, s) => {
    const [dy, x, mean, variance, gamma] = ['dy', 'x', 'mean', 'variance', 'gamma'].map((k) => f32(s, inputs[k]));
    if (!dy || !x || !mean || !variance || !gamma) throw new Error(`${BATCH_NORM_TRAIN_GRAD_KERNEL}: needs float32 inputs`);
    const channels = gamma.length;
    const dx = alloc(s, x.length), dgamma = alloc(s, channels), dbeta = alloc(s, channels);
    addon.batchNormTrainGrad(dy, x, mean, variance, gamma, Number((attrs as { epsilon: number }).epsilon), dx, dgamma, dbeta);
    return [output(s, inputs.x.shape, dx), output(s, [channels], dgamma), output(s, [channels], dbeta)];
  };

  return kernels;
}

/**
 * Kernel configs for `backendName`: every kernel of `cpuBackendName`, with the native ones in front of the cpu
 * implementation they fall back to.
 */
export function nativeKernelConfigs(addon: NativeAddon, backendName: string, cpuBackendName = 'cpu'): KernelConfig[] {
  const cpuConfigs = tf.getKernelsForBackend(cpuBackendName);
  const cpuByName = new Map(cpuConfigs.map((k) => [k.kernelName, k]));
  const natives = nativeKernels(addon);
  const configs: KernelConfig[] = cpuConfigs
    .filter((k) => !(k.kernelName in natives))
    .map((k) => ({ ...k, backendName }));
  for (const [kernelName, native] of Object.entries(natives)) {
    const fallback = cpuByName.get(kernelName)?.kernelFunc;
    const kernelFunc = ((args: KernelArgs) => {
      const result = native(args, args.backend as CpuStorage);
      if (result !== undefined) return result;
      if (!fallback) throw new Error(`kdcl-native: kernel ${kernelName} got inputs it does not support`);
      return fallback(args as Parameters<KernelFunc>[0]);
    }) as KernelFunc;
    configs.push({ kernelName, backendName, kernelFunc });
  }
  return configs;
}

/** Names of the kernels that run natively (for backendInfo()). */
export function nativeKernelNames(addon: NativeAddon): string[] {
  return Object.keys(nativeKernels(addon)).sort();
}
