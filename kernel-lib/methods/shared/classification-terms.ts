/** Cross-entropy terms over a slice of the head's logits, as several methods' losses use them. */
import { tf } from '../../tf';
import { crossEntropy } from '../../losses/index';
import type { StepContext } from '../types';
import type { HeadLayout } from './heads';

// step.student() / step.teacherOut() are tf.keep'd for the whole step, so a tf.tidy around a call to them is safe.

/** CE over logits [start, end) of the network's output, labels shifted to that range. */
export function rangeCrossEntropy(step: StepContext, start: number, end: number): tf.Scalar {
  return tf.tidy(() => {
    const logits = step.student().logits;
    const slice = logits.slice([0, start], [-1, end - start]) as tf.Tensor2D;
    const labels = start === 0 ? step.batch.y : (tf.sub(step.batch.y, start) as tf.Tensor1D);
    return crossEntropy(slice, labels);
  });
}

/** CE of the current task's samples over the current task's logits. */
export function newTaskCrossEntropy(step: StepContext, layout: HeadLayout): tf.Scalar {
  const labels = step.task.start === 0 ? step.batch.y : (tf.sub(step.batch.y, step.task.start) as tf.Tensor1D);
  return crossEntropy(layout.newLogits(step), labels);
}

