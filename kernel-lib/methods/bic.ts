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
 * Stage 2 (afterTask): a BiasLayer on the new task's logits, q_k = alpha * o_k + beta, is trained on the
 * validation split with CE on the corrected logits (paper Eq. 5-6), plus 0.1 * beta^2 / 2 (the original code's
 * penalty, as FACIL approach/bic.py notes), by SGD (lr 0.1, momentum 0.9) for 200 epochs (FACIL). The network is
 * frozen in eval mode and the held-out images are not augmented (FACIL datasets/data_loader.py gives the validation
 * split the test transform), so their logits are computed once and the stage trains alpha and beta on them: its
 * full 200 epochs cost about as much as one forward pass over the held-out images, at every profile. (Running the
 * stage for a few epochs only, as earlier versions did at the small profiles, stopped SGD mid-oscillation: the
 * standard BiC row ended with alpha = -0.12 on one task, which inverts its logits: 0% on that task from then on.)
 * The held-out accuracy with no correction and with the learned one are kept in the method state
 * (`bicStageReports`). PyCIL's stage 2 instead computes `cross_entropy(softmax(logits))` (a double softmax) in train
 * mode with augmentation; we follow the paper and FACIL.
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
import { nonNegativeInt, nonNegativeNumber, positiveInt, positiveNumber, z } from '../schema';
import { shuffleInPlace } from '../train/rng';
import { Optimizer } from '../train/optim';
import { concatIndices } from '../data/indices';
import { accuracy } from '../metrics/index';
import { expandLinearHead } from './shared/heads';
import { kdTerm, type Method, type MemoryPolicy, type StepContext, type TaskContext, type TrainingData } from './types';

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
  /** Stage-2 batch size. 128: PyCIL bic.py (`batch_size` of its validation loader). */
  biasBatchSize: number;
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
  biasBatchSize: 128,
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

/** What one task's stage 2 did to the held-out split it trains on. */
export interface BiasStageReport {
  task: number;
  heldOutImages: number;
  /** Accuracy over the held-out images with the earlier corrections only, then with this task's too. */
  accuracyBefore: number;
  accuracyAfter: number;
}

interface BicState {
  /** Corrections of tasks 1.., in task order. */
  bicCorrections?: BiasCorrection[];
  bicStageReports?: BiasStageReport[];
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

/** Top-1 accuracy of logits against labels. */
function accuracyOf(logits: tf.Tensor2D, labels: Int32Array): number {
  return accuracy(tf.tidy(() => tf.argMax(logits, 1).dataSync() as Int32Array), labels);
}

/**
 * Stage 2 on fixed logits: SGD with momentum on CE(alpha * o + beta) + betaPenalty * beta^2 / 2, shuffled batches of
 * `biasBatchSize` held-out images, `biasEpochs` epochs.
 */
export function fitBiasLayer(
  layer: BiasLayer,
  logits: tf.Tensor2D,
  labels: Int32Array,
  config: Pick<BicConfig, 'biasEpochs' | 'biasBatchSize' | 'biasLearningRate' | 'biasMomentum' | 'betaPenalty'>,
  random: () => number,
): void {
  const optimizer = new Optimizer({ kind: 'sgd', lr: config.biasLearningRate, momentum: config.biasMomentum, weightDecay: 0 });
  const variables = [layer.alpha, layer.beta].map((variable) => ({ name: variable.name, variable }));
  const y = tf.tensor1d(labels, 'int32');
  const order = Array.from({ length: labels.length }, (_, i) => i);
  try {
    for (let epoch = 0; epoch < config.biasEpochs; epoch++) {
      shuffleInPlace(order, random);
      for (let start = 0; start < order.length; start += config.biasBatchSize) {
        const batch = tf.tensor1d(order.slice(start, start + config.biasBatchSize), 'int32');
        const { value, grads } = tf.variableGrads(() =>
          tf.tidy(() => {
            const corrected = layer.apply(tf.gather(logits, batch) as tf.Tensor2D);
            const penalty = tf.mul(tf.sum(tf.square(layer.beta)), config.betaPenalty / 2);
            return tf.add(crossEntropy(corrected, tf.gather(y, batch) as tf.Tensor1D), penalty) as tf.Scalar;
          }),
          [layer.alpha, layer.beta],
        );
        optimizer.apply(variables, new Map(Object.entries(grads)), config.biasLearningRate);
        tf.dispose([batch, value, ...Object.values(grads)]);
      }
    }
  } finally {
    y.dispose();
    optimizer.dispose();
  }
}

export function createBic(overrides: Partial<BicConfig> = {}): Method<BicConfig> {
  const config = resolveMethodConfig('bic', BIC_DEFAULTS, overrides, {
    validationRatio: z.number().gt(0).lt(1),
    temperature: positiveNumber(),
    biasEpochs: nonNegativeInt(),
    biasBatchSize: positiveInt(),
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
      const indices = concatIndices([validation.replayIndices, validation.newIndices]);
      const labels = ctx.services.labels(indices);
      const features = ctx.services.features(indices);
      const logits = tf.tidy(() => applyCorrections(seenLogits(ctx.net.head.apply(features, { training: false }), ctx.seenClasses), fixed));
      const layer = new BiasLayer(range);
      try {
        const accuracyBefore = accuracyOf(logits, labels);
        fitBiasLayer(layer, logits, labels, config, ctx.services.random());
        const corrected = layer.apply(logits);
        const accuracyAfter = accuracyOf(corrected, labels);
        corrected.dispose();
        const [alpha] = layer.alpha.dataSync();
        const [beta] = layer.beta.dataSync();
        state.bicCorrections = [...fixed, { ...range, alpha, beta }];
        const reports = (state.bicStageReports ?? []).filter((r) => r.task < ctx.task.index);
        state.bicStageReports = [...reports, { task: ctx.task.index, heldOutImages: labels.length, accuracyBefore, accuracyAfter }];
      } finally {
        tf.dispose([features, logits]);
        layer.dispose();
      }
    },

    predict(ctx, x) {
      return tf.tidy(() => applyCorrections(seenLogits(ctx.net.forward(x, { training: false }).logits, ctx.seenClasses), corrections(ctx)));
    },
  };
}
