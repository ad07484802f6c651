/**
 * Fused training ops that models use instead of composing many small tfjs ops. Each has a portable
 * implementation in tfjs ops with an analytic gradient; a backend may register a faster kernel for it.
 */
import { tf } from '../tf';

export interface BatchNormTrainResult {
  y: tf.Tensor4D;
  /** Batch mean and (biased) variance per channel, without gradient: for the running averages. */
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/**
 * Batch normalisation in training mode over N, H, W of an NHWC tensor:
 *   y = gamma * (x - mu) / sqrt(var + eps) + beta, with mu, var the batch statistics.
 * Gradient (M = N*H*W, xhat = (x - mu) * invstd, g = dy * gamma):
 *   dx = invstd / M * (M * g - sum(g) - xhat * sum(g * xhat)),  dgamma = sum(dy * xhat),  dbeta = sum(dy).
 */
export function batchNormTrain(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps = 1e-5): BatchNormTrainResult {
  if (tf.getKernel(BATCH_NORM_TRAIN_KERNEL, tf.getBackend()) != null) return fusedBatchNormTrain(x, gamma, beta, eps);
  // Statistics are closed over, not inputs of the custom op, so no gradient flows through them twice.
  const { mean, variance } = tf.moments(x, [0, 1, 2]) as { mean: tf.Tensor1D; variance: tf.Tensor1D };
  // The engine runs the forward pass in its own tidy: whatever backprop needs must be saved, not closed over.
  const invstd = tf.rsqrt(tf.add(variance, eps)) as tf.Tensor1D;
  const count = x.shape[0] * x.shape[1] * x.shape[2];
  const op = tf.customGrad(((xIn: tf.Tensor, gammaIn: tf.Tensor, betaIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const xhat = tf.mul(tf.sub(xIn, mean), invstd);
    save([xhat, gammaIn, invstd]);
    return {
      value: tf.add(tf.mul(xhat, gammaIn), betaIn),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xhatSaved, gammaSaved, invstdSaved] = saved;
        const dbeta = tf.sum(dy, [0, 1, 2]);
        const dgamma = tf.sum(tf.mul(dy, xhatSaved), [0, 1, 2]);
        const scale = tf.div(tf.mul(gammaSaved, invstdSaved), count);
        const dx = tf.mul(scale, tf.sub(tf.sub(tf.mul(dy, count), dbeta), tf.mul(xhatSaved, dgamma)));
        return [dx, dgamma, dbeta];
      },
    };
    // tfjs types customGrad's callback as variadic (Tensor | GradSaveFunc)[]; the positional form is what it calls.
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = op(x, gamma, beta) as tf.Tensor4D;
  return { y, mean, variance };
}

/**
 * Kernels a backend may provide to run batchNormTrain in one pass each way (the native backend does):
 *   BATCH_NORM_TRAIN_KERNEL      inputs {x, gamma, beta}, attrs {epsilon} -> [y, mean, variance]
 *   BATCH_NORM_TRAIN_GRAD_KERNEL inputs {dy, x, mean, variance, gamma}, attrs {epsilon} -> [dx, dgamma, dbeta]
 * with the formulas of batchNormTrain. Where they are absent, batchNormTrain composes tfjs ops.
 */
export const BATCH_NORM_TRAIN_KERNEL = 'KdclBatchNormTrain';
export const BATCH_NORM_TRAIN_GRAD_KERNEL = 'KdclBatchNormTrainGrad';

// Registered once for every backend: the gradient only runs where the forward kernel exists.
tf.registerGradient({
  kernelName: BATCH_NORM_TRAIN_KERNEL,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [false, true, true],
  gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
    // mean and variance carry no gradient (see BatchNormTrainResult): only dy of y is used.
    const dy = Array.isArray(dys) ? dys[0] : dys;
    const [x, gamma, mean, variance] = saved;
    const [dx, dgamma, dbeta] = tf.engine().runKernel(BATCH_NORM_TRAIN_GRAD_KERNEL, { dy, x, mean, variance, gamma },
      attrs ?? {}) as tf.Tensor[];
    return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
  },
});

function fusedBatchNormTrain(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): BatchNormTrainResult {
  const [y, mean, variance] = tf.engine().runKernel(BATCH_NORM_TRAIN_KERNEL, { x, gamma, beta },
    { epsilon: eps }) as tf.Tensor[];
  return { y: y as tf.Tensor4D, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

/** Batch normalisation in eval mode with running statistics. */
export function batchNormEval(
  x: tf.Tensor4D,
  runningMean: tf.Tensor1D,
  runningVariance: tf.Tensor1D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps = 1e-5,
): tf.Tensor4D {
  return tf.batchNorm4d(x, runningMean, runningVariance, beta, gamma, eps);
}
