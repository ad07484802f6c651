/**
 * iCaRL (Rebuffi et al., CVPR 2017): herding exemplar memory, sigmoid binary cross-entropy for both
 * classification and distillation, and the nearest-mean-of-exemplars (NME) classifier.
 *
 * Loss (paper Alg. 3; the original code, srebuffi/iCaRL main_cifar_100_theano.py and main_resnet_tf.py: one sigmoid
 * cross-entropy over the network's 100 output units from the first task on, the not-yet-seen classes with target 0,
 * mean over the batch x 100 matrix; kernel-lib/losses bceWithLogits + icarlTargets): with T = the scenario's whole
 * class count, C = seen classes, K = old classes,
 *   targets  t[:, :K] = sigmoid(old model's logits)   (distillation)
 *            t[:, K:] = onehot(y)[:, K:]              (classification of the new classes)
 *   L = 1/(N T) sum_{i, c < C} BCE(z_ic, t_ic)
 * split exactly into its two column blocks so that the KD part is a term of its own:
 *   cls = (C - K)/T * BCE_mean(z[:, K:], onehot[:, K:])    kd = K/T * BCE_mean(z[:, :K], sigmoid(t_old))
 * The mean is over T, not C, because the original's is: its lr 2.0 is tuned to that scale, and a mean over the
 * C = 10 classes of the first task makes every gradient 10x larger (measured at the standard profile: the first task
 * diverged to 12% and no later task learnt anything). kdcl's head grows per task, so the future classes' columns
 * (target 0: they only push not-yet-seen units down) are not materialised; their share of the mean is kept.
 * New-task samples and replayed exemplars are treated alike. (FACIL's icarl.py instead uses softmax CE for classification and a per-class BCE sum
 * for distillation; later PyCIL versions use CE + KD.)
 *
 * Memory (trainer, per `memory`): herding on L2-normalised features (paper Alg. 4), fixed total K = 2000 by
 * default, the old classes' share shrinking as classes arrive (Alg. 5; paper Sec. 4 "K = 2000"; PyCIL
 * exps/icarl.json memory_size 2000 with fixed_memory false; the survey reports PyCIL-style CIFAR-100 runs, with
 * "20 per class, or 2000 in total" as the usual budgets). `memory: { selection: 'herding', perClass: 20 }` gives
 * PyCIL's fixed_memory setting and the survey's replay experiments' (Table 5) "20 per class".
 *
 * Evaluation: `predict` is the NME classifier (paper Alg. 1): class means of the L2-normalised eval-mode features of
 * each class's exemplars, re-normalised (memory nmeClassMeans; PyCIL models/base.py `_construct_exemplar`), computed
 * in afterTask, i.e. after the memory update and with the final network of the task; a sample goes to the nearest
 * mean of its normalised feature. The trainer reports it as the primary accuracy and the CNN (logit arg-max)
 * accuracy beside it (TaskMetrics.primary / TaskMetrics.cnn). Flipped-image features are not averaged in (PyCIL's current code
 * does not either). The means are method state (checkpointed).
 *
 * KD removal (`kd: false`): the KD is not a separable term in the original (it lives in the targets). With KD off
 * the old classes' targets become the one-hot ground truth: 'kd' is exactly 0 and a term 'clsOld' =
 * K/T * BCE_mean(z[:, :K], onehot[:, :K]) takes its place (it is exactly 0 with KD on); 'cls' is unchanged. So
 * iCaRL without KD is sigmoid-BCE training with replay over all seen classes, still evaluated with NME.
 */
import { tf } from '../tf';
import { bceWithLogits, icarlTargets } from '../losses/index';
import { nmeClassMeans, nmeScores, type FeatureMatrix } from '../memory/index';
import { resolveMethodConfig } from '../train/method-config';
import type { TrainingRecipe } from '../train/settings';
import { columns, expandLinearHead } from './shared/heads';
import { memoryIndices, type ReplayMemoryConfig } from './shared/replay-memory';
import { kdTerm, type Method, type StepContext, type TaskContext } from './types';

export interface IcarlConfig extends ReplayMemoryConfig {
  kd: boolean;
}

export const ICARL_DEFAULTS: IcarlConfig = {
  kd: true,
  // Herding: iCaRL paper Alg. 4. K = 2000: paper Sec. 4 (CIFAR-100); PyCIL exps/icarl.json memory_size 2000,
  // fixed_memory false.
  memory: { selection: 'herding', total: 2000 },
};

