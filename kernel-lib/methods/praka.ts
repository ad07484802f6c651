/**
 * PRAKA: Prototype Reminiscence and Augmented Asymmetric Knowledge Aggregation (Shi & Ye, ICCV 2023),
 * exemplar-free. Follows the official code, ShiWuxuan/PRAKA Cifar100/jointSSL.py (`jointSSL`), Cifar100/myNetwork.py
 * (`joint_network`) and Cifar100/main.py (its defaults).
 *
 * Network: the N-way classifier is the network head (`classifier`, used for inference: jointSSL.py `_test` and
 * main.py take `model(imgs)` = classifier logits), plus the 4N-way joint head (`fc`, column 4y + r) as the aux head
 * 'rotation' (models' createAuxHead('rotation')). Every batch is expanded 4x by rotations as PASS (`rotateBatch`).
 *
 *   L = CE(fc(f) / temp, 4y + r)                                        'joint-ce'
 *     + CE(cls(f)[::4] / temp, y)                                       'ce'
 *     + KL(softmax(agg(fc(f))) || softmax(cls(f)[::4]))                 'akd'            augmented asymmetric KD
 *     + w_p * CE(cls(p~) / temp, c)                                     'proto-ce'       (tasks > 0)
 *     + w_p * CE(fc(p~) / temp, 4c)                                     'proto-joint-ce' (tasks > 0)
 *     + w_p * KL(softmax(fc(p~)[:, ::4]) || softmax(cls(p~)))           'proto-akd'      (tasks > 0)
 *     + w_kd * || f - f_old ||_F                                        'feature-kd'     (tasks > 0)
 * with agg(J)[b, c] = 1/4 sum_r J[4b + r, 4c + r] (losses' aggregateRotationLogits), KL = losses' asymmetricKD
 * (T = 1, batchmean, the joint side stop-gradient), w_p = `protoAug_weight` = 15, w_kd = `kd_weight` = 15.
 *
 * Prototype reminiscence (jointSSL.py `_compute_loss`), B = images in the batch, once per reminiscent prototype:
 *   i ~ U{0 .. 4B - 1}   a row of the ROTATED batch's features f (detached), any rotation
 *   c ~ U(old classes)   (the official shuffles the old-class list and takes its first entry)
 *   lambda ~ Beta(0.5, 0.5), and lambda <- 0.6 lambda when lambda > 0.6
 *   with probability 1/2 (np.random.random() >= 0.5): p~ = (1 + lambda) mu_c - lambda f_i   (pushed away from f_i)
 *   otherwise:                                        p~ = (1 - lambda) mu_c + lambda f_i   (pulled towards f_i)
 *   label c (joint label 4c).
 * Prototypes: every new class's feature mean after each task (jointSSL.py `protoSave`), as PASS (eval-mode features
 * of un-augmented training images here; the official code uses its augmenting loader, last partial batch dropped).
 *
 * Training recipe: PRAKA_RECIPE below (Adam, lr 1e-3, weight decay 2e-4, 100 epochs, batch 128, cosine with
 * T_max = 32).
 *
 * KD removal (`kd: false`). The augmented asymmetric knowledge aggregation is a KL from a stop-gradient
 * teacher distribution, the aggregated joint head, into the N-way classifier, and the official code names its two
 * instances `distillation_loss` and `aug_distillation_loss`: distillation in form, between two heads of the current
 * model rather than from the old model. kdcl counts it as KD, with the feature KD (kdcl's reading of the
 * survey's KD-removal table for PRAKA):
 * `kdTerms = ['akd', 'proto-akd', 'feature-kd']`, all three exactly 0 with `kd: false`. With
 * `asymmetricKdIsKd: false`, only 'feature-kd' is switched off and the asymmetric KD terms stay (the ablation
 * "without distillation from the old model"). Every CE term is unchanged either way.
 */
