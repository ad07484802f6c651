/**
 * PASS: Prototype Augmentation and Self-Supervision (Zhu, Zhang, Wang, Yin, Liu; CVPR 2021), exemplar-free.
 * Follows the official code, Impression2805/CVPR21_PASS PASS.py (`protoAugSSL`) and main.py (its defaults).
 *
 *   L = CE(joint(f(x_rot)) / temp, 4y + r)                                   'ce'
 *     + protoAugWeight * CE(joint(mu_c + r_0 * e) / temp, 4c), e ~ N(0, I)   'proto-aug'   (tasks > 0)
 *     + kdWeight * || f(x_rot) - f_old(x_rot) ||_F                           'feature-kd'  (tasks > 0)
 *
 * - Self-supervised label augmentation (PASS.py `train`): each batch of B images becomes 4B, sample-major
 *   (row 4b + r = image b rotated by r * 90 degrees, `torch.rot90(images, k, (2, 3))`), with joint labels 4y + r,
 *   trained over a 4N-way classifier, logits divided by `temp` = 0.1 (main.py `--temp`).
 * - Prototype augmentation (PASS.py `_compute_loss`): each step draws B old classes uniformly (the official code
 *   draws `args.batch_size`, the run's batch size, which differs only on an epoch's last, smaller batch), takes
 *   their stored prototype plus Gaussian noise of scale `radius`, labels them with their rotation-0 joint class
 *   4c, and adds their CE through the same 4N-way classifier, weight `protoAug_weight` = 10.
 * - Prototypes (PASS.py `protoSave`): after each task, the mean feature of every new class (memory's classMeans);
 *   the radius r_0 = sqrt(mean_c tr(Sigma_c) / D) from the first task's classes only (memory's prototypeRadius).
 *   Old prototypes are never recomputed. As the official code, kdcl computes them from eval-mode features of
 *   augmented training images by default (`prototypeImages: 'augmented'`; 'plain' uses the images as they are); the
 *   official loader also drops the last incomplete batch, kdcl uses every image.
 * - Feature KD (PASS.py `_compute_loss`): `torch.dist(feature, feature_old, 2)` on the rotated batch
 *   (losses' featureL2), weight `kd_weight` = 10.
 *
 * Head layout: PASS's classifier is one nn.Linear with 4N outputs, column 4y + r, and the official test uses only
 * its rotation-0 columns (`outputs[:, ::4]`). kdcl stores the same 4N-output linear map in two pieces so that the
 * network's own logits ARE the N-way rotation-0 view: the network head (an expandable LinearHead, column y = joint
 * column 4y) and an aux head 'rotated' (a LinearHead, column 3y + r - 1 = joint column 4y + r for r = 1..3).
 * `passJointLogits` interleaves them into the 4N layout for training. Both pieces get nn.Linear's default init, so
 * this is the same model as the official one up to a permutation of output units. Inference (the trainer's CNN
 * prediction) therefore uses the rotation-0 logits only, and no `predict` is needed; classifier-norm and logit
 * metrics see the N real classes.
 *
 * Training recipe: PASS_RECIPE below (Adam, lr 1e-3, weight decay 2e-4, StepLR(45, 0.1), 101 epochs, batch 64).
 *
 * KD removal (`kd: false`): `kdTerms = ['feature-kd']`; the feature-L2 term is exactly 0. The prototype
 * augmentation CE and the self-supervised CE are unchanged (they are classification losses on stored prototypes
 * and rotated images, not distillation from the old model).
 *
 * The rotation batch expansion (shared/rotation.ts) and the prototype store (memory/prototype-store.ts) are shared
 * with PRAKA and IL2A.
 */
