/**
 * IL2A: class-incremental learning via dual augmentation (Zhu, Cheng, Zhang, Liu; NeurIPS 2021), exemplar-free.
 * Follows the official code, Impression2805/IL2A cifar/IL2A.py (`dualAug`) and cifar/main.py (its defaults).
 *
 *   L = CE([z_real, z_virtual](x~) / temp, y~)                                     'ce'
 *     + semanticWeight * CE(isda(W mu_c + b; Sigma_c, ratio) / temp, c)            'semantic-aug'  (tasks > 0)
 *     + kdWeight * || f(x~) - f_old(x~) ||_F                                       'feature-kd'    (tasks > 0)
 *
 * - Class augmentation (IL2A.py `classAug`, alpha = 20, mix_times = 4): `mixTimes` times per batch, a random
 *   permutation pairs every image i with image perm[i]; each pair of DIFFERENT current-task classes (a, b) gives
 *   one extra image lambda x_i + (1 - lambda) x_perm[i], lambda ~ Beta(20, 20) reset to 0.5 when outside
 *   [0.4, 0.6], labelled with the virtual class of the unordered pair {a, b}. The extra images are appended to the
 *   batch, and the CE runs over the seen classes plus the current task's n(n-1)/2 virtual classes, one softmax.
 *   Virtual classes: models' `createAuxHead('class-mixup')`, rebuilt for each task's classes and dropped after
 *   it (IL2A `Incremental_learning` re-creates the virtual rows each task, `saveOption` truncates them);
 *   `mixedClassIndex(a - start, b - start, n)` gives the pair's column (IL2A.py `generate_label`). In the batch,
 *   virtual label v is stored as seenClasses + v (the official `label_index + self.numclass`).
 * - Semantic augmentation (IL2A.py `semanAug`, `ratio = 2.5`): each step draws B old classes uniformly (the
 *   official `args.batch_size`; see PASS) and feeds their stored prototypes (no noise) through the classifier's
 *   seen-class logits, corrected ISDA-style with the stored class covariance (losses' isdaLogits), CE weight
 *   `seman_weight` = 10.
 * - Prototypes and covariances (IL2A.py `protoSave`): after each task, every new class's feature mean and
 *   unbiased covariance (memory's classMeans / classCovariances) from eval-mode features of the un-augmented
 *   training images (the official code uses its augmenting training loader, last incomplete batch dropped).
 *   kdcl indexes covariances by class; the official `CV[labels]` indexes an array stored newest-task-first by
 *   class id, which picks another class's covariance from the second task on (a bug kdcl does not reproduce).
 * - Feature KD (IL2A.py `_compute_loss`): `torch.dist(feature, feature_old, 2)` on the class-augmented batch
 *   (real and mixed images), weight `kd_weight` = 10.
 *
 * Training recipe: IL2A_RECIPE below (Adam, lr 1e-3, weight decay 2e-4, StepLR(45, 0.1), 101 epochs, batch 64).
 *
 * KD removal (`kd: false`): `kdTerms = ['feature-kd']`; the feature-L2 term is exactly 0. Class augmentation and
 * the semantic augmentation of prototypes are unchanged.
 */
import { tf } from '../tf';
import { crossEntropy, featureL2, isdaLogits } from '../losses/index';
import { appendClassMeans, classCovariances, storedPrototypes, type PrototypeStore } from '../memory/index';
import { LinearHead, createAuxHead, variableSeed, mixedClassIndex } from '../models/index';
import { resolveMethodConfig, weight } from '../train/method-config';
import { nonNegativeInt, positiveNumber, z } from '../schema';
import type { TrainingRecipe } from '../train/settings';
import { shuffleInPlace } from '../train/rng';
import { expandLinearHead } from './shared/heads';
import { currentTaskFeatures, type PrototypeImages, sampleOldPrototypes, zeroTerm } from './shared/prototypes';
import { sampleBeta, type Uniform } from './shared/sampling';
import { kdTerm, type Batch, type Method, type StepContext, type TaskContext } from './types';

