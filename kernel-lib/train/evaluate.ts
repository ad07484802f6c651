/**
 * Evaluation on the test images of every class seen so far (task-agnostic CIL protocol: one prediction over all
 * seen classes, no task id). The CNN prediction is the arg-max of the network's logits over the seen classes; a
 * method with `predict` (iCaRL's NME, BiC's corrected logits) gives the primary prediction, and the CNN one is
 * reported beside it.
 */
import { tf } from '../tf.ts';
import type { NetworkLike, TaskSpec } from '../methods/types.ts';
import type { PreparedData } from './data.ts';

export interface Evaluation {
  /** Classes 0..seenClasses-1 were evaluated (incremental labels). */
  seenClasses: number;
  /** Test-split indices evaluated, their labels, and the primary and CNN predictions. */
  indices: Int32Array;
  targets: Int32Array;
  predictions: Int32Array;
  cnnPredictions: Int32Array;
  /** Primary accuracy (the method's predict if it has one, else CNN), in [0, 1]. */
  accuracy: number;
  cnnAccuracy: number;
  /** Accuracy of method.predict, or null for methods without one. */
  methodAccuracy: number | null;
  /** Primary accuracy on each task's classes so far: the accuracy matrix row. */
  perTask: number[];
  /** Primary accuracy on classes of earlier tasks (null on task 0) and on the newest task's classes. */
  oldAccuracy: number | null;
  newAccuracy: number;
}

export interface EvaluateOptions {
  net: NetworkLike;
  data: PreparedData;
  seenClasses: number;
  tasks: TaskSpec[];
  predict?: (x: tf.Tensor4D) => tf.Tensor2D;
  batchSize: number;
}

function accuracyWhere(predictions: Int32Array, targets: Int32Array, keep: (label: number) => boolean): number | null {
  let hit = 0;
  let total = 0;
  for (let i = 0; i < targets.length; i++) {
    if (!keep(targets[i])) continue;
    total++;
    if (predictions[i] === targets[i]) hit++;
  }
  return total === 0 ? null : hit / total;
}

export function evaluateNetwork(opts: EvaluateOptions): Evaluation {
  const { data, seenClasses } = opts;
  const indices = data.testIndicesOfClasses(0, seenClasses);
  const targets = data.testLabels(indices);
  const cnnPredictions = new Int32Array(indices.length);
  const predictions = opts.predict ? new Int32Array(indices.length) : cnnPredictions;
  let offset = 0;
  for (const batch of data.evalBatches('test', indices, opts.batchSize)) {
    const { cnn, primary } = tf.tidy((): { cnn: tf.Tensor; primary?: tf.Tensor } => {
      const x = data.imagesTensor(batch);
      const logits = opts.net.forward(x, { training: false }).logits;
      if (logits.shape[1] < seenClasses) {
        throw new Error(`evaluation: the head has ${logits.shape[1]} outputs but ${seenClasses} classes were seen (did beforeTask expand the head?)`);
      }
      const cnnPred = tf.argMax(logits.slice([0, 0], [-1, seenClasses]), 1);
      let methodPred: tf.Tensor | undefined;
      if (opts.predict) {
        const scores = opts.predict(x);
        if (scores.rank !== 2 || scores.shape[0] !== batch.n || scores.shape[1] < seenClasses) {
          throw new Error(`method.predict must return scores [${batch.n}, >= ${seenClasses}], got [${scores.shape}]`);
        }
        methodPred = tf.argMax(scores.slice([0, 0], [-1, seenClasses]), 1);
      }
      return methodPred ? { cnn: cnnPred, primary: methodPred } : { cnn: cnnPred };
    });
    cnnPredictions.set(cnn.dataSync() as Int32Array, offset);
    if (primary) predictions.set(primary.dataSync() as Int32Array, offset);
    cnn.dispose();
    primary?.dispose();
    offset += batch.n;
  }
  const all = () => true;
  const newest = opts.tasks[opts.tasks.length - 1];
  const accuracy = accuracyWhere(predictions, targets, all) ?? 0;
  return {
    seenClasses,
    indices,
    targets,
    predictions,
    cnnPredictions,
    accuracy,
    cnnAccuracy: accuracyWhere(cnnPredictions, targets, all) ?? 0,
    methodAccuracy: opts.predict ? accuracy : null,
    perTask: opts.tasks.map((task) => accuracyWhere(predictions, targets, (y) => y >= task.start && y < task.end) ?? 0),
    oldAccuracy: newest.start > 0 ? accuracyWhere(predictions, targets, (y) => y < newest.start) : null,
    newAccuracy: accuracyWhere(predictions, targets, (y) => y >= newest.start && y < newest.end) ?? 0,
  };
}