import { tf } from '../tf';
import { aggregateRotationLogits, asymmetricKD, crossEntropy, featureL2, rotationZeroColumns, rotationZeroRows, stopGradient } from '../losses/index';
import { LinearHead, createAuxHead, variableSeed } from '../models/index';
import { resolveMethodConfig, weight } from '../train/method-config';
import { positiveNumber, z } from '../schema';
import type { TrainingRecipe } from '../train/settings';
import { appendClassMeans, storedPrototypes, type PrototypeStore } from '../memory/index';
import { expandLinearHead } from './shared/heads';
import { currentTaskFeatures, type PrototypeImages, zeroTerm } from './shared/prototypes';
import { ROTATIONS, rotateBatch, rotatedBatch } from './shared/rotation';
import { randomInt, sampleBeta, type Uniform } from './shared/sampling';
import { kdTerm, type Batch, type Method, type StepContext, type TaskContext } from './types';

/** Aux head: PRAKA's 4N-way joint classifier `fc` (column 4y + r). */
export const PRAKA_JOINT_HEAD = 'rotation';

export interface PrakaConfig {
  kd: boolean;
  /** Feature-KD weight. 15: PRAKA Cifar100/main.py `--kd_weight` default 15.0. */
  kdWeight: number;
  /** Weight of the reminiscent-prototype loss (both CEs and the KL). 15: main.py `--protoAug_weight` default 15.0. */
  protoAugWeight: number;
  /** Logits are divided by this before every CE (not the KLs). 0.1: main.py `--temp` default 0.1. */
  temperature: number;
  /** Beta(alpha, alpha) for the reminiscence lambda. 0.5: jointSSL.py `np.random.beta(0.5, 0.5)`. */
  reminiscenceAlpha: number;
  /** lambda above this is multiplied by it. 0.6: jointSSL.py `if lam > 0.6: lam = lam * 0.6`. */
  lambdaCap: number;
  /** Probability of the extrapolating form (1 + lambda) mu - lambda f. 0.5: jointSSL.py `np.random.random() >= 0.5`. */
  extrapolationProbability: number;
  /** Whether `kd: false` also removes the asymmetric KD terms (see the doc above). Default true. */
  asymmetricKdIsKd: boolean;
  /**
   * Images the prototype statistics come from: 'augmented' (default: PRAKA's `protoSave` iterates the augmented `train_loader` with `model.eval()`) or 'plain'.
   */
  prototypeImages: PrototypeImages;
}

export const PRAKA_DEFAULTS: PrakaConfig = { prototypeImages: 'augmented',
  kd: true,
  kdWeight: 15,
  protoAugWeight: 15,
  temperature: 0.1,
  reminiscenceAlpha: 0.5,
  lambdaCap: 0.6,
  extrapolationProbability: 0.5,
  asymmetricKdIsKd: true,
};

/** The method's own training recipe (Method.recipe); `source` says where each number comes from. */
export const PRAKA_RECIPE: TrainingRecipe = {
  // The reference backbone: a ResNet-18 with a CIFAR stem (PRAKA (ShiWuxuan/PRAKA) ResNet.py `resnet18_cbam`, 512-d features); also PyCIL's and LibContinual's configs.
  backbone: { kind: 'resnet18-cifar' },
  optimizer: { kind: 'adam', lr: 0.001, weightDecay: 2e-4 },
  schedule: { kind: 'cosine', tMax: 32, offset: 1 },
  epochs: 100,
  batchSize: 128,
  source:
    'The official training recipe (PRAKA Cifar100/main.py defaults, jointSSL.py `train`): Adam (lr 0.001, weight_decay 2e-4), 100 epochs per task, batch 128, a fresh optimiser and scheduler per task, and `CosineAnnealingLR(opt, T_max=32)` whatever the epoch count: lr (1 + cos(pi k / 32)) / 2 after k scheduler steps, back at lr after 64 (torch\'s closed form; its values checked against torch 1.13 in the tests). jointSSL.py calls `scheduler.step()` at the START of each epoch, so (torch >= 1.1, whose constructor already takes step 0) epoch e trains at k = e + 1: hence `offset: 1` (epoch 0 at 0.9976 lr, the minimum on epoch 31).',
};

