/**
 * Classification losses on integer labels: hard cross-entropy, sigmoid BCE (iCaRL), separated softmax (SS-IL),
 * LUCIR's margin ranking, and IL2A's ISDA-style logit correction.
 *
 * Shapes: logits [batch, classes] in incremental label space (classes in arrival order, old classes first).
 */
import { tf } from '../tf';
import {
  type LabelsLike, assertRank, assertSameShape, assertTemperature, fail, labelTensor, leadingColumns, oneHotFloat,
  stopGradient,
} from './util';

/**
 * Hard cross-entropy, batch mean:
 *   L = -1/N sum_i log softmax(z_i / T)[y_i]
 * as torch.nn.functional.cross_entropy (reduction 'mean'). T defaults to 1; PASS/IL2A/PRAKA divide their logits
 * by `temp` = 0.1 before the CE (CVPR21_PASS PASS.py `_compute_loss`), which is `temperature: 0.1` here.
 */
export function crossEntropy(logits: tf.Tensor2D, labels: LabelsLike, options: { temperature?: number } = {}): tf.Scalar {
  const fn = 'crossEntropy';
  assertRank(fn, 'logits', logits, 2);
  const temperature = options.temperature ?? 1;
  assertTemperature(fn, temperature);
  return tf.tidy(() => {
    const [batch, classes] = logits.shape;
    const y = labelTensor(fn, labels, batch, classes);
    const logp = tf.logSoftmax(temperature === 1 ? logits : tf.div(logits, temperature));
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHotFloat(y, classes), logp), 1))) as tf.Scalar;
  });
}

/**
 * Binary cross-entropy on logits, mean over every element (batch x classes):
 *   L = 1/(N C) sum_ic [ softplus(z_ic) - t_ic z_ic ]   (= -t log s(z) - (1-t) log(1 - s(z)))
 * The mean over all elements follows the original iCaRL code (srebuffi/iCaRL iCaRL-Tensorflow/main_resnet_tf.py:
 * `tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(...))` over the [batch, classes] matrix; the Theano
 * version takes `.mean()` of lasagne's binary_crossentropy likewise). FACIL's icarl.py instead sums per-class BCE
 * over the old classes, a scale of C_old larger on the distillation part.
 */
export function bceWithLogits(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  const fn = 'bceWithLogits';
  assertRank(fn, 'logits', logits, 2);
  assertSameShape(fn, ['logits', 'targets'], logits, targets);
  return tf.tidy(() => tf.mean(tf.sub(tf.softplus(logits), tf.mul(stopGradient(targets), logits))) as tf.Scalar);
}

/**
 * iCaRL's BCE targets over `numClasses` outputs (iCaRL Alg. 3; main_resnet_tf.py builds them the same way):
 *   t[:, :K]  = sigmoid(teacherLogits[:, :K])   (distillation: the old network's outputs on the old classes)
 *   t[:, K:]  = onehot(y)[:, K:]                (classification of the new classes)
 * with K = teacherLogits.shape[1] (0 and all one-hot when teacherLogits is null, i.e. on the first task, or
 * with KD removed). A replayed exemplar's own old-class label is therefore not a target: its old-class outputs
 * are distilled, as in the original.
 */
export function icarlTargets(labels: LabelsLike, teacherLogits: tf.Tensor2D | null, numClasses: number): tf.Tensor2D {
  const fn = 'icarlTargets';
  if (!Number.isInteger(numClasses) || numClasses <= 0) fail(fn, `numClasses must be a positive integer, got ${numClasses}`);
  const batch = labels instanceof tf.Tensor ? labels.shape[0] : labels.length;
  return tf.tidy(() => {
    const oneHot = oneHotFloat(labelTensor(fn, labels, batch, numClasses), numClasses);
    if (teacherLogits === null || teacherLogits.shape[1] === 0) return oneHot;
    assertRank(fn, 'teacherLogits', teacherLogits, 2);
    const old = teacherLogits.shape[1];
    if (teacherLogits.shape[0] !== batch) fail(fn, `teacherLogits has ${teacherLogits.shape[0]} rows, labels ${batch}`);
    if (old > numClasses) fail(fn, `teacherLogits has ${old} classes, more than numClasses = ${numClasses}`);
    const distilled = tf.sigmoid(stopGradient(teacherLogits));
    if (old === numClasses) return distilled;
    return tf.concat([distilled, tf.slice(oneHot, [0, old], [-1, numClasses - old])], 1) as tf.Tensor2D;
  });
}

