/**
 * Classifier heads as the methods use them: growing the expandable linear head, and the LwF family's two head
 * layouts (one shared head, or LwF's per-task heads) with the logits and kernels their losses read.
 */
import { tf } from '../../tf';
import { LinearHead, TaskHeads } from '../../models/index';
import type { Head } from '../../models/types';
import type { NetworkLike, StepContext, TaskContext } from '../types';

/** Grows an expandable linear head to `classes` outputs (new outputs get nn.Linear's default init). */
export function expandLinearHead(net: NetworkLike, classes: number, method: string): void {
  const head = net.head;
  if (!(head instanceof LinearHead)) {
    throw new Error(`${method}: expects the expandable LinearHead, got head '${head.kind}'`);
  }
  if (head.outputs < classes) head.addClasses(classes - head.outputs);
}

export type HeadLayoutKind = 'shared' | 'per-task';

/** Head options of the LwF-family methods (LwF, LwM). */
export interface LwfHeadConfig {
  heads: HeadLayoutKind;
  /** Old heads never updated (needs heads 'per-task'); null = true for 'per-task', false for 'shared'. */
  freezeOldHeads: boolean | null;
}

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

