/** BiC's bias-correction layer on a task's logits. */
import { tf } from '../tf';
import type { ForwardOptions } from './types';
import { copyVariable, makeVariable } from './init';
import { type DescribedHead, type HeadArchitecture, type LogitRange } from './head-base';

/**
 * BiC's bias-correction layer (Wu et al. 2019, eq. 5): on the logits of one task's classes,
 * q_k = alpha * o_k + beta; other logits pass unchanged. alpha = 1, beta = 0 at start (the identity, as PyCIL
 * utils/inc_net.py BiasLayer). Its only trainable variables are alpha and beta.
 *
 * It acts on logits, not features: `apply(logits, range?)` corrects `range` (default: the range it was built
 * for, the newest task when it was created).
 */
export class BiasLayer implements DescribedHead {
  readonly kind = 'bias';
  readonly alpha: tf.Variable<tf.Rank.R1>;
  readonly beta: tf.Variable<tf.Rank.R1>;

  constructor(readonly range: LogitRange, readonly trainable = true, values?: { alpha: tf.Variable<tf.Rank.R1>; beta: tf.Variable<tf.Rank.R1> }) {
    if (!(Number.isInteger(range.start) && Number.isInteger(range.end) && range.start >= 0 && range.end > range.start)) {
      throw new Error(`BiasLayer: range must be integers with 0 <= start < end, got [${range.start}, ${range.end})`);
    }
    this.alpha = values?.alpha ?? makeVariable(tf.ones([1]) as tf.Tensor1D, trainable);
    this.beta = values?.beta ?? makeVariable(tf.zeros([1]) as tf.Tensor1D, trainable);
  }

  /** Number of logits it expects at least (the end of its range). */
  get outputs(): number {
    return this.range.end;
  }

  apply(logits: tf.Tensor2D, rangeOrOptions?: LogitRange | ForwardOptions): tf.Tensor2D {
    const range = rangeOrOptions && 'start' in rangeOrOptions ? rangeOrOptions : this.range;
    const width = logits.shape[1];
    if (logits.rank !== 2 || range.start < 0 || range.end > width || range.start >= range.end) {
      throw new Error(`BiasLayer.apply: range [${range.start}, ${range.end}) does not fit logits of shape [${logits.shape.join(', ')}]`);
    }
    return tf.tidy(() => {
      const mask = new Float32Array(width);
      mask.fill(1, range.start, range.end);
      const inRange = tf.tensor2d(mask, [1, width]);
      // Outside the range: logits * 1 + 0, exactly the input.
      const scale = tf.add(1, tf.mul(inRange, tf.sub(this.alpha, 1)));
      return tf.add(tf.mul(logits, scale), tf.mul(inRange, this.beta));
    });
  }

  get trainableVariables(): tf.Variable[] {
    return this.trainable ? [this.alpha, this.beta] : [];
  }

  get stateVariables(): tf.Variable[] {
    return [];
  }

  namedVariables(): Map<string, tf.Variable> {
    return new Map<string, tf.Variable>([
      ['alpha', this.alpha],
      ['beta', this.beta],
    ]);
  }

  describe(): HeadArchitecture {
    return { kind: 'bias', range: { ...this.range } };
  }

  clone(trainable = false): BiasLayer {
    return new BiasLayer({ ...this.range }, trainable, { alpha: copyVariable(this.alpha, trainable), beta: copyVariable(this.beta, trainable) });
  }

  dispose(): void {
    this.alpha.dispose();
    this.beta.dispose();
  }
}
