/**
 * Functional building blocks with explicit variables: a bias-free conv and a batch-norm layer.
 * Each holds its variables under stable local names and can deep-copy itself (for teachers).
 */
import { tf } from '../tf';
import { batchNormEval, batchNormTrain } from '../backend/ops';
import { copyVariable, variableSeed, kaimingNormalFanOut, makeVariable } from './init';
import type { BatchNormMode } from './types';

/** Conv padding as PyTorch's symmetric `padding=p` (tfjs takes a number as the same explicit padding). */
export interface ConvShape {
  kernel: number;
  inChannels: number;
  outChannels: number;
  stride: number;
  pad: number;
}

export class Conv2d {
  readonly filter: tf.Variable<tf.Rank.R4>;

  private constructor(readonly shape: ConvShape, filter: tf.Variable<tf.Rank.R4>) {
    this.filter = filter;
  }

  static create(shape: ConvShape, seed: number, name: string, trainable: boolean): Conv2d {
    const { kernel, inChannels, outChannels } = shape;
    const init = kaimingNormalFanOut([kernel, kernel, inChannels, outChannels], variableSeed(seed, name));
    return new Conv2d(shape, makeVariable(init, trainable));
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.conv2d(x, this.filter, this.shape.stride, this.shape.pad);
  }

  clone(trainable: boolean): Conv2d {
    return new Conv2d(this.shape, copyVariable(this.filter, trainable));
  }

  dispose(): void {
    this.filter.dispose();
  }
}

/** PyTorch BatchNorm2d defaults (torch.nn.BatchNorm2d: eps=1e-5, momentum=0.1). */
export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

/**
 * Batch norm over N, H, W. Training mode normalises with the batch statistics and updates the running
 * averages as PyTorch does: running = (1 - momentum) * running + momentum * batch, where the variance fed
 * into the running average is the unbiased one (times M / (M - 1), M = N * H * W).
 */
export class BatchNorm {
  constructor(
    readonly gamma: tf.Variable<tf.Rank.R1>,
    readonly beta: tf.Variable<tf.Rank.R1>,
    readonly runningMean: tf.Variable<tf.Rank.R1>,
    readonly runningVariance: tf.Variable<tf.Rank.R1>,
  ) {}

  /** gamma = 1, beta = 0 (PyCIL convs/cifar_resnet.py and torchvision resnet), running mean 0, variance 1. */
  static create(channels: number, trainable: boolean): BatchNorm {
    return new BatchNorm(
      makeVariable(tf.ones([channels]) as tf.Tensor1D, trainable),
      makeVariable(tf.zeros([channels]) as tf.Tensor1D, trainable),
      makeVariable(tf.zeros([channels]) as tf.Tensor1D, false),
      makeVariable(tf.ones([channels]) as tf.Tensor1D, false),
    );
  }

  apply(x: tf.Tensor4D, training: BatchNormMode): tf.Tensor4D {
    if (!training) return batchNormEval(x, this.runningMean, this.runningVariance, this.gamma, this.beta, BN_EPS);
    const { y, mean, variance } = batchNormTrain(x, this.gamma, this.beta, BN_EPS);
    const count = x.shape[0] * x.shape[1] * x.shape[2];
    if (count < 2) {
      // As torch.nn.BatchNorm2d: the batch variance of a single value is meaningless.
      throw new Error(`BatchNorm in training mode needs more than one value per channel, got input [${x.shape.join(', ')}]; use a larger batch`);
    }
    if (training === 'batch-statistics') return y;
    const unbiased = count / (count - 1);
    // The new values are built and assigned here, inside the step: a variable keeps its buffer alive through
    // assign, and the temporaries die with this tidy, so nothing leaks into the caller's scope.
    tf.tidy(() => {
      this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
      this.runningVariance.assign(
        tf.add(tf.mul(this.runningVariance, 1 - BN_MOMENTUM), tf.mul(variance, BN_MOMENTUM * unbiased)),
      );
    });
    return y;
  }

  clone(trainable: boolean): BatchNorm {
    return new BatchNorm(
      copyVariable(this.gamma, trainable),
      copyVariable(this.beta, trainable),
      copyVariable(this.runningMean, false),
      copyVariable(this.runningVariance, false),
    );
  }

  dispose(): void {
    for (const v of [this.gamma, this.beta, this.runningMean, this.runningVariance]) v.dispose();
  }
}
