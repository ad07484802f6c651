/** The native convolution and pooling kernels (oneDNN primitives), each declining what it does not handle. */
import { tf } from '../../tf';
import { type NativeAddon, type CpuStorage, type NativeKernel, type ConvAttrs, f32, alloc, output, binaryInto, perChannel, convGeometry, convInfo, isNHWC, BINARY_OPS, UNARY_OPS, convImplementationCounts, backend_util, util } from './kernel-support';

export function convAndPoolKernels(addon: NativeAddon): Record<string, NativeKernel> {
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

  return kernels;
}
