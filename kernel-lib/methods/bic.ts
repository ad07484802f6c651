/**
 * BiC, bias correction (Wu et al., "Large Scale Incremental Learning", CVPR 2019).
 *
 * Data (paper Sec. 4 and Fig. 2; PyCIL models/bic.py `get_dataset_with_split(..., val_samples_per_class)`): on
 * every incremental task, k = floor(validationRatio * m) exemplars of each old class (m = exemplars per class in
 * memory) and k training images of each new class are held out, picked at random per class. The rest (9:1 with
 * the default ratio) is stage 1's training data; the held-out images are the validation split of stage 2.
 * Task 0 trains on all its data and has no stage 2.
 *
 * Stage 1 (paper Eq. 1-3; PyCIL models/bic.py `_run`, FACIL approach/bic.py `criterion`):
 *   L = (1 - lambda) * CE(q, y) + lambda * KD,   lambda = n_old / (n_old + n_new)
 *   KD = -1/N sum_i sum_{c < n_old} softmax(q_old_i / T)_c log softmax(q_i[:n_old] / T)_c,   T = 2
 * where q are the network's logits after the bias layers of earlier tasks (fixed during stage 1), for the
 * student and for the old model alike, as both references compute them.
 *
 * Stage 2 (afterTask, via services.trainLoop with `variables: [alpha, beta]` only): a BiasLayer on the new task's
 * logits, q_k = alpha * o_k + beta, is trained on the validation split with CE on the corrected logits (paper
 * Eq. 5-6), plus 0.1 * beta^2 / 2 (the original code's penalty, as FACIL approach/bic.py notes). The network runs
 * in eval mode there (FACIL: `self.model.eval()`), so nothing but alpha and beta changes. PyCIL's stage 2 instead
 * computes `cross_entropy(softmax(logits))` (a double softmax) in train mode; we follow the paper and FACIL.
 *
 * Prediction applies every task's bias layer (`predict`); the trainer still reports the uncorrected CNN accuracy.
 * The learned (alpha, beta) of each task are plain numbers in the method state, so they are checkpointed.
 *
 * KD removal: `kdTerms = ['kd']`. With `kd: false` the distillation term is exactly 0 and lambda is 0, so the CE
 * term has weight 1 (not the (1 - lambda) of a KD weight that no longer applies); the validation split and the
 * bias correction stay.
 */
import { tf } from '../tf';
import { crossEntropy } from '../losses/classification';
import { softTargetCE } from '../losses/distillation';
import { BiasLayer, type LogitRange } from '../models/heads';
import { resolveMethodConfig } from '../train/method-config';
import { nonNegativeInt, nonNegativeNumber, positiveNumber, z } from '../schema';
import { shuffleInPlace } from '../train/rng';
import { expandLinearHead } from './shared/heads';
import { kdTerm, type Method, type MemoryPolicy, type StepContext, type TaskContext, type TrainingData, type TrainLoopOptions } from './types';

export interface BicConfig {
  kd: boolean;
  /** Distillation temperature. 2: paper Sec. 6.2 ("T is set to 2"); PyCIL models/bic.py `T = 2`. */
  temperature: number;
  /** Share of each class's exemplars held out for stage 2. 0.1 (9:1): paper Sec. 6.1; PyCIL bic.py `split_ratio = 0.1`. */
  validationRatio: number;
  /**
   * Exemplar memory. 2000 in total, herding: paper Sec. 6.1 (2,000 exemplars on CIFAR-100); PyCIL
   * exps/bic.json `memory_size: 2000` with models/base.py herding (`build_rehearsal_memory`).
   */
  memory: MemoryPolicy;
  /** Stage-2 epochs. 200: FACIL approach/bic.py `num_bias_epochs` (original code: 2 x 100 epochs). */
  biasEpochs: number;
  /** Stage-2 SGD learning rate. 0.1: FACIL bic.py (`lr`), PyCIL bic.py `lrate`. */
  biasLearningRate: number;
  /** Stage-2 SGD momentum. 0.9: FACIL bic.py ("in their code ... momentum is always 0.9"). */
  biasMomentum: number;
  /** Weight of beta^2 / 2 in stage 2. 0.1: FACIL bic.py, from the original code. */
  betaPenalty: number;
}

