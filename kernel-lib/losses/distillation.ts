/**
 * Distillation losses: the student is pulled towards a teacher (the frozen network of the previous task, or
 * PRAKA's own aggregated rotation head). Every teacher-side input is wrapped in stopGradient, as the references
 * `.detach()` it, so a loss never sends gradient into its targets even when they come from the student's graph.
 *
 * Logit KD takes student logits with at least as many columns as the teacher's and distils the first K = the
 * teacher's columns (old classes come first in arrival order), as PyCIL's `logits[:, :known_classes]`.
 */
import { tf } from '../tf';
import {
  type LabelsLike, assertRank, assertSameShape, assertTemperature, batchMean, fail, l2Normalize, labelTensor,
  leadingColumns, stopGradient,
} from './util';

function studentAndTeacher(fn: string, logits: tf.Tensor2D, teacherLogits: tf.Tensor2D): [tf.Tensor2D, tf.Tensor2D] {
  assertRank(fn, 'logits', logits, 2);
  assertRank(fn, 'teacherLogits', teacherLogits, 2);
  if (logits.shape[0] !== teacherLogits.shape[0]) fail(fn, `logits has ${logits.shape[0]} rows, teacherLogits ${teacherLogits.shape[0]}`);
  return [leadingColumns(fn, logits, teacherLogits.shape[1]), stopGradient(teacherLogits)];
}

/**
 * Soft-target cross-entropy with temperature T (LwF, EEIL, BiC), batch mean, NOT multiplied by T^2:
 *   L = -1/N sum_i sum_c softmax(t_i / T)_c log softmax(z_i / T)_c
 * This is PyCIL's `_KD_loss` (models/lwf.py: `-(soft * log_softmax(pred/T)).sum() / batch`) and FACIL lwf.py
 * `cross_entropy(..., exp=1/T)` (softmax(z)^(1/T) renormalised = softmax(z/T), batch mean). FACIL additionally
 * mixes eps = 1e-5 / C into the student probabilities before the log; we use the exact log-softmax (the values
 * differ by about 1e-5). LwF, EEIL and BiC use T = 2.
 */
export function softTargetCE(logits: tf.Tensor2D, teacherLogits: tf.Tensor2D, temperature: number): tf.Scalar {
  const fn = 'softTargetCE';
  assertTemperature(fn, temperature);
  return tf.tidy(() => {
    const [student, teacher] = studentAndTeacher(fn, logits, teacherLogits);
    const target = tf.softmax(tf.div(teacher, temperature));
    return tf.neg(batchMean(tf.sum(tf.mul(target, tf.logSoftmax(tf.div(student, temperature))), 1))) as tf.Scalar;
  });
}

/**
 * KL(p_teacher || p_student) with temperature, 'batchmean' reduction, times T^2 (Hinton et al. 2015):
 *   L = T^2 / N sum_i sum_c p_ic (log p_ic - log q_ic),  p = softmax(t / T), q = softmax(z / T)
 * = F.kl_div(log_softmax(z/T), softmax(t/T), reduction='batchmean') * T**2, as SS-IL-Official trainer/ssil.py
 * (T = 2). With T = 1 it is PRAKA's asymmetric KD (see asymmetricKD).
 */
export function klDistillation(logits: tf.Tensor2D, teacherLogits: tf.Tensor2D, temperature: number): tf.Scalar {
  const fn = 'klDistillation';
  assertTemperature(fn, temperature);
  return tf.tidy(() => {
    const [student, teacher] = studentAndTeacher(fn, logits, teacherLogits);
    const logP = tf.logSoftmax(tf.div(teacher, temperature));
    const logQ = tf.logSoftmax(tf.div(student, temperature));
    const perSample = tf.sum(tf.mul(tf.exp(logP), tf.sub(logP, logQ)), 1) as tf.Tensor1D;
    return tf.mul(batchMean(perSample), temperature * temperature) as tf.Scalar;
  });
}

/**
 * SS-IL's task-wise KD (Ahn et al. ICCV 2021, Eq. 4; SS-IL-Official trainer/ssil.py): the KL above computed
 * separately inside each old task's block of logits (softmax within the block), summed over blocks:
 *   L = sum_{b in blocks} T^2 KL_batchmean( softmax(t[:, b] / T) || softmax(z[:, b] / T) )
 * over the whole batch (current and replayed samples), with T = 2 (the official code's `T=2`). `blocks` are the
 * old tasks (TaskSpec start/end); each must lie inside the teacher's columns.
 */
