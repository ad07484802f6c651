/**
 * LUCIR, "Learning a Unified Classifier Incrementally via Rebalancing" (Hou et al., CVPR 2019; official code
 * hshustc/CVPR19_Incremental_Learning, cifar100-class-incremental/class_incremental_cosine_cifar100.py with the
 * run.sh flags `--imprint_weights --less_forget --lamda 5 --adapt_lamda --mr_loss --dist 0.5 --K 2 --lw_mr 1`;
 * PyCIL models/ucir.py).
 *
 * - Cosine-normalised head with a learnable scale sigma (models/heads.ts CosineHead, one weight block per task,
 *   as SplitCosineLinear's fc1/fc2), on a backbone without the last ReLU and with 1x1 conv + BN shortcuts where a
 *   block changes shape (official modified_resnet_cifar.py; PyCIL convs/ucir_cifar_resnet.py). The method's
 *   `backbone()` hook sets both on the run's backbone (BackboneSpec `lastRelu: false`, `shortcut: 'projection'`).
 * - New classes get imprinted weights (paper Sec. 3.2, "imprint_weights" in the official script): the
 *   normalised mean of the L2-normalised features of each new class's training images, computed by the network
 *   before it trains on them, times the mean norm of the old class weights.
 * - Old class weights stay fixed in incremental tasks (official script and PyCIL: fc1 at lr 0, weight decay 0):
 *   `trainableVariables()` leaves the old weight blocks out of the main stage, so the optimiser never touches
 *   them (no update, no weight decay, no momentum slot), exactly as a parameter group at lr 0 with no decay.
 * - Loss on task t > 0 (incremental_train_and_eval_MR_LF.py):
 *     L = CE(sigma * cos, y)
 *       + lambda * (1 - cos(f, f_old))          less-forget constraint, batch mean (losses featureCosine),
 *                                                lambda = lambda_base * sqrt(n_old / n_new), lambda_base = 5
 *       + w_mr * MarginRanking(cos, y; m, K)    on old-class samples: ground-truth score against the K hardest
 *                                                new-class scores, unscaled cosines (losses marginRanking)
 *   Task 0 is plain CE.
 * - Optional class-balanced fine-tuning (CBF; official cbf_class_incremental_cosine_cifar100.py, `--ft_flag 2`):
 *   after the memory update, the old and new class weights (not sigma, not the backbone, batch-norm in eval mode)
 *   are fine-tuned on the exemplar memory with the same loss, 20 epochs at lr 0.01 (x0.1 at epoch 10). Off by
 *   default: PyCIL models/ucir.py has no CBF, and the official run.sh reports LUCIR (MR + LF + AD) without it.
 *
 * KD removal: `kdTerms = ['less-forget']`. With `kd: false` the less-forget (feature cosine) term is exactly 0.
 * The margin ranking term stays: it separates old from new classes and distils nothing (the survey's Table 3
 * removes only the distillation). Imprinting, frozen old weights and CBF are unchanged.
 */
import { tf } from '../tf';
import { crossEntropy, marginRanking } from '../losses/classification';
import { featureCosine } from '../losses/distillation';
import type { FeatureMatrix } from '../memory/features';
import { classMeans } from '../memory/prototypes';
import { CosineHead } from '../models/heads';
import type { BackboneSpec, ShortcutKind } from '../models/backbone-spec';
import type { Head } from '../models/types';
import { resolveMethodConfig } from '../train/method-config';
import { nonNegativeInt, nonNegativeNumber, positiveInt, positiveNumber, z } from '../schema';
import type { TrainingRecipe } from '../train/settings';
import { memoryIndices } from './shared/replay-memory';
import { kdTerm, type LossTerms, type MemoryPolicy, type Method, type StepContext, type TaskContext, type TrainLoopOptions } from './types';

export interface LucirConfig {
  kd: boolean;
  /** lambda_base of the less-forget weight. 5: paper Sec. 4.1; run.sh `--lamda 5`; PyCIL ucir.py `lamda_base = 5`. */
  lambdaBase: number;
  /** Margin m of the ranking loss. 0.5: paper Sec. 4.1; run.sh `--dist 0.5`; PyCIL `margin = 0.5`. */
  margin: number;
  /** K hardest new classes (capped at the task's new-class count). 2: run.sh `--K 2`; PyCIL `K = 2`. */
  hardNegatives: number;
  /** Weight of the margin ranking loss. 1: run.sh `--lw_mr 1`. */
  marginWeight: number;
  /** Exemplars: 20 per class, herding. run.sh `--nb_protos 20` (herding in the script); PyCIL `samples_per_class = 20`. */
  memory: MemoryPolicy;
  /** Imprint new class weights. true: run.sh `--imprint_weights`. */
  imprint: boolean;
  /** Keep the old class weights fixed in incremental tasks. true: official script (fc1 lr 0); PyCIL ucir.py. */
  freezeOldWeights: boolean;
  /** ReLU after the last block. false: official modified_resnet_cifar.py ("remove ReLU in the last layer"); PyCIL convs/ucir_cifar_resnet.py. */
  lastRelu: boolean;
  /**
   * Shortcut of the blocks that change shape. 'projection' (1x1 conv + BN): official modified_resnet_cifar.py
   * `_make_layer`'s downsample; PyCIL convs/ucir_cifar_resnet.py ("DownsampleA => DownsampleB").
   */
  shortcut: ShortcutKind;
  /** Class-balanced fine-tuning after each incremental task. false: see the doc above. */
  cbf: boolean;
  /** CBF epochs, learning rate and milestones: cbf script `--ft_epochs 20 --ft_base_lr 0.01 --ft_lr_strat 10`. */
  cbfEpochs: number;
  cbfLearningRate: number;
  cbfMilestones: number[];
  /** CBF SGD weight decay and momentum: the script's `custom_weight_decay = 5e-4`, `custom_momentum = 0.9`. */
  cbfWeightDecay: number;
  cbfMomentum: number;
}