export const BIC_DEFAULTS: BicConfig = {
  kd: true,
  temperature: 2,
  validationRatio: 0.1,
  memory: { selection: 'herding', total: 2000 },
  biasEpochs: 200,
  biasLearningRate: 0.1,
  biasMomentum: 0.9,
  betaPenalty: 0.1,
};

/** One task's learned correction, kept in the method state. */
export interface BiasCorrection {
  start: number;
  end: number;
  alpha: number;
  beta: number;
}

interface BicState {
  /** Corrections of tasks 1.., in task order. */
  bicCorrections?: BiasCorrection[];
  /** The current task's stage-2 split (between trainingData and afterTask). */
  bicValidation?: TrainingData;
}

function corrections(ctx: TaskContext): BiasCorrection[] {
  const state = ctx.state as BicState;
  return (state.bicCorrections ??= []);
}

/**
 * Logits after the fixed bias layers: columns of each correction's range are alpha * o + beta, others unchanged.
 * Corrections outside the logits' width are ignored (none exist during normal use).
 */
export function applyCorrections(logits: tf.Tensor2D, list: readonly BiasCorrection[]): tf.Tensor2D {
  const width = logits.shape[1];
  const active = list.filter((c) => c.end <= width);
  if (active.length === 0) return logits;
  return tf.tidy(() => {
    const scale = new Float32Array(width).fill(1);
    const shift = new Float32Array(width);
    for (const c of active) {
      scale.fill(c.alpha, c.start, c.end);
      shift.fill(c.beta, c.start, c.end);
    }
    return tf.add(tf.mul(logits, tf.tensor2d(scale, [1, width])), tf.tensor2d(shift, [1, width])) as tf.Tensor2D;
  });
}

function seenLogits(logits: tf.Tensor2D, seen: number): tf.Tensor2D {
  return logits.shape[1] === seen ? logits : (logits.slice([0, 0], [-1, seen]) as tf.Tensor2D);
}

/** Holds out `perClass` random indices of each class: returns [kept, heldOut]. */
function holdOut(indices: Int32Array, labels: Int32Array, perClass: number, random: () => number): [Int32Array, Int32Array] {
  const byClass = new Map<number, number[]>();
  indices.forEach((index, i) => {
    const list = byClass.get(labels[i]) ?? [];
    list.push(index);
    byClass.set(labels[i], list);
  });
  const kept: number[] = [];
  const held: number[] = [];
  for (const cls of [...byClass.keys()].sort((a, b) => a - b)) {
    const list = byClass.get(cls)!;
    if (list.length <= perClass) {
      throw new Error(`bic: class ${cls} has ${list.length} images, too few to hold out ${perClass} for validation and train on the rest`);
    }
    shuffleInPlace(list, random);
    held.push(...list.slice(0, perClass));
    kept.push(...list.slice(perClass));
  }
  return [Int32Array.from(kept), Int32Array.from(held)];
}