import { tf } from '../tf';
import { crossEntropy, featureL2 } from '../losses/index';
import { prototypeRadius, type PrototypeStore, appendClassMeans, storedPrototypes } from '../memory/index';
import { LinearHead, variableSeed } from '../models/index';
import { resolveMethodConfig, weight } from '../train/method-config';
import { positiveNumber, z } from '../schema';
import type { TrainingRecipe } from '../train/settings';
import { expandLinearHead } from './shared/heads';
import { currentTaskFeatures, type PrototypeImages, sampleOldPrototypes, zeroTerm } from './shared/prototypes';
import { ROTATIONS, rotateBatch, rotatedBatch } from './shared/rotation';
import { fillStandardNormal } from './shared/sampling';
import { kdTerm, type Batch, type Method, type NetworkLike, type StepContext, type TaskContext } from './types';

/** Aux head holding the joint classifier's rotation 1..3 columns (column 3y + r - 1). */
export const PASS_ROTATED_HEAD = 'rotated';

export interface PassConfig {
  kd: boolean;
  /** Feature-KD weight. 10: CVPR21_PASS main.py `--kd_weight` default 10.0 (paper Sec. 4.1, lambda = 10). */
  kdWeight: number;
  /** Prototype-augmentation CE weight. 10: main.py `--protoAug_weight` default 10.0 (paper Sec. 4.1, gamma = 10). */
  protoAugWeight: number;
  /** Logits are divided by this before every CE. 0.1: main.py `--temp` default 0.1. */
  temperature: number;
  /**
   * Images the prototype statistics come from: 'augmented' (default: CVPR21_PASS PASS.py `protoSave` iterates `self.train_loader` (RandomCrop + RandomHorizontalFlip) with `model.eval()`) or 'plain'.
   */
  prototypeImages: PrototypeImages;
}

export const PASS_DEFAULTS: PassConfig = { prototypeImages: 'augmented', kd: true, kdWeight: 10, protoAugWeight: 10, temperature: 0.1 };

/** The method's own training recipe (Method.recipe); `source` says where each number comes from. */
export const PASS_RECIPE: TrainingRecipe = {
  // The reference backbone: a ResNet-18 with a CIFAR stem (CVPR21_PASS ResNet.py `resnet18_cbam` (CBAM modules defined, never called), 512-d features); also PyCIL's and LibContinual's configs.
  backbone: { kind: 'resnet18-cifar' },
  optimizer: { kind: 'adam', lr: 0.001, weightDecay: 2e-4 },
  schedule: { kind: 'multistep', milestones: [44, 89], gamma: 0.1 },
  epochs: 101,
  batchSize: 64,
  source:
    'The official training recipe (CVPR21_PASS main.py defaults, PASS.py `train`): Adam (lr 0.001, weight_decay 2e-4), 101 epochs per task, batch 64, StepLR(step_size 45, gamma 0.1) stepped at the START of each epoch, so epoch e (0-based) runs at lr * 0.1^floor((e + 1) / 45): decays before epochs 44 and 89.',
};

/** What PASS keeps in the checkpointed method state. */
export interface PassState extends PrototypeStore {
  /** Prototype-augmentation noise scale, from the first task. */
  radius: number;
}

/**
 * Joint 4N logits in PASS's layout (column 4y + r) from the rotation-0 logits [M, N] (the network head) and the
 * rotations-1..3 logits [M, 3N] (aux head 'rotated', column 3y + r - 1).
 */
export function passJointLogits(rotationZero: tf.Tensor2D, rotated: tf.Tensor2D): tf.Tensor2D {
  const [rows, classes] = rotationZero.shape;
  if (rotated.shape[0] !== rows || rotated.shape[1] !== (ROTATIONS - 1) * classes) {
    throw new Error(`passJointLogits: rotated logits must be [${rows}, ${(ROTATIONS - 1) * classes}] for ${classes} classes, got [${rotated.shape.join(', ')}]`);
  }
  return tf.tidy(() =>
    tf.reshape(
      tf.concat([tf.reshape(rotationZero, [rows, classes, 1]), tf.reshape(rotated, [rows, classes, ROTATIONS - 1])], 2),
      [rows, ROTATIONS * classes],
    ),
  ) as tf.Tensor2D;
}

