/**
 * Learning without Forgetting (Li & Hoiem, ECCV 2016 / TPAMI 2018): cross-entropy on the new task plus
 * soft-target distillation of the old outputs towards the frozen previous model, with no exemplars.
 *
 *   L = CE(z_new, y - start) + lamb * KD(z_old, t_old)
 *
 * - CE runs over the current task's logits only (FACIL src/approach/lwf.py `criterion`: without exemplars,
 *   `cross_entropy(outputs[t], targets - task_offset[t])`; PyCIL models/lwf.py: `logits[:, known_classes:]`).
 * - KD (default 'ce') is the soft-target cross-entropy over the old classes' logits, one softmax over all of them,
 *   T = 2 (FACIL lwf.py `cross_entropy(cat(outputs[:t]), cat(outputs_old[:t]), exp=1/T)`; PyCIL `_KD_loss`).
 *
 * Head layouts (`heads`):
 * - 'shared' (default): one expandable linear head. Old-class columns get the KD gradient and are updated, as in
 *   PyCIL models/lwf.py (one optimiser over every parameter).
 * - 'per-task': LwF's multi-head layout (TaskHeads), the variant the survey's standalone-KD-loss experiment
 *   (Table 4) uses: the current task's head is the only one trained with CE, and the old heads are only
 *   distilled. With `freezeOldHeads` (default for 'per-task') the old heads are not updated at all: FACIL
 *   lwf.py `_get_optimizer` leaves them out of the optimiser when there are no exemplars. The KD gradient then
 *   reaches the backbone through fixed copies of the old heads (the teacher's, which hold the same values since
 *   the student's old heads are never updated), so the student's old head variables get no gradient and no
 *   weight decay.
 *
 * Pluggable KD loss (`kdLoss`, survey Table 4), all from kernel-lib/losses:
 *   'ce'             softTargetCE(z_old, t_old, T)          soft-target cross-entropy (LwF's own)
 *   'kl'             klDistillation(z_old, t_old, T)        KL(p_old || p_new) * T^2
 *   'logit-l2'       logitL2(z_old, t_old)                  MSE on the old logits
 *   'feature-l2'     featureL2(f, f_old)                    Frobenius norm of the backbone feature difference
 *   'feature-cosine' featureCosine(f, f_old)                1 - cos of the backbone features, batch mean
 *   'none'           0                                      (same as kd: false)
 * Every loss is weighted by `lamb`.
 *
 * KD removal (`kd: false`, survey Table 3): the 'kd' term is exactly 0; CE is unchanged. LwF without KD is
 * fine-tuning with the CE restricted to the new task's logits.
 */
import { tf } from '../tf';
import { crossEntropy, featureCosine, featureL2, klDistillation, logitL2, softTargetCE } from '../losses/index';
import { LinearHead, TaskHeads } from '../models/index';
import type { Head } from '../models/types';
import { resolveMethodConfig } from '../train/method-config';
import { expandLinearHead } from './finetune';
import { kdTerm, type Method, type StepContext, type TaskContext } from './types';

export const LWF_KD_LOSSES = ['ce', 'kl', 'logit-l2', 'feature-l2', 'feature-cosine', 'none'] as const;
export type LwfKdLoss = (typeof LWF_KD_LOSSES)[number];
export type HeadLayoutKind = 'shared' | 'per-task';

/** Head options shared by the LwF-family methods (LwF, LwM). */
export interface LwfHeadConfig {
  heads: HeadLayoutKind;
  /** Old heads never updated (needs heads 'per-task'); null = true for 'per-task', false for 'shared'. */
  freezeOldHeads: boolean | null;
}

export interface LwfConfig extends LwfHeadConfig {
  kd: boolean;
  /** KD weight. FACIL src/approach/lwf.py `--lamb` default 1 (paper p. 5: "set to 1 for most our experiments"); PyCIL models/lwf.py uses lamda = 3. */
  lamb: number;
  /** KD temperature. FACIL lwf.py `--T` default 2 (paper p. 5: "We use T=2"); PyCIL models/lwf.py T = 2. */
  temperature: number;
  /** Distillation loss (survey Table 4). Default 'ce': LwF's soft-target cross-entropy. */
  kdLoss: LwfKdLoss;
}

export const LWF_DEFAULTS: LwfConfig = {
  kd: true,
  lamb: 1,
  temperature: 2,
  // One expandable head: PyCIL models/lwf.py (IncrementalNet + update_fc). 'per-task' is FACIL's layout.
  heads: 'shared',
  freezeOldHeads: null,
  kdLoss: 'ce',
};