export function taskwiseKD(
  logits: tf.Tensor2D, teacherLogits: tf.Tensor2D, blocks: readonly { start: number; end: number }[], temperature = 2,
): tf.Scalar {
  const fn = 'taskwiseKD';
  assertRank(fn, 'teacherLogits', teacherLogits, 2);
  if (blocks.length === 0) fail(fn, 'blocks is empty: pass the old tasks (there are none on the first task)');
  const teacherClasses = teacherLogits.shape[1];
  for (const [i, b] of blocks.entries()) {
    if (!(Number.isInteger(b.start) && Number.isInteger(b.end) && b.start >= 0 && b.end > b.start && b.end <= teacherClasses)) {
      fail(fn, `blocks[${i}] = [${b.start}, ${b.end}) must be a non-empty range inside the teacher's ${teacherClasses} classes`);
    }
  }
  return tf.tidy(() => {
    const terms = blocks.map((b) => {
      const size = b.end - b.start;
      return klDistillation(tf.slice(logits, [0, b.start], [-1, size]), tf.slice(teacherLogits, [0, b.start], [-1, size]), temperature);
    });
    return tf.addN(terms) as tf.Scalar;
  });
}

/**
 * Logit L2: mean squared difference of pre-softmax logits over every element (nn.MSELoss's default 'mean'):
 *   L = 1/(N K) sum_ic (z_ic - t_ic)^2
 * FACIL lucir.py's non-less-forget variant multiplies this by the old-class count K (do that at the call site).
 */
export function logitL2(logits: tf.Tensor2D, teacherLogits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const [student, teacher] = studentAndTeacher('logitL2', logits, teacherLogits);
    return tf.mean(tf.squaredDifference(student, teacher)) as tf.Scalar;
  });
}

/** ||x||_F with a zero (not NaN) gradient at x = 0, like torch.norm / torch.dist. */
const frobeniusNorm = tf.customGrad((...args: unknown[]) => {
  const [x, save] = args as [tf.Tensor, (tensors: tf.Tensor[]) => void];
  const norm = tf.sqrt(tf.sum(tf.square(x)));
  save([x, norm]);
  return { value: norm, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, tf.divNoNan(saved[0], saved[1])) };
});

/**
 * Feature L2 (PASS, IL2A, PRAKA): the Frobenius norm of the feature difference over the whole batch,
 *   L = sqrt( sum_i sum_d (f_id - f_old_id)^2 )
 * = torch.dist(feature, feature_old, 2), exactly as CVPR21_PASS PASS.py `_compute_loss`, IL2A cifar/IL2A.py and
 * PRAKA Cifar100/jointSSL.py (no batch mean, no square: the value grows like sqrt(N)). Their KD weights
 * (10, 10, 15) are calibrated against this scale.
 */
export function featureL2(features: tf.Tensor2D, teacherFeatures: tf.Tensor2D): tf.Scalar {
  const fn = 'featureL2';
  assertRank(fn, 'features', features, 2);
  assertSameShape(fn, ['features', 'teacherFeatures'], features, teacherFeatures);
  return tf.tidy(() => frobeniusNorm(tf.sub(features, stopGradient(teacherFeatures))) as tf.Scalar);
}

/**
 * LUCIR's less-forget constraint (Hou et al. CVPR 2019, Eq. 6): cosine embedding loss with target 1, batch mean,
 *   L = 1/N sum_i (1 - <f_i, g_i> / sqrt((|f_i|^2 + eps)(|g_i|^2 + eps))),  eps = 1e-12
 * = nn.CosineEmbeddingLoss()(f, f_old.detach(), ones), as FACIL lucir.py and the official code (the eps is
 * PyTorch's). The adaptive weight lambda_base sqrt(|old| / |new|) is the method's.
 */
