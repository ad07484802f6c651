/**
 * End-to-End Incremental Learning (Castro et al., ECCV 2018): cross-entropy over all seen classes plus
 * distillation of the old classes' logits, on new data and exemplars; then class-balanced fine-tuning.
 *
 * Main stage (paper Sec. 3-4, Eq. 1):   L = CE(z[:, :seen], y) + lamb * L_D
 *   L_D = sum over old tasks b of softTargetCE(z[:, b], t_old[:, b], T = 2)
 * The distillation runs on each old task's block of logits with its own softmax (paper Sec. 3: one distillation
 * term per old classification layer; FACIL src/approach/eeil.py `criterion` loops over the old heads) and uses the
 * soft-target cross-entropy of the paper's Eq. 2 (FACIL uses a BCE between the two softened distributions
 * instead). `kdBlocks: 'old-classes'` uses one softmax over all old classes (PyCIL-style) instead.
 *
 * Balanced fine-tuning (paper Sec. 4.3), from the second task on (FACIL eeil.py `train_loop`: "First task is simple
 * training"): after the trainer's memory update, the network is fine-tuned on the updated exemplar memory, which
 * holds the same number of herding-selected samples for every seen class (a class-balanced subset the size of the
 * memory), at a lower learning rate, through `services.trainLoop` (stage 'eeil-balanced'). Its loss is the main
 * one plus the paper's temporary distillation of the new classes:
 *   kdNew = lamb * softTargetCE(z[:, new], t_pre[:, new], T),  t_pre = the network as it was before this stage
 * (a frozen snapshot taken in afterTask); the old blocks are still distilled from the previous task's model.
 * FACIL builds the balanced set from the old exemplars plus a random subset of the new data of the same size and
 * selects the new exemplars after the fine-tuning; here the subset is the memory itself (herding, equal counts).
 *
 * Defaults and sources:
 * - lamb 1: FACIL eeil.py `--lamb` (L = L_C + lamb L_D); T 2: paper Sec. 3 ("we set T to 2"), FACIL `--T`.
 * - memory: 2000 in total with herding (paper Sec. 4-5: 2000 exemplars on CIFAR-100, selected by herding as iCaRL).
 * - balancedEpochs 40: FACIL eeil.py `--nepochs-finetuning` default.
 * - balancedLearningRate 0.01: the paper's fine-tuning "starting rate is 0.01" against 0.1 for the main stage, i.e.
 *   a tenth of the run's default lr 0.1 (FACIL `lr_finetuning_factor`). The method cannot see the run's lr: with
 *   another lr, set this to lr / 10. The stage uses the run's optimiser otherwise.
 * - balancedDecayEvery 10: the paper's fine-tuning rate "is divided by 10 every 10 epochs" (Sec. 4.3); the reduced
 *   profiles shorten the stage and scale this with it (experiments/profiles.ts SHORT_EXTRA_STAGES).
 * - Memory order (paper Sec. 4.3, FACIL eeil.py): the balanced set is the old classes' exemplars plus, for each new
 *   class, a random subset of its training images of the size the memory holds per old class; the new classes'
 *   exemplars are herded after the balanced stage (`selectExemplarsAfter: 'afterTask'`), from the fine-tuned network.
 * - Not done: EEIL's extra data augmentation (brightness, contrast, crop-mirror variants added to the training set)
 *   and its gradient noise (FACIL `--noise-grad`, off by default there); the trainer's standard augmentation is used.
 *
 * KD removal (`kd: false`): 'kd' (old-class distillation, both stages) and 'kdNew' (the balanced stage's
 * new-class distillation) are exactly 0; CE is unchanged and the balanced stage still runs.
 */
import { tf } from '../tf';
import { crossEntropy, softTargetCE } from '../losses/index';
import { Network } from '../models/index';
import { resolveMethodConfig, weight } from '../train/method-config';
import { shuffleInPlace } from '../train/rng';
import { nonNegativeInt, positiveNumber, z } from '../schema';
import { weightedKdTerm } from './shared/distillation-terms';
import { columns, expandLinearHead } from './shared/heads';
import { memoryIndices, type ReplayMemoryConfig } from './shared/replay-memory';
import { kdTerm, type LossTerms, type Method, type NetworkLike, type StepContext, type TaskContext, type TrainingData } from './types';

export interface EeilConfig extends ReplayMemoryConfig {
  kd: boolean;
  /** Distillation weight. FACIL src/approach/eeil.py `--lamb` default 1. */
  lamb: number;
  /** Distillation temperature. EEIL paper Sec. 3 ("we set T to 2"); FACIL eeil.py `--T` default 2. */
  temperature: number;
  /** 'per-task': one softmax per old task's block (paper, FACIL); 'old-classes': one softmax over all old classes. */
  kdBlocks: 'per-task' | 'old-classes';
  /** Epochs of balanced fine-tuning. FACIL eeil.py `--nepochs-finetuning` default 40. */
  balancedEpochs: number;
  /** Learning rate of balanced fine-tuning: the paper's 0.01 (a tenth of the main stage's 0.1). */
  balancedLearningRate: number;
  /** The balanced stage's rate is divided by 10 every this many epochs (paper Sec. 4.3: every 10 epochs). */
  balancedDecayEvery: number;
}

export const EEIL_DEFAULTS: EeilConfig = {
  kd: true,
  lamb: 1,
  temperature: 2,
  kdBlocks: 'per-task',
  memory: { selection: 'herding', total: 2000 },
  balancedEpochs: 40,
  balancedLearningRate: 0.01,
  balancedDecayEvery: 10,
};