/** Aux head of the current task's virtual (mixed-pair) classes. */
export const IL2A_MIXUP_HEAD = 'class-mixup';

export interface Il2aConfig {
  kd: boolean;
  /** Feature-KD weight. 10: IL2A cifar/main.py `--kd_weight` default 10.0. */
  kdWeight: number;
  /** Semantic-augmentation CE weight. 10: cifar/main.py `--seman_weight` default 10.0. */
  semanticWeight: number;
  /** ISDA strength lambda (the covariance scale). 2.5: cifar/IL2A.py `_compute_loss` `ratio = 2.5`. */
  isdaRatio: number;
  /** Logits are divided by this before every CE. 0.1: cifar/main.py `--temp` default 0.1. */
  temperature: number;
  /** Beta(alpha, alpha) for the mixup lambda. 20: cifar/IL2A.py `classAug(alpha=20.0)`. */
  mixupAlpha: number;
  /** Random pairings per batch. 4: cifar/IL2A.py `classAug(mix_times=4)`. */
  mixTimes: number;
  /** lambda outside [lambdaMin, lambdaMax] is reset to 0.5. 0.4 / 0.6: cifar/IL2A.py `if lam < 0.4 or lam > 0.6`. */
  lambdaMin: number;
  lambdaMax: number;
  /**
   * Images the prototype statistics come from: 'augmented' (default: IL2A.py `protoSave` iterates the augmented `train_loader` with `model.eval()`) or 'plain'.
   */
  prototypeImages: PrototypeImages;
}

export const IL2A_DEFAULTS: Il2aConfig = { prototypeImages: 'augmented',
  kd: true,
  kdWeight: 10,
  semanticWeight: 10,
  isdaRatio: 2.5,
  temperature: 0.1,
  mixupAlpha: 20,
  mixTimes: 4,
  lambdaMin: 0.4,
  lambdaMax: 0.6,
};

/** The method's own training recipe (Method.recipe); `source` says where each number comes from. */
export const IL2A_RECIPE: TrainingRecipe = {
  // The reference backbone: a ResNet-18 with a CIFAR stem (IL2A ResNet.py `resnet18_cbam` as in PASS, 512-d features); also PyCIL's and LibContinual's configs.
  backbone: { kind: 'resnet18-cifar' },
  optimizer: { kind: 'adam', lr: 0.001, weightDecay: 2e-4 },
  schedule: { kind: 'multistep', milestones: [45, 90], gamma: 0.1 },
  epochs: 101,
  batchSize: 64,
  source:
    'The official training recipe (IL2A cifar/main.py defaults, cifar/IL2A.py `train`): Adam (lr 0.001, weight_decay 2e-4), 101 epochs per task, batch 64, StepLR(step_size 45, gamma 0.1) stepped after each epoch (decays from epochs 45 and 90).',
};

/** What IL2A keeps in the checkpointed method state. */
export interface Il2aState extends PrototypeStore {
  /** Per-class feature covariances, [classes, dim, dim], class-indexed. */
  covariances: tf.Tensor3D;
}

/** One batch's class augmentation: which rows are mixed, with which lambda, into which virtual class. */
export interface ClassAugPlan {
  /** Row of the first image of each mixed pair (weight lambda) and of the second (weight 1 - lambda). */
  first: Int32Array;
  second: Int32Array;
  lambdas: Float64Array;
  /** Virtual class of each mixed image in the aux head: mixedClassIndex(y_first - start, y_second - start, n). */
  virtual: Int32Array;
}

/**
 * IL2A.py `classAug`: `mixTimes` random permutations of the batch rows; row i and perm[i] with different labels
 * (both current-task classes [start, end)) give a mixed image, lambda ~ Beta(alpha, alpha), reset to 0.5 outside
 * [lambdaMin, lambdaMax]. Draw order as the official loop: a permutation, then a lambda per qualifying row.
 */
