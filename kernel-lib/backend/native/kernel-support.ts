/**
 * What the native kernels share: the addon's interface, the cpu backend's storage they read and write, the op codes,
 * broadcasting and convolution geometry.
 */
import type { NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { tf } from '../../tf';
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
export interface CpuStorage {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): TensorInfo;
}

export interface KernelArgs {
  // tfjs types every input as optional; each kernel checks the ones it reads (f32() returns undefined if absent).
  inputs: Record<string, TensorInfo>;
  backend: unknown;
  attrs?: NamedAttrMap;
}

/** Returns the output(s), or undefined to hand the call to the cpu kernel. */
export type NativeKernel = (args: KernelArgs, storage: CpuStorage) => TensorInfo | TensorInfo[] | undefined;

export const { backend_util, util } = tf;

/** The input's float32 array, or undefined if it is not a float32 tensor held as a Float32Array. */
export function f32(storage: CpuStorage, t: TensorInfo | undefined): Float32Array | undefined {
  if (!t || t.dtype !== 'float32') return undefined;
  const values = storage.data.get(t.dataId).values;
  return values instanceof Float32Array ? values : undefined;
}

/** An output array; its contents are arbitrary (reused buffers), so kernels must write every element. */
export function alloc(storage: CpuStorage, length: number): Float32Array {
  return poolOf(storage)?.alloc(length) ?? new Float32Array(length);
}

export function output(storage: CpuStorage, shape: number[], values: Float32Array): TensorInfo {
  return storage.makeTensorInfo(shape, 'float32', values);
}

export const BINARY_OPS = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5, SquaredDifference: 6 } as const;
export const UNARY_OPS = { Relu: 0, Step: 1, Neg: 2, Square: 3, Sqrt: 4, Rsqrt: 5, Exp: 6, Log: 7, Abs: 8, Reciprocal: 9 } as const;
export const REDUCE_OPS = { Sum: 0, Mean: 1, Max: 2, Min: 3 } as const;

/** Element strides of `shape` read as broadcast into `outShape` (0 along broadcast dims). */
export function broadcastStrides(shape: number[], outShape: number[]): number[] {
  const padded = new Array(outShape.length - shape.length).fill(1).concat(shape);
  const strides = new Array(outShape.length).fill(0);
  let stride = 1;
  for (let d = outShape.length - 1; d >= 0; d--) {
    strides[d] = padded[d] === 1 && outShape[d] !== 1 ? 0 : stride;
    stride *= padded[d];
  }
  return strides;
}

export function binaryInto(addon: NativeAddon, op: number, a: Float32Array, aShape: number[], b: Float32Array, bShape: number[],
  outShape: number[], out: Float32Array): void {
  const params = [outShape.length, ...outShape, ...broadcastStrides(aShape, outShape), ...broadcastStrides(bShape, outShape)];
  addon.binary(op, a, b, out, Int32Array.from(params));
}

/** A bias shape that adds one value per output channel (last axis): [C], [1, C], ... or a single value. */
export function perChannel(shape: number[], channels: number): boolean {
  const size = util.sizeFromShape(shape);
  return size === 1 || (size === channels && shape[shape.length - 1] === channels);
}

export function convGeometry(info: tf.backend_util.Conv2DInfo): Int32Array {
  const p = info.padInfo;
  return Int32Array.from([
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.outChannels,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, p.top, p.left, p.bottom, p.right,
    info.dilationHeight, info.dilationWidth,
  ]);
}

export type ConvAttrs = {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

export function convInfo(inShape: number[], filterShape: number[], attrs: ConvAttrs): tf.backend_util.Conv2DInfo {
  return backend_util.computeConv2DInfo(inShape as [number, number, number, number],
    filterShape as [number, number, number, number], attrs.strides, attrs.dilations ?? 1, attrs.pad,
    attrs.dimRoundingMode, false, 'channelsLast');
}

export function isNHWC(attrs: ConvAttrs): boolean {
  return attrs.dataFormat == null || attrs.dataFormat === 'NHWC';
}

// How often each oneDNN implementation ran a convolution pass (e.g. 'jit_bf16:avx512_core_bf16'): what a bf16 run
// really computed in, since a geometry without a fast bf16 kernel computes in f32.
// Shared through globalThis: tsx may load this file twice in one process (an ES-module script and CommonJS imports).
export const convImplementationCounts: Map<string, number> = ((globalThis as Record<symbol, unknown>)[
  Symbol.for('kdcl.native.convImplementations')] ??= new Map<string, number>()) as Map<string, number>;

/** Convolution passes per oneDNN implementation name since the last reset. */
export function convolutionImplementations(reset = false): Record<string, number> {
  const counts = Object.fromEntries(convImplementationCounts);
  if (reset) convImplementationCounts.clear();
  return counts;
}
