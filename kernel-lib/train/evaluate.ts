/**
 * Evaluation on the test images of every class seen so far (task-agnostic CIL protocol: one prediction over all
 * seen classes, no task id). The CNN prediction is the arg-max of the network's logits over the seen classes; a
 * method with `predict` (iCaRL's NME, BiC's corrected logits) gives the primary prediction, and the CNN one is
 * reported beside it. Accuracies come from kernel-lib/metrics' stepMetrics.
 */
import { tf } from '../tf';
import type { NetworkLike, TaskSpec } from '../methods/types';
import { stepMetrics, type StepMetrics } from '../metrics/index';
import type { PreparedData } from './data';

export interface Evaluation {
  /** Classes 0..seenClasses-1 were evaluated (incremental labels). */
  seenClasses: number;
  /** Test-split indices evaluated, their labels, and the primary and CNN predictions. */
  indices: Int32Array;
  targets: Int32Array;
  predictions: Int32Array;
  cnnPredictions: Int32Array;
  /** Metrics of the primary prediction (method.predict if the method has one, else CNN). */
  primary: StepMetrics;
  cnn: StepMetrics;
  /** Whether `primary` comes from method.predict. */
  fromMethod: boolean;
}

export interface EvaluateOptions {
  net: NetworkLike;
  data: PreparedData;
  /** The scenario's tasks, and the index of the task just learnt. */
  tasks: TaskSpec[];
  task: number;
  predict?: (x: tf.Tensor4D) => tf.Tensor2D;
  batchSize: number;
}

export function evaluateNetwork(opts: EvaluateOptions): Evaluation {
  const { data } = opts;
  const seenClasses = opts.tasks[opts.task].end;
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
      if (!opts.predict) return { cnn: cnnPred };
      const scores = opts.predict(x);
      if (scores.rank !== 2 || scores.shape[0] !== batch.n || scores.shape[1] < seenClasses) {
        throw new Error(`method.predict must return scores [${batch.n}, >= ${seenClasses}], got [${scores.shape}]`);
      }
      return { cnn: cnnPred, primary: tf.argMax(scores.slice([0, 0], [-1, seenClasses]), 1) };
    });
    cnnPredictions.set(cnn.dataSync() as Int32Array, offset);
    if (primary) predictions.set(primary.dataSync() as Int32Array, offset);
    cnn.dispose();
    primary?.dispose();
    offset += batch.n;
  }
  const cnnMetrics = stepMetrics(cnnPredictions, targets, opts.tasks, opts.task);
  return {
    seenClasses,
    indices,
    targets,
    predictions,
    cnnPredictions,
    primary: opts.predict ? stepMetrics(predictions, targets, opts.tasks, opts.task) : cnnMetrics,
    cnn: cnnMetrics,
    fromMethod: Boolean(opts.predict),
  };
}
