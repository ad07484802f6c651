/** What the prototype methods (PASS, IL2A, PRAKA) share around their prototype store: task features and sampling. */
import { tf } from '../../tf';
import type { PrototypeStore } from '../../memory/index';
import type { TaskContext } from '../types';
import { randomInt, type Uniform } from './sampling';

/** Eval-mode features of the current task's training images and their labels; the caller disposes `features`. */
export function currentTaskFeatures(ctx: TaskContext): { features: tf.Tensor2D; labels: Int32Array; classes: number[] } {
  const indices = ctx.services.taskIndices(ctx.task);
  const classes = Array.from({ length: ctx.task.end - ctx.task.start }, (_, i) => ctx.task.start + i);
  return { features: ctx.services.features(indices), labels: ctx.services.labels(indices), classes };
}

/**
 * `count` old classes drawn uniformly with replacement from [0, oldClasses) and their prototypes, [count, dim]
 * (PASS.py/IL2A.py: `np.random.shuffle(index); index[0]` per sample, i.e. a uniform class per sample).
 */
export function sampleOldPrototypes(
  store: PrototypeStore, oldClasses: number, count: number, random: Uniform,
): { rows: Float32Array; classes: Int32Array } {
  const { dim } = store;
  const rows = new Float32Array(count * dim);
  const classes = new Int32Array(count);
  for (let k = 0; k < count; k++) {
    const c = randomInt(random, oldClasses);
    classes[k] = c;
    rows.set(store.means.subarray(c * dim, (c + 1) * dim), k * dim);
  }
  return { rows, classes };
}

export function zeroTerm(): tf.Scalar {
  return tf.scalar(0);
}

