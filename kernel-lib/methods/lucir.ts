/**
 * LUCIR, "Learning a Unified Classifier Incrementally via Rebalancing" (Hou et al., CVPR 2019; official code
 * hshustc/CVPR19_Incremental_Learning, cifar100-class-incremental/class_incremental_cosine_cifar100.py with the
 * run.sh flags `--imprint_weights --less_forget --lamda 5 --adapt_lamda --mr_loss --dist 0.5 --K 2 --lw_mr 1`;
 * PyCIL models/ucir.py).
 *
 * - Cosine-normalised head with a learnable scale sigma (models/heads.ts CosineHead, one weight block per task,
 *   as SplitCosineLinear's fc1/fc2), on a backbone without the last ReLU (BackboneSpec `lastRelu: false`).
 * - New classes get imprinted weights (paper Sec. 3.2, "imprint_weights" in the official script): the
 *   normalised mean of the L2-normalised features of each new class's training images, computed by the network
 *   before it trains on them, times the mean norm of the old class weights.
 * - Old class weights stay fixed in incremental tasks (official script and PyCIL: fc1 at lr 0, weight decay 0).
 *   The trainer updates every trainable variable of the network, so the loss reads the old classes' weights from
 *   the frozen teacher's head (equal values: the teacher is the network as the previous task left it): the
 *   student's own old blocks then get no gradient, so the optimiser leaves them alone, weight decay included.
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
import { l2Normalize } from '../losses/util';
import type { FeatureMatrix } from '../memory/features';
import { classMeans } from '../memory/prototypes';
import { CosineHead } from '../models/heads';
import type { Head } from '../models/types';
import { resolveMethodConfig } from '../train/method-config';
import type { StageOptions } from '../train/run';
import { kdTerm, type LossTerms, type MemoryPolicy, type Method, type NetworkLike, type StepContext, type TaskContext } from './types';

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
  /** The backbone this method expects: no ReLU after the last block (PyCIL convs/ucir_cifar_resnet.py; official modified_resnet_cifar.py). */
  lastRelu: boolean;
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
  cbf: false,
  cbfEpochs: 20,
  cbfLearningRate: 0.01,
  cbfMilestones: [10],
  cbfWeightDecay: 5e-4,
  cbfMomentum: 0.9,
};

/**
 * Training recipe of the official CIFAR-100 script, to pass to createRun: SGD lr 0.1, momentum 0.9, weight
 * decay 5e-4, 160 epochs with x0.1 at 80 and 120, batch 128; backbone ResNet-32 without the last ReLU
 * (PyCIL's UCIR ResNet-32 also uses projection shortcuts).
 */
export const LUCIR_TRAINING = {
  optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 5e-4 },
  schedule: { kind: 'multistep', milestones: [80, 120], gamma: 0.1 },
  epochs: 160,
  batchSize: 128,
  backbone: { kind: 'resnet32', lastRelu: false, shortcut: 'projection' },
} as const;

function cosineHead(head: Head, where: string): CosineHead {
  if (!(head instanceof CosineHead)) throw new Error(`lucir: ${where} must be a CosineHead (from createHead), got head '${head.kind}'`);
  return head;
}

/** Columns of a [D, n] weight: their mean L2 norm. */
function meanColumnNorm(weights: tf.Tensor2D): number {
  return tf.tidy(() => tf.mean(tf.norm(weights, 'euclidean', 0)).dataSync()[0]);
}

/** The backbone's lastRelu setting, when the network was built by kernel-lib/models. */
function backboneLastRelu(net: NetworkLike): boolean | undefined {
  return (net as { backbone?: { spec?: { lastRelu?: boolean } } }).backbone?.spec?.lastRelu;
}

/** Adaptive less-forget weight: lambda_base * sqrt(n_old / n_new) (paper Eq. 7; official `lamda_mult = old / new`). */
export function lessForgetWeight(lambdaBase: number, oldClasses: number, newClasses: number): number {
  return lambdaBase * Math.sqrt(oldClasses / newClasses);
}

interface HeadPass {
  /** Cosine similarities over the seen classes, before the scale. */
  cosine: tf.Tensor2D;
  sigma: tf.Tensor;
}

/** Cosines with the given weight blocks ([D, n_i] each, oldest first), as CosineHead.cosine computes them. */
function headPass(features: tf.Tensor2D, blocks: readonly tf.Tensor2D[], sigma: tf.Tensor): HeadPass {
  const weights = blocks.length === 1 ? blocks[0] : (tf.concat(blocks as tf.Tensor2D[], 1) as tf.Tensor2D);
  return { cosine: tf.matMul(l2Normalize(features, 1), l2Normalize(weights, 0)), sigma };
}

