/**
 * tfjs kernels of the 'kdcl-native' backend that run in the oneDNN addon. Each reads the cpu backend's
 * Float32Arrays in place and writes a fresh output array; inputs it does not handle (other dtypes, data
 * formats or broadcast patterns) go to the cpu backend's kernel of the same name.
 */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { tf } from '../../tf';
import { BATCH_NORM_TRAIN_GRAD_KERNEL, BATCH_NORM_TRAIN_KERNEL } from '../ops';
import { type NativeAddon, type CpuStorage, type KernelArgs, type NativeKernel, f32, alloc, output, binaryInto, perChannel, BINARY_OPS, UNARY_OPS, REDUCE_OPS, backend_util, util } from './kernel-support';
import { convAndPoolKernels } from './conv-kernels';

export { convolutionImplementations, type NativeAddon } from './kernel-support';

/** Builds the native kernels, each falling back to `fallback(name)` (the cpu kernel) when it declines. */
function nativeKernels(addon: NativeAddon): Record<string, NativeKernel> {
  const kernels: Record<string, NativeKernel> = convAndPoolKernels(addon);

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