/** PASS's joint logits of a network on features (training mode: the heads are linear, the mode changes nothing). */
export function passJointOf(net: NetworkLike, features: tf.Tensor2D, rotationZero?: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() =>
    passJointLogits(rotationZero ?? net.head.apply(features, { training: true }), net.applyAux(PASS_ROTATED_HEAD, features, { training: true })),
  );
}

export function createPass(overrides: Partial<PassConfig> = {}): Method<PassConfig> {
  const config = resolveMethodConfig('pass', PASS_DEFAULTS, overrides, { prototypeImages: z.enum(['augmented', 'plain']), kdWeight: weight(), protoAugWeight: weight(), temperature: positiveNumber() });
  const temperature = config.temperature;

  return {
    name: 'pass',
    recipe: PASS_RECIPE,
    config,
    kdTerms: ['feature-kd'],
    memory: null,

    beforeTask(ctx: TaskContext) {
      expandLinearHead(ctx.net, ctx.seenClasses, 'pass');
      if (!ctx.net.aux[PASS_ROTATED_HEAD]) {
        ctx.net.setAux(PASS_ROTATED_HEAD, new LinearHead(ctx.net.featureDim, 0, variableSeed(ctx.seed, 'pass/rotated')));
      }
      const rotated = ctx.net.aux[PASS_ROTATED_HEAD];
      if (!(rotated instanceof LinearHead)) throw new Error(`pass: aux head '${PASS_ROTATED_HEAD}' must be a LinearHead, got '${rotated.kind}'`);
      rotated.addClasses((ROTATIONS - 1) * ctx.seenClasses - rotated.outputs);
    },

    prepareBatch(_ctx: TaskContext, batch: Batch) {
      return rotateBatch(batch);
    },

    lossTerms(step: StepContext) {
      const batch = rotatedBatch(step, 'pass');
      const out = step.student();
      const joint = passJointOf(step.net, out.features, out.logits);
      const ce = crossEntropy(joint, batch.y, { temperature });

      let protoAug = zeroTerm();
      if (step.oldClasses > 0) {
        const state = storedPrototypes(step.state.pass as PassState | undefined, step.oldClasses, 'pass') as PassState;
        const random = step.services.random();
        const { rows, classes } = sampleOldPrototypes(state, step.oldClasses, batch.images, random);
        // Official order per sample: the class, then its D normals (PASS.py `_compute_loss`).
        const noise = new Float32Array(state.dim);
        for (let k = 0; k < classes.length; k++) {
          fillStandardNormal(random, noise);
          for (let d = 0; d < state.dim; d++) rows[k * state.dim + d] += noise[d] * state.radius;
        }
        protoAug = tf.tidy(() => {
          const protoJoint = passJointOf(step.net, tf.tensor2d(rows, [classes.length, state.dim]));
          const labels = tf.tensor1d(Int32Array.from(classes, (c) => ROTATIONS * c), 'int32');
          return tf.mul(crossEntropy(protoJoint, labels, { temperature }), config.protoAugWeight) as tf.Scalar;
        });
      }

      const featureKd = kdTerm(step, () =>
        step.oldClasses === 0 ? zeroTerm() : (tf.mul(featureL2(out.features, step.teacherOut().features), config.kdWeight) as tf.Scalar),
      );
      return { ce, 'proto-aug': protoAug, 'feature-kd': featureKd };
    },

    afterTask(ctx: TaskContext) {
      const taskData = currentTaskFeatures(ctx, config.prototypeImages);
      try {
        const previous = ctx.state.pass as PassState | undefined;
        const store = appendClassMeans(previous, ctx, taskData, 'pass');
        const radius = ctx.task.index === 0 ? prototypeRadius(taskData.features, taskData.labels, taskData.classes) : previous!.radius;
        ctx.state.pass = { ...store, radius } satisfies PassState;
      } finally {
        taskData.features.dispose();
      }
    },
  };
}