export function classAugPlan(
  labels: Int32Array,
  task: { start: number; end: number },
  config: Pick<Il2aConfig, 'mixupAlpha' | 'mixTimes' | 'lambdaMin' | 'lambdaMax'>,
  random: Uniform,
): ClassAugPlan {
  const n = task.end - task.start;
  const first: number[] = [];
  const second: number[] = [];
  const lambdas: number[] = [];
  const virtual: number[] = [];
  const inTask = (y: number) => y >= task.start && y < task.end;
  for (let time = 0; time < config.mixTimes; time++) {
    const perm = shuffleInPlace(Int32Array.from(labels, (_, i) => i), random);
    for (let i = 0; i < labels.length; i++) {
      const a = labels[i];
      const b = labels[perm[i]];
      // Only pairs of two different current-task classes have a virtual class (IL2A trains on one task's data).
      if (a === b || !inTask(a) || !inTask(b)) continue;
      let lambda = sampleBeta(random, config.mixupAlpha, config.mixupAlpha);
      if (lambda < config.lambdaMin || lambda > config.lambdaMax) lambda = 0.5;
      first.push(i);
      second.push(perm[i]);
      lambdas.push(lambda);
      virtual.push(mixedClassIndex(a - task.start, b - task.start, n));
    }
  }
  return { first: Int32Array.from(first), second: Int32Array.from(second), lambdas: Float64Array.from(lambdas), virtual: Int32Array.from(virtual) };
}

/** A class-augmented batch: the B real images first, then the mixed ones. */
export interface ClassAugBatch extends Batch {
  /** Number of real images B at the top of the batch. */
  images: number;
  plan: ClassAugPlan;
}

/** The batch with the plan's mixed images and virtual labels (seenClasses + v) appended. */
export function applyClassAug(batch: Batch, plan: ClassAugPlan, seenClasses: number): ClassAugBatch {
  const images = batch.x.shape[0];
  const mixed = plan.first.length;
  if (mixed === 0) return { ...batch, images, plan };
  const tensors = tf.tidy(() => {
    const lambda = tf.tensor4d(Float32Array.from(plan.lambdas), [mixed, 1, 1, 1]);
    const xa = tf.gather(batch.x, tf.tensor1d(plan.first, 'int32'));
    const xb = tf.gather(batch.x, tf.tensor1d(plan.second, 'int32'));
    const x = tf.concat([batch.x, tf.add(tf.mul(xa, lambda), tf.mul(xb, tf.sub(1, lambda)))], 0) as tf.Tensor4D;
    const virtualLabels = tf.tensor1d(Int32Array.from(plan.virtual, (v) => seenClasses + v), 'int32');
    const y = tf.concat([tf.cast(batch.y, 'int32'), virtualLabels], 0) as tf.Tensor1D;
    const replay = tf.concat([batch.replay, tf.zeros([mixed], 'float32')], 0) as tf.Tensor1D;
    return { x, y, replay };
  });
  return { ...tensors, images, plan };
}

function il2aBatch(step: StepContext): ClassAugBatch {
  const batch = step.batch as Partial<ClassAugBatch>;
  if (typeof batch.images !== 'number' || !batch.plan) {
    throw new Error(`il2a: lossTerms needs the class-augmented batch from il2a's prepareBatch (an extra stage must pass prepareBatch)`);
  }
  return step.batch as ClassAugBatch;
}

