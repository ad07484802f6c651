/**
 * The prototype store of the exemplar-free methods (PASS, IL2A, PRAKA): one class mean per class learnt so far,
 * kept in the method's checkpointed state.
 */
import type { tf } from '../tf';
import { classMeans } from './prototypes';

/** Class means of every class learnt so far, row c = class c, kept in the method's checkpointed state. */
export interface PrototypeStore {
  dim: number;
  /** Classes 0..classes-1 have a prototype. */
  classes: number;
  /** [classes, dim] row-major. */
  means: Float32Array;
}

/** The store with the current task's class means appended (PASS/IL2A/PRAKA `protoSave`). */
export function appendClassMeans(
  store: PrototypeStore | undefined,
  ctx: { net: { featureDim: number }; task: { index: number; start: number } },
  taskData: { features: tf.Tensor2D; labels: Int32Array; classes: number[] },
  method: string,
): PrototypeStore {
  const dim = ctx.net.featureDim;
  const have = store?.classes ?? 0;
  if (have !== ctx.task.start) {
    throw new Error(`${method}: the method state holds prototypes of ${have} classes but task ${ctx.task.index} starts at class ${ctx.task.start} (was the method state lost or reset?)`);
  }
  if (store && store.dim !== dim) throw new Error(`${method}: stored prototypes are ${store.dim}-d but the network's features are ${dim}-d`);
  const means = classMeans(taskData.features, taskData.labels, taskData.classes);
  const all = new Float32Array((have + taskData.classes.length) * dim);
  if (store) all.set(store.means.subarray(0, have * dim));
  all.set(means.data, have * dim);
  return { dim, classes: have + taskData.classes.length, means: all };
}

/** The stored prototypes from the state (an error naming the method if there are none for the old classes). */
export function storedPrototypes(store: PrototypeStore | undefined, oldClasses: number, method: string): PrototypeStore {
  if (!store || store.classes < oldClasses) {
    throw new Error(`${method}: no stored prototypes for the ${oldClasses} old classes (afterTask of the previous task did not run, or the method state was lost)`);
  }
  return store;
}