export function createLucir(overrides: Partial<LucirConfig> = {}): Method<LucirConfig> {
  const config = resolveMethodConfig('lucir', LUCIR_DEFAULTS, overrides);
  if (!(Number.isInteger(config.hardNegatives) && config.hardNegatives >= 1)) {
    throw new Error(`lucir: hardNegatives must be an integer >= 1, got ${config.hardNegatives}`);
  }

  /** CE + less-forget + margin ranking on given features, teacher features and head pass. */
  const terms = (ctx: StepContext, features: tf.Tensor2D, teacherFeatures: () => tf.Tensor2D, pass: HeadPass): LossTerms => {
    const y = ctx.batch.y;
    const ce = crossEntropy(tf.mul(pass.cosine, pass.sigma) as tf.Tensor2D, y);
    if (ctx.oldClasses === 0) return { ce, 'less-forget': kdTerm(ctx, () => tf.scalar(0)), 'margin-ranking': tf.scalar(0) };
    const newClasses = ctx.seenClasses - ctx.oldClasses;
    const lambda = lessForgetWeight(config.lambdaBase, ctx.oldClasses, newClasses);
    const lessForget = kdTerm(ctx, () => tf.mul(featureCosine(features, teacherFeatures()), lambda) as tf.Scalar);
    const k = Math.min(config.hardNegatives, newClasses);
    const ranking = tf.mul(marginRanking(pass.cosine, y, ctx.oldClasses, { margin: config.margin, k }), config.marginWeight) as tf.Scalar;
    return { ce, 'less-forget': lessForget, 'margin-ranking': ranking };
  };

  return {
    name: 'lucir',
    config,
    kdTerms: ['less-forget'],
    memory: config.memory,

    createHead(featureDim, seed) {
      return new CosineHead(featureDim, 0, seed, { learnableSigma: true });
    },

    beforeTask(ctx) {
      const lastRelu = backboneLastRelu(ctx.net);
      if (lastRelu !== undefined && lastRelu !== config.lastRelu) {
        throw new Error(
          `lucir: the backbone was built with lastRelu: ${lastRelu}, but LUCIR uses lastRelu: ${config.lastRelu} ` +
            `(cosine features without the final ReLU). Pass backbone: { ..., lastRelu: ${config.lastRelu} } to createRun, ` +
            `or createLucir({ lastRelu: ${lastRelu} }) to run this variant on purpose.`,
        );
      }
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

    lossTerms(step: StepContext) {
      const out = step.student();
      const head = cosineHead(step.net.head, 'the network head');
      const blocks = head.weightBlocks as readonly tf.Tensor2D[];
      let pass: HeadPass;
      if (step.oldClasses > 0 && config.freezeOldWeights) {
        if (!step.teacher) throw new Error(`lucir: task ${step.task.index} has no teacher network`);
        const teacher = cosineHead(step.teacher.head, 'the teacher head');
        if (teacher.outputs !== step.oldClasses || blocks.length !== teacher.weightBlocks.length + 1) {
          throw new Error(`lucir: expected the teacher's ${step.oldClasses} old classes plus one new weight block, got ${teacher.outputs} and ${blocks.length} blocks`);
        }
        pass = headPass(out.features, [...(teacher.weightBlocks as readonly tf.Tensor2D[]), blocks[blocks.length - 1]], head.sigma ?? tf.scalar(1));
      } else {
        pass = { cosine: head.cosine(out.features), sigma: head.sigma ?? tf.scalar(1) };
      }
      return terms(step, out.features, () => step.teacherOut().features, pass);
    },

    async afterTask(ctx: TaskContext) {
      if (!config.cbf || ctx.task.index === 0) return;
      const head = cosineHead(ctx.net.head, 'the network head');
      const memory = ctx.services.memory();
      const ofClasses = (from: number, to: number) => {
        const parts = [...memory.keys()].filter((c) => c >= from && c < to).sort((a, b) => a - b).map((c) => memory.get(c)!);
        const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
        let offset = 0;
        for (const p of parts) out.set(p, (offset += p.length) - p.length);
        return out;
      };
      const stage: StageOptions = {
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
          return terms(step, features, teacher, { cosine: head.cosine(features), sigma: head.sigma ?? tf.scalar(1) });
        },
      };
      await ctx.services.trainLoop(stage);
    },
  };
}