/**
 * Separated-softmax cross-entropy (SS-IL, Ahn et al. ICCV 2021, Eq. 3; hongjoon0805/SS-IL-Official trainer/ssil.py):
 *   new-task sample i:  -log softmax(z_i[old:])[y_i - old]
 *   replayed sample i:  -log softmax(z_i[:old])[y_i]
 *   L = (sum over all samples) / N
 * The official code sums both parts (CrossEntropyLoss(reduction='sum')) and divides by the whole batch size
 * (new + replay), which is what this does. `replay` is 1 for exemplars and 0 for current-task samples
 * (Batch.replay). A new sample's loss does not depend on the old-class logits at all, so it sends them no gradient.
 * Labels must agree with the mask (new samples in [old, classes), replayed ones below old); a label on the wrong
 * side contributes 0. With oldClasses = 0 this is the plain batch-mean CE.
 */
export function separatedSoftmaxCE(logits: tf.Tensor2D, labels: LabelsLike, replay: tf.Tensor1D, oldClasses: number): tf.Scalar {
  const fn = 'separatedSoftmaxCE';
  assertRank(fn, 'logits', logits, 2);
  const [batch, classes] = logits.shape;
  if (!Number.isInteger(oldClasses) || oldClasses < 0 || oldClasses >= classes) {
    fail(fn, `oldClasses must be an integer in [0, ${classes}) (the logits' class count), got ${oldClasses}`);
  }
  if (replay.rank !== 1 || replay.shape[0] !== batch) fail(fn, `replay must be a 1-D tensor of length ${batch}, got shape [${replay.shape.join(', ')}]`);
  return tf.tidy(() => {
    const oneHot = oneHotFloat(labelTensor(fn, labels, batch, classes), classes);
    const newPart = tf.sum(tf.mul(tf.slice(oneHot, [0, oldClasses], [-1, -1]), tf.logSoftmax(tf.slice(logits, [0, oldClasses], [-1, -1]))), 1);
    if (oldClasses === 0) return tf.neg(tf.mean(newPart)) as tf.Scalar;
    const oldPart = tf.sum(tf.mul(tf.slice(oneHot, [0, 0], [-1, oldClasses]), tf.logSoftmax(tf.slice(logits, [0, 0], [-1, oldClasses]))), 1);
    const isReplay = tf.cast(replay, 'float32');
    const perSample = tf.add(tf.mul(isReplay, oldPart), tf.mul(tf.sub(1, isReplay), newPart));
    return tf.neg(tf.mean(perSample)) as tf.Scalar;
  });
}

/**
 * LUCIR's inter-class separation (Hou et al. CVPR 2019, Eq. 8), on the cosine scores before the learnable scale:
 * for each sample of an old class (y_i < old, i.e. replayed exemplars), its ground-truth score against the K
 * highest new-class scores,
 *   L = 1/(|H| K) sum_{i in H} sum_{k<K} max(0, m - <theta_y, f_i> + <theta_k, f_i>)
 * = nn.MarginRankingLoss(margin=m) (mean over the |H| K pairs), as the official CVPR19_Incremental_Learning code
 * and FACIL lucir.py. Defaults m = 0.5, K = 2 (paper Sec. 4.1; FACIL/PyCIL defaults). 0 when the batch holds no
 * old-class sample. The top-K choice itself carries no gradient (as torch.topk's indices); ties go to the lower index.
 */