/**
 * LwF's training recipe in PyCIL models/lwf.py (for kernel-lib/experiments' recipes): first task 200 epochs, SGD lr 0.1,
 * momentum 0.9, weight decay 5e-4, milestones [60, 120, 160]; later tasks 250 epochs, lr 0.1, weight decay 2e-4,
 * milestones [60, 120, 180, 220]; decay 0.1; batch size 128.
 */
export const LWF_TRAINING = {
  initOptimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 5e-4 },
  initSchedule: { kind: 'multistep', milestones: [60, 120, 160], gamma: 0.1 },
  initEpochs: 200,
  optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 2e-4 },
  schedule: { kind: 'multistep', milestones: [60, 120, 180, 220], gamma: 0.1 },
  epochs: 250,
  batchSize: 128,
} as const;

/** How an LwF-family method lays out its classifier, and the logits and kernels its losses need. */
export interface HeadLayout {
  createHead?(featureDim: number, seed: number): Head;
  /** Grows the head to the current task's classes. */
  expand(ctx: TaskContext): void;
  /** Student logits of the current task's classes only [N, end - start]. */
  newLogits(step: StepContext): tf.Tensor2D;
  /** Student logits of the old classes [N, oldClasses] (through the frozen copies when old heads are frozen). */
  oldLogits(step: StepContext): tf.Tensor2D;
  /** The kernel [featureDim, >= oldClasses] mapping student features to old-class logits (Grad-CAM weights). */
  oldKernel(step: StepContext): tf.Tensor2D;
  /** The teacher's kernel [featureDim, oldClasses]. */
  teacherKernel(step: StepContext): tf.Tensor2D;
}

function positiveNumber(method: string, field: string, value: number, allowZero: boolean): void {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new Error(`${method}: config '${field}' must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${JSON.stringify(value)}`);
  }
}

export function checkWeight(method: string, field: string, value: number): void {
  positiveNumber(method, field, value, true);
}

export function checkTemperature(method: string, field: string, value: number): void {
  positiveNumber(method, field, value, false);
}

function taskHeadsOf(head: Head, method: string): TaskHeads {
  if (!(head instanceof TaskHeads)) throw new Error(`${method}: heads 'per-task' expects the TaskHeads head, got head '${head.kind}'`);
  return head;
}

function linearHeadOf(head: Head, method: string): LinearHead {
  if (!(head instanceof LinearHead)) throw new Error(`${method}: heads 'shared' expects the expandable LinearHead, got head '${head.kind}'`);
  return head;
}

/** Columns [start, end) of a [N, C] tensor. */
export function columns(x: tf.Tensor2D, start: number, end: number): tf.Tensor2D {
  if (start === 0 && end === x.shape[1]) return x;
  return tf.slice(x, [0, start], [-1, end - start]);
}

/** The old tasks' kernels side by side: [featureDim, sum of their classes]. */
function oldTaskKernel(heads: TaskHeads, tasks: number): tf.Tensor2D {
  const kernels = Array.from({ length: tasks }, (_, j) => heads.taskHead(j).weights!);
  return kernels.length === 1 ? kernels[0] : tf.concat(kernels, 1);
}