export type PrakaState = PrototypeStore;

/** One step's reminiscence draws (jointSSL.py `_compute_loss`), one entry per reminiscent prototype. */
export interface ReminiscencePlan {
  /** Row of the rotated batch's features mixed in. */
  rows: Int32Array;
  /** Old class whose prototype is used, and the label. */
  classes: Int32Array;
  lambdas: Float64Array;
  /** 1: (1 + lambda) mu - lambda f;  0: (1 - lambda) mu + lambda f. */
  extrapolate: Uint8Array;
}

/** Draws, in the official order per prototype: the feature row, the class, lambda, the side. */
export function reminiscencePlan(
  count: number,
  featureRows: number,
  oldClasses: number,
  config: Pick<PrakaConfig, 'reminiscenceAlpha' | 'lambdaCap' | 'extrapolationProbability'>,
  random: Uniform,
): ReminiscencePlan {
  const plan: ReminiscencePlan = {
    rows: new Int32Array(count),
    classes: new Int32Array(count),
    lambdas: new Float64Array(count),
    extrapolate: new Uint8Array(count),
  };
  for (let k = 0; k < count; k++) {
    plan.rows[k] = randomInt(random, featureRows);
    plan.classes[k] = randomInt(random, oldClasses);
    let lambda = sampleBeta(random, config.reminiscenceAlpha, config.reminiscenceAlpha);
    if (lambda > config.lambdaCap) lambda *= config.lambdaCap;
    plan.lambdas[k] = lambda;
    plan.extrapolate[k] = random() < config.extrapolationProbability ? 1 : 0;
  }
  return plan;
}

/**
 * The reminiscent prototypes [count, dim]: coefficient a on the prototype and b on the (stop-gradient) feature row,
 * (a, b) = (1 + lambda, -lambda) when extrapolating, else (1 - lambda, lambda).
 */
export function reminiscentPrototypes(store: PrototypeStore, features: tf.Tensor2D, plan: ReminiscencePlan): tf.Tensor2D {
  const count = plan.rows.length;
  const { dim } = store;
  const protoRows = new Float32Array(count * dim);
  const onPrototype = new Float32Array(count);
  const onFeature = new Float32Array(count);
  for (let k = 0; k < count; k++) {
    const c = plan.classes[k];
    protoRows.set(store.means.subarray(c * dim, (c + 1) * dim), k * dim);
    const lambda = plan.lambdas[k];
    onPrototype[k] = plan.extrapolate[k] ? 1 + lambda : 1 - lambda;
    onFeature[k] = plan.extrapolate[k] ? -lambda : lambda;
  }
  return tf.tidy(() => {
    const picked = tf.gather(stopGradient(features), tf.tensor1d(plan.rows, 'int32'));
    return tf.add(
      tf.mul(tf.tensor2d(protoRows, [count, dim]), tf.tensor2d(onPrototype, [count, 1])),
      tf.mul(picked, tf.tensor2d(onFeature, [count, 1])),
    ) as tf.Tensor2D;
  });
}