export function marginRanking(
  scores: tf.Tensor2D, labels: LabelsLike, oldClasses: number, options: { margin?: number; k?: number } = {},
): tf.Scalar {
  const fn = 'marginRanking';
  assertRank(fn, 'scores', scores, 2);
  const margin = options.margin ?? 0.5;
  const k = options.k ?? 2;
  const [batch, classes] = scores.shape;
  if (!Number.isInteger(oldClasses) || oldClasses < 0 || oldClasses > classes) fail(fn, `oldClasses must be in [0, ${classes}], got ${oldClasses}`);
  if (oldClasses === 0) return tf.scalar(0);
  const newClasses = classes - oldClasses;
  if (!Number.isInteger(k) || k < 1 || k > newClasses) fail(fn, `k must be an integer in [1, ${newClasses}] (the new-class count), got ${k}`);
  return tf.tidy(() => {
    const y = labelTensor(fn, labels, batch, classes);
    const groundTruth = tf.sum(tf.mul(oneHotFloat(y, classes), scores), 1, true); // [N, 1]
    const novel = tf.slice(scores, [0, oldClasses], [-1, -1]);
    // The K largest by repeated argMax: tfjs has no TopK gradient, and the tape would walk through its indices.
    const picked: tf.Tensor1D[] = [];
    let remaining: tf.Tensor2D = novel;
    for (let i = 0; i < k; i++) {
      const choice = oneHotFloat(tf.argMax(remaining, 1) as tf.Tensor1D, newClasses);
      picked.push(tf.sum(tf.mul(choice, novel), 1));
      remaining = tf.where(tf.cast(choice, 'bool'), tf.fill(remaining.shape, -Infinity), remaining);
    }
    const topScores = tf.stack(picked, 1); // [N, K]
    const hard = tf.cast(tf.less(y, oldClasses), 'float32'); // [N]
    const hinge = tf.relu(tf.add(tf.sub(topScores, groundTruth), margin));
    const total = tf.sum(tf.mul(hinge, tf.expandDims(hard, 1)));
    const pairs = tf.mul(tf.maximum(tf.sum(hard), 1), k);
    return tf.div(total, pairs) as tf.Scalar;
  });
}

/**
 * ISDA-style semantic augmentation of logits (IL2A, Zhu et al. NeurIPS 2021, Eq. 7; Impression2805/IL2A
 * cifar/IL2A.py `semanAug`, PyCIL models/il2a.py `_semantic_aug`): for a sample (or prototype) of class y,
 *   z~_j = z_j + (lambda / 2) (w_j - w_y)^T Sigma_y (w_j - w_y)
 * the expected-CE upper bound over features drawn from N(f, lambda Sigma_y). The official code uses lambda =
 * `ratio` = 2.5. Gradient flows into the classifier weights (as in both references); Sigma is a constant.
 *
 * @param logits       [N, C]
 * @param weights      head kernel [featureDim, C'] (features @ weights), C' >= C: the first C columns are used
 * @param labels       class y of each row, in [0, C)
 * @param covariances  [K, D, D], indexed by label (K > every label), e.g. memory's classCovariances
 */
export function isdaLogits(
  logits: tf.Tensor2D, weights: tf.Tensor2D, labels: LabelsLike, covariances: tf.Tensor3D, lambda: number,
): tf.Tensor2D {
  const fn = 'isdaLogits';
  assertRank(fn, 'logits', logits, 2);
  assertRank(fn, 'weights', weights, 2);
  assertRank(fn, 'covariances', covariances, 3);
  const [batch, classes] = logits.shape;
  const dim = weights.shape[0];
  if (covariances.shape[1] !== dim || covariances.shape[2] !== dim) {
    fail(fn, `covariances must be [K, ${dim}, ${dim}] to match weights [${weights.shape.join(', ')}], got [${covariances.shape.join(', ')}]`);
  }
  return tf.tidy(() => {
    const y = labelTensor(fn, labels, batch, Math.min(classes, covariances.shape[0]));
    const classWeights = tf.transpose(leadingColumns(fn, weights, classes, 'weights')); // [C, D]
    const diff = tf.sub(tf.expandDims(classWeights, 0), tf.expandDims(tf.gather(classWeights, y), 1)); // [N, C, D]
    const sigma = tf.gather(covariances, y); // [N, D, D]
    const quadratic = tf.sum(tf.mul(tf.matMul(diff, sigma), diff), 2); // [N, C]
    return tf.add(logits, tf.mul(quadratic, 0.5 * lambda)) as tf.Tensor2D;
  });
}
