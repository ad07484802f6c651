/**
 * Small tensor helpers shared by the loss families: input checks with clear messages, labels from any
 * int container, stop-gradient and a NaN-free L2 normalisation.
 */
import { tf } from '../tf';

/** Integer class labels: an int32 tensor (e.g. Batch.y) or plain integers. */
export type LabelsLike = tf.Tensor1D | Int32Array | readonly number[];

export function fail(fn: string, message: string): never {
  throw new Error(`kernel-lib/losses ${fn}: ${message}`);
}

export function assertRank(fn: string, name: string, x: tf.Tensor, rank: number): void {
  if (x.rank !== rank) fail(fn, `${name} must have rank ${rank}, got shape [${x.shape.join(', ')}]`);
}

export function assertSameShape(fn: string, names: [string, string], a: tf.Tensor, b: tf.Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    fail(fn, `${names[0]} [${a.shape.join(', ')}] and ${names[1]} [${b.shape.join(', ')}] must have the same shape`);
  }
}

export function assertTemperature(fn: string, temperature: number): void {
  if (!(temperature > 0) || !Number.isFinite(temperature)) fail(fn, `temperature must be a positive number, got ${temperature}`);
}

/**
 * Labels as an int32 tensor of length `batch`. Plain arrays are range-checked against `numClasses`; tensors are
 * not (that would force a device sync every step), so an out-of-range label there gives an all-zero one-hot row.
 */
export function labelTensor(fn: string, labels: LabelsLike, batch: number, numClasses: number): tf.Tensor1D {
  if (labels instanceof tf.Tensor) {
    if (labels.rank !== 1 || labels.shape[0] !== batch) fail(fn, `labels must be a 1-D tensor of length ${batch}, got shape [${labels.shape.join(', ')}]`);
    return labels.dtype === 'int32' ? labels : tf.cast(labels, 'int32');
  }
  if (labels.length !== batch) fail(fn, `labels has length ${labels.length}, expected the batch size ${batch}`);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= numClasses) fail(fn, `labels[${i}] = ${y} is not a class index in [0, ${numClasses})`);
  }
  return tf.tensor1d(Int32Array.from(labels), 'int32');
}

/** One-hot float32 [batch, numClasses]. */
export function oneHotFloat(labels: tf.Tensor1D, numClasses: number): tf.Tensor2D {
  // tf.oneHot refuses depth 1, which a task of one class needs (B50 steps of 1 class on 20 classes).
  if (numClasses === 1) return tf.ones([labels.shape[0], 1]) as tf.Tensor2D;
  return tf.cast(tf.oneHot(labels, numClasses), 'float32') as tf.Tensor2D;
}

const stopGradientOp = tf.customGrad((...args: unknown[]) => {
  const x = args[0] as tf.Tensor;
  return { value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
});

/** The identity in value with a zero gradient: PyTorch's `.detach()` (tfjs-core has no stopGradient op). */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return stopGradientOp(x) as T;
}

/**
 * x / max(||x||_2, eps) along `axis`, as torch.nn.functional.normalize. Written as x * rsqrt(max(sum x^2, eps^2)) so
 * that an all-zero row has a zero (not NaN) gradient: the gradient of sqrt at 0 is infinite.
 */
export function l2Normalize<T extends tf.Tensor>(x: T, axis = -1, eps = 1e-12): T {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), axis, true), eps * eps)))) as T;
}

/** The first `columns` columns of a [batch, n] tensor (the old classes, which come first in arrival order). */
export function leadingColumns(fn: string, x: tf.Tensor2D, columns: number, name = 'logits'): tf.Tensor2D {
  if (x.shape[1] < columns) fail(fn, `${name} has ${x.shape[1]} columns but ${columns} are needed`);
  return x.shape[1] === columns ? x : tf.slice(x, [0, 0], [-1, columns]);
}

/** Batch mean of a per-sample vector, as a scalar. */
export function batchMean(perSample: tf.Tensor1D): tf.Scalar {
  return tf.mean(perSample) as tf.Scalar;
}