export const LUCIR_DEFAULTS: LucirConfig = {
  kd: true,
  lambdaBase: 5,
  margin: 0.5,
  hardNegatives: 2,
  marginWeight: 1,
  memory: { selection: 'herding', perClass: 20 },
  imprint: true,
  freezeOldWeights: true,
  lastRelu: false,
  shortcut: 'projection',
  cbf: false,
  cbfEpochs: 20,
  cbfLearningRate: 0.01,
  cbfMilestones: [10],
  cbfWeightDecay: 5e-4,
  cbfMomentum: 0.9,
};

/** The method's own training recipe (Method.recipe); `source` says where each number comes from. */
export const LUCIR_RECIPE: TrainingRecipe = {
  optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 5e-4 },
  schedule: { kind: 'multistep', milestones: [80, 120], gamma: 0.1 },
  epochs: 160,
  batchSize: 128,
  backbone: { kind: 'resnet32', lastRelu: LUCIR_DEFAULTS.lastRelu, shortcut: LUCIR_DEFAULTS.shortcut },
  source:
    'Training recipe of the official CIFAR-100 script: SGD lr 0.1, momentum 0.9, weight decay 5e-4, 160 epochs with x0.1 at 80 and 120, batch 128; ResNet-32. Its backbone\'s lastRelu and shortcut are the ones the method\'s `backbone()` hook sets on any backbone (listed here so the recipe reads whole).',
};

function cosineHead(head: Head, where: string): CosineHead {
  if (!(head instanceof CosineHead)) throw new Error(`lucir: ${where} must be a CosineHead (from createHead), got head '${head.kind}'`);
  return head;
}

/** Columns of a [D, n] weight: their mean L2 norm. */
function meanColumnNorm(weights: tf.Tensor2D): number {
  return tf.tidy(() => tf.mean(tf.norm(weights, 'euclidean', 0)).dataSync()[0]);
}

/** Adaptive less-forget weight: lambda_base * sqrt(n_old / n_new) (paper Eq. 7; official `lamda_mult = old / new`). */
export function lessForgetWeight(lambdaBase: number, oldClasses: number, newClasses: number): number {
  return lambdaBase * Math.sqrt(oldClasses / newClasses);
}

/**
 * `spec` with LUCIR's lastRelu and shortcut. A field the caller set to another value is refused rather than
 * silently replaced: createLucir({ lastRelu, shortcut }) is the way to run that variant.
 */
function lucirBackbone(spec: BackboneSpec, config: Pick<LucirConfig, 'lastRelu' | 'shortcut'>): BackboneSpec {
  for (const field of ['lastRelu', 'shortcut'] as const) {
    if (spec[field] !== undefined && spec[field] !== config[field]) {
      throw new Error(
        `lucir: the backbone sets ${field}: ${JSON.stringify(spec[field])}, but LUCIR uses ${field}: ${JSON.stringify(config[field])}. ` +
          `Leave ${field} out of the backbone (LUCIR sets it), or pass createLucir({ ${field}: ${JSON.stringify(spec[field])} }) to run this variant on purpose.`,
      );
    }
  }
  return { ...spec, lastRelu: config.lastRelu, shortcut: config.shortcut };
}