export function featureCosine(features: tf.Tensor2D, teacherFeatures: tf.Tensor2D): tf.Scalar {
  const fn = 'featureCosine';
  assertRank(fn, 'features', features, 2);
  assertSameShape(fn, ['features', 'teacherFeatures'], features, teacherFeatures);
  const eps = 1e-12;
  return tf.tidy(() => {
    const teacher = stopGradient(teacherFeatures);
    const dot = tf.sum(tf.mul(features, teacher), 1);
    const denominator = tf.sqrt(tf.mul(tf.add(tf.sum(tf.square(features), 1), eps), tf.add(tf.sum(tf.square(teacher), 1), eps)));
    return tf.sub(1, batchMean(tf.div(dot, denominator) as tf.Tensor1D)) as tf.Scalar;
  });
}

/**
 * Grad-CAM (Selvaraju et al. 2017) of class c_i for each sample, for a network whose logits are a linear head on
 * global-average-pooled features of the last conv stage A (featureMap, [N, H, W, D]):
 *   logit_c = sum_k W[k, c] * (1/(HW)) sum_{hw} A_hwk + b_c
 *   => d logit_c / d A_hwk = W[k, c] / (HW)  for every (h, w), so Grad-CAM's channel weight (the spatial mean of
 *      that gradient) is alpha_k = W[k, c] / (HW), and
 *   cam_i[h, w] = ReLU( sum_k W[k, c_i] / (HW) * A_ihwk )
 * This closed form is exact for GAP + linear heads (LinearHead, LwF-style concatenated task heads; not a cosine
 * head, whose gradient depends on the features), and it is differentiable w.r.t. both featureMap and headWeights,
 * so the attention loss trains the new model. FACIL lwm.py computes Grad-CAM with backward hooks and `.detach()`es
 * the result, so its attention loss gives no gradient (FACIL issue 37); this does not.
 *
 * @param headWeights head kernel [D, C] (features @ W)
 * @param classIdx    the class per sample: LwM uses the OLD model's top-1 class for both the old and new map
 * @returns [N, H, W]
 */
export function gradCam(featureMap: tf.Tensor4D, headWeights: tf.Tensor2D, classIdx: LabelsLike): tf.Tensor3D {
  const fn = 'gradCam';
  assertRank(fn, 'featureMap', featureMap, 4);
  assertRank(fn, 'headWeights', headWeights, 2);
  const [batch, height, width, channels] = featureMap.shape;
  if (headWeights.shape[0] !== channels) {
    fail(fn, `headWeights must be [featureDim = ${channels}, classes] (the kernel applied as features @ W), got [${headWeights.shape.join(', ')}]`);
  }
  return tf.tidy(() => {
    const c = labelTensor(fn, classIdx, batch, headWeights.shape[1]);
    const alpha = tf.reshape(tf.gather(tf.transpose(headWeights), c), [batch, 1, 1, channels]);
    return tf.relu(tf.div(tf.sum(tf.mul(featureMap, alpha), 3), height * width)) as tf.Tensor3D;
  });
}

/**
 * LwM's attention distillation (Dhar et al. CVPR 2019, Eq. 2): L1 distance between the vectorised,
 * L2-normalised attention maps of the student and the (stop-gradient) teacher, batch mean:
 *   L = 1/N sum_i || Q_i / ||Q_i||_2 - Q_old_i / ||Q_old_i||_2 ||_1
 * Maps are [N, ...] (e.g. gradCam's [N, H, W]); an all-zero map stays zero after normalisation.
 */
export function attentionDistillation(camNew: tf.Tensor, camOld: tf.Tensor): tf.Scalar {
  const fn = 'attentionDistillation';
  assertSameShape(fn, ['camNew', 'camOld'], camNew, camOld);
  if (camNew.rank < 2) fail(fn, `maps must be [batch, ...], got shape [${camNew.shape.join(', ')}]`);
  return tf.tidy(() => {
    const batch = camNew.shape[0];
    const student = l2Normalize(tf.reshape(camNew, [batch, -1]), 1);
    const teacher = l2Normalize(tf.reshape(stopGradient(camOld), [batch, -1]), 1);
    return batchMean(tf.sum(tf.abs(tf.sub(student, teacher)), 1) as tf.Tensor1D);
  });
}

function checkRotations(fn: string, rotations: number): void {
  if (!Number.isInteger(rotations) || rotations < 1) fail(fn, `rotations must be a positive integer, got ${rotations}`);
}