export function createBic(overrides: Partial<BicConfig> = {}): Method<BicConfig> {
  const config = resolveMethodConfig('bic', BIC_DEFAULTS, overrides, {
    validationRatio: z.number().gt(0).lt(1),
    temperature: positiveNumber(),
    biasEpochs: nonNegativeInt(),
    biasLearningRate: positiveNumber(),
    biasMomentum: z.number().min(0).lt(1),
    betaPenalty: nonNegativeNumber(),
  });

  /** lambda = n_old / (n_old + n_new) (paper Sec. 4, after Eq. 3). */
  // lambda = n_old / n_seen (BiC Eq. 5). With KD off it is 0: the CE is not scaled down by a KD weight that no
  // longer applies (else the new-class gradient shrinks 10-20x in late tasks and biases the KD-removal row).
  const lambdaOf = (ctx: TaskContext & { kd: boolean }) => (ctx.kd ? ctx.oldClasses / ctx.seenClasses : 0);

  return {
    name: 'bic',
    config,
    kdTerms: ['kd'],
    memory: config.memory,

    beforeTask(ctx) {
      expandLinearHead(ctx.net, ctx.seenClasses, 'bic');
      delete (ctx.state as BicState).bicValidation;
    },

    trainingData(ctx, defaults) {
      if (ctx.task.index === 0) return defaults;
      const memory = ctx.services.memory();
      const sizes = [...memory.values()].map((m) => m.length);
      const perClassMemory = sizes.length ? Math.min(...sizes) : 0;
      const perClass = Math.floor(config.validationRatio * perClassMemory);
      if (perClass < 1) {
        throw new Error(
          `bic: validationRatio ${config.validationRatio} of ${perClassMemory} exemplars per class holds out no validation image; ` +
            `use a larger memory (config.memory) or validationRatio`,
        );
      }
      const random = ctx.services.random();
      const [replayTrain, replayVal] = holdOut(defaults.replayIndices, ctx.services.labels(defaults.replayIndices), perClass, random);
      const [newTrain, newVal] = holdOut(defaults.newIndices, ctx.services.labels(defaults.newIndices), perClass, random);
      (ctx.state as BicState).bicValidation = { newIndices: newVal, replayIndices: replayVal };
      return { newIndices: newTrain, replayIndices: replayTrain };
    },

    lossTerms(step: StepContext) {
      const fixed = corrections(step);
      const lambda = lambdaOf(step);
      const logits = applyCorrections(seenLogits(step.student().logits, step.seenClasses), fixed);
      const ce = tf.mul(crossEntropy(logits, step.batch.y), 1 - lambda) as tf.Scalar;
      const kd = kdTerm(step, () => {
        if (step.oldClasses === 0) return tf.scalar(0);
        const teacher = applyCorrections(seenLogits(step.teacherOut().logits, step.oldClasses), fixed);
        return tf.mul(softTargetCE(logits, teacher, config.temperature), lambda) as tf.Scalar;
      });
      return { ce, kd };
    },

    async afterTask(ctx) {
      const state = ctx.state as BicState;
      const validation = state.bicValidation;
      delete state.bicValidation;
      if (ctx.task.index === 0 || !validation) return;
      const range: LogitRange = { start: ctx.task.start, end: ctx.task.end };
      const fixed = corrections(ctx).filter((c) => c.end <= ctx.task.start);
      const layer = new BiasLayer(range);
      try {
        const stage: TrainLoopOptions = {
          stage: 'bic-bias',
          data: validation,
          epochs: config.biasEpochs,
          learningRate: config.biasLearningRate,
          optimizer: { kind: 'sgd', lr: config.biasLearningRate, momentum: config.biasMomentum, weightDecay: 0 },
          schedule: { kind: 'constant' },
          variables: [layer.alpha, layer.beta],
          lossTerms: (step) => {
            // Eval mode: batch-norm statistics stay as stage 1 left them.
            const raw = ctx.net.forward(step.batch.x, { training: false }).logits;
            const corrected = layer.apply(applyCorrections(seenLogits(raw, ctx.seenClasses), fixed));
            return {
              'bias-ce': crossEntropy(corrected, step.batch.y),
              'beta-penalty': tf.mul(tf.sum(tf.square(layer.beta)), config.betaPenalty / 2) as tf.Scalar,
            };
          },
        };
        await ctx.services.trainLoop(stage);
        const [alpha] = layer.alpha.dataSync();
        const [beta] = layer.beta.dataSync();
        state.bicCorrections = [...fixed, { ...range, alpha, beta }];
      } finally {
        layer.dispose();
      }
    },

    predict(ctx, x) {
      return tf.tidy(() => applyCorrections(seenLogits(ctx.net.forward(x, { training: false }).logits, ctx.seenClasses), corrections(ctx)));
    },
  };
}