export function createPraka(overrides: Partial<PrakaConfig> = {}): Method<PrakaConfig> {
  const config = resolveMethodConfig('praka', PRAKA_DEFAULTS, overrides, { prototypeImages: z.enum(['augmented', 'plain']),
    kdWeight: weight(),
    protoAugWeight: weight(),
    temperature: positiveNumber(),
    reminiscenceAlpha: positiveNumber(),
  });
  if (!(config.lambdaCap >= 0 && config.lambdaCap <= 1)) throw new Error(`praka: lambdaCap must lie in [0, 1], got ${config.lambdaCap}`);
  if (!(config.extrapolationProbability >= 0 && config.extrapolationProbability <= 1)) {
    throw new Error(`praka: extrapolationProbability must lie in [0, 1], got ${config.extrapolationProbability}`);
  }
  const temperature = config.temperature;
  const kdTerms = config.asymmetricKdIsKd ? ['akd', 'proto-akd', 'feature-kd'] : ['feature-kd'];
  /** An asymmetric KD term: gated by `kd` only when it counts as KD. */
  const asymmetricTerm = (step: StepContext, compute: () => tf.Scalar) => (config.asymmetricKdIsKd ? kdTerm(step, compute) : compute());

  return {
    name: 'praka',
    recipe: PRAKA_RECIPE,
    config,
    kdTerms,
    memory: null,

    beforeTask(ctx: TaskContext) {
      expandLinearHead(ctx.net, ctx.seenClasses, 'praka');
      if (!ctx.net.aux[PRAKA_JOINT_HEAD]) {
        const seed = variableSeed(ctx.seed, 'praka/joint');
        ctx.net.setAux(PRAKA_JOINT_HEAD, createAuxHead('rotation', { featureDim: ctx.net.featureDim, classes: 0, seed }));
      }
      const joint = ctx.net.aux[PRAKA_JOINT_HEAD];
      if (!(joint instanceof LinearHead)) throw new Error(`praka: aux head '${PRAKA_JOINT_HEAD}' must be a LinearHead, got '${joint.kind}'`);
      joint.addClasses(ROTATIONS * ctx.seenClasses - joint.outputs);
    },

    prepareBatch(_ctx: TaskContext, batch: Batch) {
      return rotateBatch(batch);
    },

    lossTerms(step: StepContext) {
      const batch = rotatedBatch(step, 'praka');
      const out = step.student();
      const features = out.features;
      const joint = step.net.applyAux(PRAKA_JOINT_HEAD, features, { training: true });
      const single = rotationZeroRows(out.logits);
      const classLabels = tf.reshape(tf.slice(tf.reshape(batch.classes, [batch.images, ROTATIONS]), [0, 0], [-1, 1]), [batch.images]) as tf.Tensor1D;
      const terms: Record<string, tf.Scalar> = {
        'joint-ce': crossEntropy(joint, batch.y, { temperature }),
        ce: crossEntropy(single, classLabels, { temperature }),
        akd: asymmetricTerm(step, () => asymmetricKD(single, aggregateRotationLogits(joint))),
        'proto-ce': zeroTerm(),
        'proto-joint-ce': zeroTerm(),
        'proto-akd': zeroTerm(),
      };
      if (step.oldClasses > 0) {
        const store = storedPrototypes(step.state.praka as PrakaState | undefined, step.oldClasses, 'praka');
        const plan = reminiscencePlan(batch.images, features.shape[0], step.oldClasses, config, step.services.random());
        const prototypes = reminiscentPrototypes(store, features, plan);
        const protoSingle = step.net.head.apply(prototypes, { training: true });
        const protoJoint = step.net.applyAux(PRAKA_JOINT_HEAD, prototypes, { training: true });
        const weight = config.protoAugWeight;
        terms['proto-ce'] = tf.mul(crossEntropy(protoSingle, plan.classes, { temperature }), weight);
        terms['proto-joint-ce'] = tf.mul(crossEntropy(protoJoint, Int32Array.from(plan.classes, (c) => ROTATIONS * c), { temperature }), weight);
        terms['proto-akd'] = asymmetricTerm(step, () => tf.mul(asymmetricKD(protoSingle, rotationZeroColumns(protoJoint)), weight));
      }
      terms['feature-kd'] = kdTerm(step, () =>
        step.oldClasses === 0 ? zeroTerm() : (tf.mul(featureL2(features, step.teacherOut().features), config.kdWeight) as tf.Scalar),
      );
      return terms;
    },

    afterTask(ctx: TaskContext) {
      const taskData = currentTaskFeatures(ctx, config.prototypeImages);
      try {
        ctx.state.praka = appendClassMeans(ctx.state.praka as PrakaState | undefined, ctx, taskData, 'praka') satisfies PrakaState;
      } finally {
        taskData.features.dispose();
      }
    },
  };
}