/** The method's own training recipe (Method.recipe); `source` says where each number comes from. */
export const ICARL_RECIPE: TrainingRecipe = {
  optimizer: { kind: 'sgd', lr: 2.0, momentum: 0.9, weightDecay: 1e-5 },
  schedule: { kind: 'multistep', milestones: [49, 63], gamma: 0.2 },
  epochs: 70,
  batchSize: 128,
  source:
    'iCaRL\'s own training recipe: paper Sec. 4 (CIFAR-100: "70 epochs ... learning rate starts at 2.0 and is divided by 5 after 49 and 63 epochs", weight decay 1e-5, batch 128); momentum 0.9 as the original code (srebuffi/iCaRL main_resnet_tf.py) and PyCIL models/icarl.py (commit 04d2e8a: lrate 2.0, milestones [49, 63], decay 0.2, weight_decay 1e-5). The large rate matches the small scale of the element-mean BCE.',
};

const MEANS_KEY = 'icarlClassMeans';

/** The NME class means in the method state (rows = classes in incremental order), or null before the first task ends. */
export function icarlClassMeans(state: Record<string, unknown>): FeatureMatrix | null {
  return (state[MEANS_KEY] as FeatureMatrix | undefined) ?? null;
}

/** iCaRL's three terms (see the file comment); exported for tests and notebooks. */
export function icarlLossTerms(step: StepContext): { cls: tf.Scalar; clsOld: tf.Scalar; kd: tf.Scalar } {
  const seen = step.seenClasses;
  const old = step.oldClasses;
  const total = step.totalClasses;
  const logits = columns(step.student().logits, 0, seen);
  const distil = step.kd && step.teacher !== null && old > 0;
  const targets = icarlTargets(step.batch.y, distil ? step.teacherOut().logits : null, seen);
  const block = (start: number, end: number) =>
    tf.tidy(() => tf.mul(bceWithLogits(columns(logits, start, end), columns(targets, start, end)), (end - start) / total) as tf.Scalar);
  const hasOld = step.teacher !== null && old > 0;
  return {
    cls: block(old, seen),
    clsOld: hasOld && !step.kd ? block(0, old) : tf.scalar(0),
    kd: hasOld ? kdTerm(step, () => block(0, old)) : tf.scalar(0),
  };
}

/** Recomputes the NME means of every seen class from the current memory and network (after the memory update). */
function updateClassMeans(ctx: TaskContext): void {
  const memory = ctx.services.memory();
  const classes = Array.from({ length: ctx.seenClasses }, (_, c) => c);
  const missing = classes.filter((c) => !(memory.get(c)?.length));
  if (missing.length) {
    throw new Error(`icarl: no exemplars for class(es) ${missing.slice(0, 10).join(', ')} after task ${ctx.task.index}; the NME classifier needs at least one per class`);
  }
  const indices = memoryIndices(memory, 0, ctx.seenClasses);
  const features = ctx.services.features(indices);
  try {
    ctx.state[MEANS_KEY] = nmeClassMeans(features, ctx.services.labels(indices), classes);
  } finally {
    features.dispose();
  }
}

/** NME scores [N, classes] (larger = nearer) of images x, from the means in the method state. */
export function icarlNmeScores(ctx: TaskContext, x: tf.Tensor4D): tf.Tensor2D {
  const means = icarlClassMeans(ctx.state);
  if (!means) throw new Error('icarl.predict: no class means yet (they are computed at the end of each task, in afterTask)');
  if (means.rows < ctx.seenClasses) {
    throw new Error(`icarl.predict: class means cover ${means.rows} classes but ${ctx.seenClasses} were seen (afterTask did not run for the last task?)`);
  }
  return tf.tidy(() => nmeScores(ctx.net.forward(x, { training: false }).features, means));
}

export function createIcarl(overrides: Partial<IcarlConfig> = {}): Method<IcarlConfig> {
  const name = 'icarl';
  const config = resolveMethodConfig(name, ICARL_DEFAULTS, overrides);
  return {
    name,
    recipe: ICARL_RECIPE,
    config,
    kdTerms: ['kd'],
    memory: { ...config.memory },
    beforeTask: (ctx) => expandLinearHead(ctx.net, ctx.seenClasses, name),
    lossTerms: (step) => icarlLossTerms(step),
    afterTask: (ctx) => updateClassMeans(ctx),
    predict: (ctx, x) => icarlNmeScores(ctx, x),
  };
}