export function createIl2a(overrides: Partial<Il2aConfig> = {}): Method<Il2aConfig> {
  const config = resolveMethodConfig('il2a', IL2A_DEFAULTS, overrides, { prototypeImages: z.enum(['augmented', 'plain']),
    kdWeight: weight(),
    semanticWeight: weight(),
    isdaRatio: weight(),
    temperature: positiveNumber(),
    mixupAlpha: positiveNumber(),
    mixTimes: nonNegativeInt(),
  });
  if (!(config.lambdaMin >= 0 && config.lambdaMin <= 0.5 && config.lambdaMax >= 0.5 && config.lambdaMax <= 1)) {
    throw new Error(`il2a: need 0 <= lambdaMin <= 0.5 <= lambdaMax <= 1 (0.5 is the reset value), got [${config.lambdaMin}, ${config.lambdaMax}]`);
  }
  const temperature = config.temperature;

  return {
    name: 'il2a',
    recipe: IL2A_RECIPE,
    config,
    kdTerms: ['feature-kd'],
    memory: null,

    beforeTask(ctx: TaskContext) {
      expandLinearHead(ctx.net, ctx.seenClasses, 'il2a');
      const classes = ctx.task.end - ctx.task.start;
      const seed = variableSeed(ctx.seed, `il2a/class-mixup/${ctx.task.index}`);
      ctx.net.setAux(IL2A_MIXUP_HEAD, createAuxHead('class-mixup', { featureDim: ctx.net.featureDim, classes, seed }));
    },

    prepareBatch(ctx: TaskContext, batch: Batch) {
      const labels = Int32Array.from(batch.y.dataSync());
      const plan = classAugPlan(labels, ctx.task, config, ctx.services.random());
      return applyClassAug(batch, plan, ctx.seenClasses);
    },

    lossTerms(step: StepContext) {
      const batch = il2aBatch(step);
      const out = step.student();
      const ce = tf.tidy(() => {
        const real = out.logits.shape[1] === step.seenClasses ? out.logits : out.logits.slice([0, 0], [-1, step.seenClasses]);
        const logits = tf.concat([real, step.net.applyAux(IL2A_MIXUP_HEAD, out.features, { training: true })], 1) as tf.Tensor2D;
        return crossEntropy(logits, batch.y, { temperature });
      });

      let semanticAug = zeroTerm();
      if (step.oldClasses > 0) {
        const state = storedPrototypes(step.state.il2a as Il2aState | undefined, step.oldClasses, 'il2a') as Il2aState;
        const { rows, classes } = sampleOldPrototypes(state, step.oldClasses, batch.images, step.services.random());
        const head = step.net.head;
        if (!(head instanceof LinearHead) || !head.weights) throw new Error(`il2a: expects the expandable LinearHead, got head '${head.kind}'`);
        const weights = head.weights;
        semanticAug = tf.tidy(() => {
          const logits = head.apply(tf.tensor2d(rows, [classes.length, state.dim]), { training: true }).slice([0, 0], [-1, step.seenClasses]) as tf.Tensor2D;
          const corrected = isdaLogits(logits, weights, classes, state.covariances, config.isdaRatio);
          return tf.mul(crossEntropy(corrected, classes, { temperature }), config.semanticWeight) as tf.Scalar;
        });
      }

      const featureKd = kdTerm(step, () =>
        step.oldClasses === 0 ? zeroTerm() : (tf.mul(featureL2(out.features, step.teacherOut().features), config.kdWeight) as tf.Scalar),
      );
      return { ce, 'semantic-aug': semanticAug, 'feature-kd': featureKd };
    },

    afterTask(ctx: TaskContext) {
      // The virtual classes live for one task (IL2A `saveOption` keeps only the real classes).
      ctx.net.setAux(IL2A_MIXUP_HEAD, null);
      const taskData = currentTaskFeatures(ctx, config.prototypeImages);
      try {
        const previous = ctx.state.il2a as Il2aState | undefined;
        const store = appendClassMeans(previous, ctx, taskData, 'il2a');
        const stack = classCovariances(taskData.features, taskData.labels, taskData.classes);
        const fresh = tf.tensor3d(stack.data, [stack.classes, stack.dim, stack.dim]);
        let covariances = fresh;
        if (previous) {
          covariances = tf.concat([previous.covariances, fresh], 0);
          fresh.dispose();
          previous.covariances.dispose();
        }
        ctx.state.il2a = { ...store, covariances } satisfies Il2aState;
      } finally {
        taskData.features.dispose();
      }
    },
  };
}