/**
 * PRAKA's augmented aggregation of the joint head (Shi & Ye ICCV 2023, Sec. 3.3; ShiWuxuan/PRAKA
 * Cifar100/jointSSL.py `agg_preds`): for a batch of R rotated copies, the joint logit of (class c, rotation r) on
 * the copy rotated by r, averaged over r:
 *   agg[b, c] = 1/R sum_r joint[b R + r, c R + r]
 * Layout (as PASS/PRAKA build it): rows sample-major (row b R + r = sample b rotated by r*90 degrees, i.e.
 * `stack([rot90(x, r) for r], 1).view(-1, ...)`), columns class-major (joint label = 4 y + r).
 * @param joint [R B, R N] -> [B, N]
 */
export function aggregateRotationLogits(joint: tf.Tensor2D, rotations = 4): tf.Tensor2D {
  const fn = 'aggregateRotationLogits';
  assertRank(fn, 'joint', joint, 2);
  checkRotations(fn, rotations);
  const [rows, cols] = joint.shape;
  if (rows % rotations !== 0 || cols % rotations !== 0) fail(fn, `joint [${rows}, ${cols}] must be [R*batch, R*classes] with R = ${rotations}`);
  return tf.tidy(() => {
    const grid = tf.reshape(joint, [rows / rotations, rotations, cols / rotations, rotations]);
    const sameRotation = tf.reshape(tf.eye(rotations), [1, rotations, 1, rotations]);
    return tf.div(tf.sum(tf.mul(grid, sameRotation), [1, 3]), rotations) as tf.Tensor2D;
  });
}

/**
 * The rotation-0 columns of joint logits, [M, R N] -> [M, N]: joint[:, c R]. PRAKA uses these as the teacher for
 * its reminiscent prototypes (`joint_aug_preds[:, ::4]`), and PASS/PRAKA infer with the rotation-0 logits.
 */
export function rotationZeroColumns(joint: tf.Tensor2D, rotations = 4): tf.Tensor2D {
  const fn = 'rotationZeroColumns';
  assertRank(fn, 'joint', joint, 2);
  checkRotations(fn, rotations);
  const [rows, cols] = joint.shape;
  if (cols % rotations !== 0) fail(fn, `joint has ${cols} columns, not a multiple of R = ${rotations}`);
  return tf.tidy(() => tf.reshape(tf.slice(tf.reshape(joint, [rows, cols / rotations, rotations]), [0, 0, 0], [-1, -1, 1]), [rows, cols / rotations]) as tf.Tensor2D);
}

/**
 * The rotation-0 rows of a rotation-expanded batch, [R B, n] -> [B, n]: x[::R] (PRAKA's
 * `classifier(feature)[::4]`), for the sample-major layout described at aggregateRotationLogits.
 */
export function rotationZeroRows(x: tf.Tensor2D, rotations = 4): tf.Tensor2D {
  const fn = 'rotationZeroRows';
  assertRank(fn, 'x', x, 2);
  checkRotations(fn, rotations);
  const [rows, cols] = x.shape;
  if (rows % rotations !== 0) fail(fn, `x has ${rows} rows, not a multiple of R = ${rotations}`);
  return tf.tidy(() => tf.reshape(tf.slice(tf.reshape(x, [rows / rotations, rotations, cols]), [0, 0, 0], [-1, 1, -1]), [rows / rotations, cols]) as tf.Tensor2D);
}

/**
 * PRAKA's augmented asymmetric KD (Shi & Ye ICCV 2023, Eq. 9-10; Cifar100/jointSSL.py `_compute_loss`): the
 * N-way classifier's logits are pulled towards the (stop-gradient) aggregated 4N-way joint head,
 *   L = KL_batchmean( softmax(agg) || softmax(single) )    (T = 1, no T^2)
 * = F.kl_div(log_softmax(single_preds), softmax(agg_preds.detach()), reduction='batchmean'). "Asymmetric": only
 * the single head learns from the joint head. The official code applies it twice:
 *   - on images:      single = rotationZeroRows(classifier logits), agg = aggregateRotationLogits(joint logits);
 *   - on prototypes:  single = classifier(proto), agg = rotationZeroColumns(joint(proto)).
 */
export function asymmetricKD(singleLogits: tf.Tensor2D, aggregatedJointLogits: tf.Tensor2D): tf.Scalar {
  assertSameShape('asymmetricKD', ['singleLogits', 'aggregatedJointLogits'], singleLogits, aggregatedJointLogits);
  return klDistillation(singleLogits, aggregatedJointLogits, 1);
}