/** Validates the head options and returns the layout the losses read logits through. */
export function headLayout(method: string, config: LwfHeadConfig): HeadLayout {
  if (config.heads !== 'shared' && config.heads !== 'per-task') {
    throw new Error(`${method}: heads must be 'shared' or 'per-task', got ${JSON.stringify(config.heads)}`);
  }
  if (config.freezeOldHeads !== null && typeof config.freezeOldHeads !== 'boolean') {
    throw new Error(`${method}: freezeOldHeads must be true, false or null (automatic), got ${JSON.stringify(config.freezeOldHeads)}`);
  }
  if (config.heads === 'shared') {
    if (config.freezeOldHeads === true) {
      throw new Error(`${method}: freezeOldHeads needs heads 'per-task' (a shared head keeps old and new classes in one weight matrix)`);
    }
    return {
      expand: (ctx) => expandLinearHead(ctx.net, ctx.seenClasses, method),
      newLogits: (step) => columns(step.student().logits, step.task.start, step.task.end),
      oldLogits: (step) => columns(step.student().logits, 0, step.oldClasses),
      oldKernel: (step) => linearHeadOf(step.net.head, method).weights!,
      teacherKernel: (step) => linearHeadOf(step.teacher!.head, method).weights!,
    };
  }
  const frozen = config.freezeOldHeads ?? true;
  return {
    createHead: (featureDim, seed) => new TaskHeads(featureDim, [], seed),
    expand(ctx) {
      const heads = taskHeadsOf(ctx.net.head, method);
      const index = ctx.task.index;
      if (heads.tasks === index + 1) return; // already added (beforeTask called again)
      if (heads.tasks !== index || heads.outputs !== ctx.oldClasses) {
        throw new Error(
          `${method}: the per-task head has ${heads.tasks} task heads (${heads.outputs} outputs) before task ${index}, ` +
            `expected ${index} heads with ${ctx.oldClasses} outputs`,
        );
      }
      heads.addTask(ctx.task.end - ctx.task.start);
    },
    // Only the current task's head: the old heads' variables stay off the loss's path (no CE gradient).
    newLogits: (step) => taskHeadsOf(step.net.head, method).taskLogits(step.student().features, step.task.index),
    oldLogits(step) {
      if (!frozen) return columns(step.student().logits, 0, step.oldClasses);
      // The teacher's copies of the old heads equal the student's (never updated): gradient reaches the backbone
      // only, and the student's old head variables get none (so no update, no weight decay: FACIL's optimiser).
      return step.teacher!.head.apply(step.student().features, { training: true });
    },
    oldKernel: (step) => oldTaskKernel(taskHeadsOf(frozen ? step.teacher!.head : step.net.head, method), step.task.index),
    teacherKernel: (step) => oldTaskKernel(taskHeadsOf(step.teacher!.head, method), step.task.index),
  };
}

/** The distillation loss of survey Table 4 between the student and the teacher (unweighted). */
export function distillationLoss(kind: LwfKdLoss, step: StepContext, layout: HeadLayout, temperature: number): tf.Scalar {
  const teacher = step.teacherOut();
  switch (kind) {
    case 'ce':
      return softTargetCE(layout.oldLogits(step), teacher.logits, temperature);
    case 'kl':
      return klDistillation(layout.oldLogits(step), teacher.logits, temperature);
    case 'logit-l2':
      return logitL2(layout.oldLogits(step), teacher.logits);
    case 'feature-l2':
      return featureL2(step.student().features, teacher.features);
    case 'feature-cosine':
      return featureCosine(step.student().features, teacher.features);
    case 'none':
      return tf.scalar(0);
  }
}

/*
 * No tf.tidy around code that may call step.student() / step.teacherOut() first: those outputs are memoised for the
 * whole step, and a tidy that created them would dispose them when it ends. The trainer's step scope frees
 * everything lossTerms allocates.
 */

/** CE of the current task's samples over the current task's logits. */
export function newTaskCrossEntropy(step: StepContext, layout: HeadLayout): tf.Scalar {
  const labels = step.task.start === 0 ? step.batch.y : (tf.sub(step.batch.y, step.task.start) as tf.Tensor1D);
  return crossEntropy(layout.newLogits(step), labels);
}

/** A KD term weighted by `weight`: exactly 0 with KD off and on the first task (no teacher). */
export function weightedKdTerm(step: StepContext, weight: number, compute: () => tf.Scalar): tf.Scalar {
  if (!step.teacher) return tf.scalar(0);
  return kdTerm(step, () => tf.mul(compute(), weight) as tf.Scalar);
}

export function createLwf(overrides: Partial<LwfConfig> = {}): Method<LwfConfig> {
  const name = 'lwf';
  const config = resolveMethodConfig(name, LWF_DEFAULTS, overrides);
  checkWeight(name, 'lamb', config.lamb);
  checkTemperature(name, 'temperature', config.temperature);
  if (!LWF_KD_LOSSES.includes(config.kdLoss)) {
    throw new Error(`${name}: kdLoss must be one of ${LWF_KD_LOSSES.join(', ')}, got ${JSON.stringify(config.kdLoss)}`);
  }
  const layout = headLayout(name, config);
  return {
    name,
    config,
    kdTerms: ['kd'],
    memory: null,
    ...(layout.createHead ? { createHead: layout.createHead } : {}),
    beforeTask: (ctx) => layout.expand(ctx),
    lossTerms: (step) => ({
      ce: newTaskCrossEntropy(step, layout),
      kd: weightedKdTerm(step, config.lamb, () => distillationLoss(config.kdLoss, step, layout, config.temperature)),
    }),
  };
}
