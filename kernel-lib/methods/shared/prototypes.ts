/** What the prototype methods (PASS, IL2A, PRAKA) share around their prototype store: task features and sampling. */
import { tf } from '../../tf';
import type { PrototypeStore } from '../../memory/index';
import type { TaskContext } from '../types';
import { randomInt, type Uniform } from './sampling';

/** Which images the prototype statistics (class means, PASS's radius, IL2A's covariances) are computed from. */
export type PrototypeImages = 'augmented' | 'plain';

/**
 * Eval-mode features of the current task's training images and their labels; the caller disposes `features`.
 * 'augmented' (the default of PASS / IL2A / PRAKA here): the official `protoSave` iterates the training loader, whose
 * transform crops and flips, with the model in eval mode, so the statistics (PASS's radius above all) include the
 * augmentation's spread. 'plain': the images as they are.
 */
export function currentTaskFeatures(ctx: TaskContext, images: PrototypeImages): { features: tf.Tensor2D; labels: Int32Array; classes: number[] } {
  const indices = ctx.services.taskIndices(ctx.task);
  const classes = Array.from({ length: ctx.task.end - ctx.task.start }, (_, i) => ctx.task.start + i);
  return { features: ctx.services.features(indices, undefined, images === 'augmented'), labels: ctx.services.labels(indices), classes };
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