export function createLucir(overrides: Partial<LucirConfig> = {}): Method<LucirConfig> {
  const config = resolveMethodConfig('lucir', LUCIR_DEFAULTS, overrides, {
    lambdaBase: nonNegativeNumber(),
    margin: nonNegativeNumber(),
    hardNegatives: positiveInt(),
    marginWeight: nonNegativeNumber(),
    shortcut: z.enum(['subsample-pad', 'projection']),
    cbfEpochs: nonNegativeInt(),
    cbfLearningRate: positiveNumber(),
    cbfMilestones: z.array(nonNegativeInt()),
    cbfWeightDecay: nonNegativeNumber(),
    cbfMomentum: z.number().min(0).lt(1),
  });

  /** CE + less-forget + margin ranking on given features and teacher features, through the network's head. */
  const terms = (ctx: StepContext, head: CosineHead, features: tf.Tensor2D, teacherFeatures: () => tf.Tensor2D): LossTerms => {
    const y = ctx.batch.y;
    // Unscaled cosines: the margin ranking loss compares them directly; the CE scales them by sigma.
    const cosine = head.cosine(features);
    const ce = crossEntropy(head.sigma ? (tf.mul(cosine, head.sigma) as tf.Tensor2D) : cosine, y);
    if (ctx.oldClasses === 0) return { ce, 'less-forget': kdTerm(ctx, () => tf.scalar(0)), 'margin-ranking': tf.scalar(0) };
    const newClasses = ctx.seenClasses - ctx.oldClasses;
    const lambda = lessForgetWeight(config.lambdaBase, ctx.oldClasses, newClasses);
    const lessForget = kdTerm(ctx, () => tf.mul(featureCosine(features, teacherFeatures()), lambda) as tf.Scalar);
    const k = Math.min(config.hardNegatives, newClasses);
    const ranking = tf.mul(marginRanking(cosine, y, ctx.oldClasses, { margin: config.margin, k }), config.marginWeight) as tf.Scalar;
    return { ce, 'less-forget': lessForget, 'margin-ranking': ranking };
  };

  return {
    name: 'lucir',
    recipe: LUCIR_RECIPE,
    config,
    kdTerms: ['less-forget'],
    memory: config.memory,

    backbone(spec) {
      return lucirBackbone(spec, config);
    },

    createHead(featureDim, seed) {
      return new CosineHead(featureDim, 0, seed, { learnableSigma: true });
    },

    beforeTask(ctx) {
      const head = cosineHead(ctx.net.head, 'the network head');
      const missing = ctx.seenClasses - head.outputs;
      if (missing <= 0) return;
      if (missing !== ctx.seenClasses - ctx.oldClasses || head.outputs !== ctx.oldClasses) {
        throw new Error(`lucir: the head has ${head.outputs} outputs at task ${ctx.task.index}, expected ${ctx.oldClasses}`);
      }
      if (ctx.task.index === 0 || !config.imprint) {
        head.addClasses(missing);
        return;
      }
      const indices = ctx.services.taskIndices(ctx.task);
      const labels = ctx.services.labels(indices);
      const features = ctx.services.features(indices);
      let meanNorm: number;
      let means: FeatureMatrix;
      try {
        means = classMeans(features, labels, Array.from({ length: missing }, (_, i) => ctx.task.start + i), { normalize: true });
        const oldWeights = tf.concat([...head.weightBlocks], 1) as tf.Tensor2D;
        meanNorm = meanColumnNorm(oldWeights);
        oldWeights.dispose();
      } finally {
        features.dispose();
      }
      const imprint = tf.tidy(() => tf.mul(tf.tensor2d(means.data, [means.rows, means.dim]), meanNorm) as tf.Tensor2D);
      try {
        head.addClasses(missing, imprint);
      } finally {
        imprint.dispose();
      }
    },

    trainableVariables(ctx) {
      const all = ctx.net.trainableVariables;
      if (ctx.oldClasses === 0 || !config.freezeOldWeights) return all;
      const head = cosineHead(ctx.net.head, 'the network head');
      const old = head.weightBlocks.slice(0, -1);
      const oldOutputs = old.reduce((n, block) => n + block.shape[1], 0);
      if (oldOutputs !== ctx.oldClasses) {
        throw new Error(`lucir: the head's weight blocks before the newest hold ${oldOutputs} classes at task ${ctx.task.index}, expected the ${ctx.oldClasses} old ones`);
      }
      const frozen = new Set<tf.Variable>(old);
      return all.filter((v) => !frozen.has(v));
    },

    lossTerms(step: StepContext) {
      const out = step.student();
      return terms(step, cosineHead(step.net.head, 'the network head'), out.features, () => step.teacherOut().features);
    },

    async afterTask(ctx: TaskContext) {
      if (!config.cbf || ctx.task.index === 0) return;
      const head = cosineHead(ctx.net.head, 'the network head');
      const memory = ctx.services.memory();
      const ofClasses = (from: number, to: number) => memoryIndices(memory, from, to);
      const stage: TrainLoopOptions = {
        stage: 'lucir-cbf',
        data: { newIndices: ofClasses(ctx.task.start, ctx.task.end), replayIndices: ofClasses(0, ctx.task.start) },
        epochs: config.cbfEpochs,
        learningRate: config.cbfLearningRate,
        optimizer: { kind: 'sgd', lr: config.cbfLearningRate, momentum: config.cbfMomentum, weightDecay: config.cbfWeightDecay },
        schedule: { kind: 'multistep', milestones: config.cbfMilestones, gamma: 0.1 },
        // Old and new class weights; the backbone and sigma stay (official ft_flag 2).
        variables: [...head.weightBlocks],
        lossTerms: (step) => {
          // Batch-norm in eval mode (the script's fix_bn): features and running statistics stay fixed.
          const features = ctx.net.forward(step.batch.x, { training: false }).features;
          const teacher = () => ctx.teacher!.forward(step.batch.x, { training: false }).features;
          return terms(step, head, features, teacher);
        },
      };
      await ctx.services.trainLoop(stage);
    },
  };
}
