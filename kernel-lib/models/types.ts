/**
 * Model contracts. Every backbone returns its last-stage feature map and pooled features; a head maps
 * features to logits. A Network is backbone + classification head + optional auxiliary heads.
 *
 * Models are functional: weights are explicit tf.Variables, so that the trainer can pick which ones an
 * optimiser updates (e.g. BiC's stage 2 trains only the bias layer), and a teacher is a frozen clone.
 */
import type * as tf from '@tensorflow/tfjs-core';

export interface BackboneOutput {
  /** Output of the last conv stage, NHWC (after the final ReLU, unless the backbone was built without it). */
  featureMap: tf.Tensor4D;
  /** Global-average-pooled featureMap, [batch, featureDim]. */
  features: tf.Tensor2D;
}

/**
 * How batch norm runs: true (training: batch statistics, running averages updated), false (eval: running
 * averages), or 'batch-statistics' (batch statistics, running averages untouched: a frozen model looked at under
 * the same normalisation as a training one, e.g. LwM's teacher attention maps).
 */
export type BatchNormMode = boolean | 'batch-statistics';

export interface ForwardOptions {
  training: BatchNormMode;
}

export interface Module {
  /** Variables an optimiser updates. */
  readonly trainableVariables: tf.Variable[];
  /** Non-trained state (e.g. batch-norm running mean/variance), saved in checkpoints. */
  readonly stateVariables: tf.Variable[];
  dispose(): void;
}

export interface Backbone extends Module {
  readonly kind: string;
  readonly featureDim: number;
  apply(x: tf.Tensor4D, options: ForwardOptions): BackboneOutput;
  /** A deep copy with new variables (same values). */
  clone(trainable?: boolean): Backbone;
}

export interface Head extends Module {
  readonly kind: string;
  /** Number of output logits. */
  readonly outputs: number;
  apply(features: tf.Tensor2D, options: ForwardOptions): tf.Tensor2D;
  clone(trainable?: boolean): Head;
}

export interface NetworkOutput extends BackboneOutput {
  /** Classification logits over every class seen so far (in arrival order). */
  logits: tf.Tensor2D;
}