/** The balanced stage's schedule: /10 at every multiple of `every` epochs before the last one. */
export function balancedSchedule(epochs: number, every: number): { kind: 'multistep'; milestones: number[]; gamma: number } {
  const milestones: number[] = [];
  for (let e = every; e < epochs; e += every) milestones.push(e);
  return { kind: 'multistep', milestones, gamma: 0.1 };
}

const TASKS_KEY = 'eeilTaskRanges';

/** [start, end) of every task so far, kept in the method state (checkpointed) for the per-task KD blocks. */
function taskRanges(state: Record<string, unknown>): [number, number][] {
  return (state[TASKS_KEY] as [number, number][] | undefined) ?? [];
}

function recordTask(ctx: TaskContext): void {
  const ranges = taskRanges(ctx.state).filter(([start]) => start < ctx.task.start);
  ranges.push([ctx.task.start, ctx.task.end]);
  ctx.state[TASKS_KEY] = ranges;
}

/** The soft-target CE summed over blocks of classes, student vs teacher logits. */
function blockDistillation(student: tf.Tensor2D, teacher: tf.Tensor2D, blocks: [number, number][], temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const terms = blocks.map(([start, end]) => softTargetCE(columns(student, start, end), columns(teacher, start, end), temperature));
    return (terms.length === 1 ? terms[0] : tf.addN(terms)) as tf.Scalar;
  });
}

/**
 * The class-balanced fine-tuning set: the old classes' exemplars (the memory before this task's selection) as
 * replay, and per new class a random `perClass` of its training images (`newByClass`: class -> indices), perClass =
 * the fewest exemplars any old class holds. Exported for tests and notebooks.
 */
export function balancedSubset(memory: Map<number, Int32Array>, newByClass: Map<number, Int32Array>, oldClasses: number,
  random: () => number): TrainingData {
  const sizes = [...memory.entries()].filter(([c]) => c < oldClasses).map(([, m]) => m.length);
  const perClass = sizes.length ? Math.min(...sizes) : 0;
  const picked: number[] = [];
  for (const [, indices] of [...newByClass.entries()].sort(([a], [b]) => a - b)) {
    const pool = Array.from(indices);
    shuffleInPlace(pool, random);
    picked.push(...pool.slice(0, perClass));
  }
  return { newIndices: Int32Array.from(picked), replayIndices: memoryIndices(memory, 0, oldClasses) };
}

export function createEeil(overrides: Partial<EeilConfig> = {}): Method<EeilConfig> {
  const name = 'eeil';
  const config = resolveMethodConfig(name, EEIL_DEFAULTS, overrides, {
    lamb: weight(),
    temperature: positiveNumber(),
    kdBlocks: z.enum(['per-task', 'old-classes']),
    balancedEpochs: nonNegativeInt(),
    balancedLearningRate: positiveNumber(),
    balancedDecayEvery: z.number().int().positive(),
  });
  const memory = { ...config.memory };

  const oldBlocks = (step: StepContext): [number, number][] =>
    config.kdBlocks === 'old-classes' ? [[0, step.oldClasses]] : taskRanges(step.state).filter(([, end]) => end <= step.oldClasses);

  /** CE over every seen class plus the old-class distillation: the main stage's loss. */
  const mainTerms = (step: StepContext): LossTerms => ({
    ce: crossEntropy(columns(step.student().logits, 0, step.seenClasses), step.batch.y),
    kd: weightedKdTerm(step, config.lamb, () =>
      blockDistillation(step.student().logits, step.teacherOut().logits, oldBlocks(step), config.temperature),
    ),
  });

  /** The balanced stage adds the temporary distillation of the new classes towards the pre-stage snapshot. */
  const balancedTerms = (step: StepContext, snapshot: NetworkLike): LossTerms => ({
    ...mainTerms(step),
    kdNew: kdTerm(step, () => {
      const before = snapshot.forward(step.batch.x, { training: false }).logits;
      const range: [number, number][] = [[step.task.start, step.task.end]];
      return tf.mul(blockDistillation(step.student().logits, before, range, config.temperature), config.lamb) as tf.Scalar;
    }),
  });

  return {
    name,
    config,
    kdTerms: ['kd', 'kdNew'],
    memory,
    selectExemplarsAfter: 'afterTask',
    beforeTask(ctx) {
      expandLinearHead(ctx.net, ctx.seenClasses, name);
      recordTask(ctx);
    },
    lossTerms: mainTerms,
    async afterTask(ctx) {
      if (ctx.task.index === 0 || config.balancedEpochs === 0) return;
      if (!(ctx.net instanceof Network)) throw new Error('eeil: balanced fine-tuning needs a kdcl Network (to snapshot it as the new-class teacher)');
      const newIndices = ctx.services.taskIndices(ctx.task);
      const labels = ctx.services.labels(newIndices);
      const newByClass = new Map<number, Int32Array>();
      for (let c = ctx.task.start; c < ctx.task.end; c++) newByClass.set(c, newIndices.filter((_, i) => labels[i] === c));
      const data = balancedSubset(ctx.services.memory(), newByClass, ctx.oldClasses, ctx.services.random());
      if (data.newIndices.length === 0) throw new Error(`eeil: the memory holds no exemplar of the old classes to size task ${ctx.task.index}'s balanced fine-tuning set`);
      const snapshot = ctx.net.clone(false);
      try {
        await ctx.services.trainLoop({
          data,
          epochs: config.balancedEpochs,
          learningRate: config.balancedLearningRate,
          schedule: balancedSchedule(config.balancedEpochs, config.balancedDecayEvery),
          lossTerms: (step) => balancedTerms(step, snapshot),
          stage: 'eeil-balanced',
        });
      } finally {
        snapshot.dispose();
      }
    },
  };
}
