/**
 * Optimisers and per-epoch learning-rate schedules, written to match PyTorch's `torch.optim.SGD`, `torch.optim.Adam`
 * and `torch.optim.lr_scheduler.{StepLR, MultiStepLR, CosineAnnealingLR}` update rules, since every reference
 * implementation (PyCIL, FACIL, the PASS/IL2A/PRAKA/SS-IL repos) uses those.
 *
 * Own implementation rather than tf.train.*: weight decay, named slot state for checkpoints, and slots that follow
 * a head whose variables change shape when it expands.
 */
import { tf } from '../tf';
import { nonNegativeInt, nonNegativeNumber, parseConfig, positiveInt, positiveNumber, unitInterval, z } from '../schema';

export const sgdSpecSchema = z.strictObject({
  kind: z.literal('sgd'),
  lr: positiveNumber(),
  /** Default 0.9 (PyCIL models/*.py: `optim.SGD(..., momentum=0.9)`). */
  momentum: unitInterval().optional(),
  /** Coupled L2 decay, PyTorch-style: g += weightDecay * w. Default 0. */
  weightDecay: nonNegativeNumber().optional(),
  /** Nesterov momentum: update = g + momentum * buf. Default false. */
  nesterov: z.boolean().optional(),
  /** Clip the global gradient norm to this value (FACIL's --clipping, default 10000 there). Default: no clipping. */
  clipGradNorm: positiveNumber().optional(),
}).refine((spec) => !spec.nesterov || (spec.momentum ?? 0.9) > 0, { message: 'nesterov needs momentum > 0 (as in torch.optim.SGD)', path: ['nesterov'] });

export const adamSpecSchema = z.strictObject({
  kind: z.literal('adam'),
  lr: positiveNumber(),
  /** Defaults 0.9, 0.999, 1e-8 (torch.optim.Adam). */
  beta1: unitInterval().optional(),
  beta2: unitInterval().optional(),
  epsilon: positiveNumber().optional(),
  /** Coupled L2 decay (torch.optim.Adam's weight_decay, not AdamW). Default 0. */
  weightDecay: nonNegativeNumber().optional(),
  clipGradNorm: positiveNumber().optional(),
});

export const optimizerSpecSchema = z.discriminatedUnion('kind', [sgdSpecSchema, adamSpecSchema]);
export type SgdSpec = z.infer<typeof sgdSpecSchema>;
export type AdamSpec = z.infer<typeof adamSpecSchema>;
export type OptimizerSpec = z.infer<typeof optimizerSpecSchema>;

/** Learning-rate schedules, stepped once per epoch (PyTorch: `scheduler.step()` after each epoch). */
export const scheduleSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('constant') }),
  /** lr * gamma^floor(epoch / stepSize) (StepLR). */
  z.strictObject({ kind: z.literal('step'), stepSize: positiveInt(), gamma: positiveNumber().optional() }),
  /** lr * gamma^(number of milestones <= epoch) (MultiStepLR; PyCIL's default schedule). */
  z.strictObject({ kind: z.literal('multistep'), milestones: z.array(nonNegativeInt()), gamma: positiveNumber().optional() }),
  /**
   * minLr + (lr - minLr) * (1 + cos(pi * epoch / tMax)) / 2 (CosineAnnealingLR, closed form). tMax defaults to
   * the stage's epochs; a smaller one makes the rate rise again after tMax epochs, as torch's does (PRAKA).
   * `offset` shifts the phase: code that calls scheduler.step() at the start of each epoch trains epoch e at
   * step e + 1 (offset 1).
   */
  z.strictObject({ kind: z.literal('cosine'), minLr: nonNegativeNumber().optional(), tMax: positiveInt().optional(), offset: nonNegativeInt().optional() }),
]);
export type ScheduleSpec = z.infer<typeof scheduleSpecSchema>;

/** Learning rate for a 0-based epoch of a stage that lasts `epochs` epochs. */
export function learningRateAt(schedule: ScheduleSpec, baseLr: number, epoch: number, epochs: number): number {
  switch (schedule.kind) {
    case 'constant':
      return baseLr;
    case 'step':
      return baseLr * Math.pow(schedule.gamma ?? 0.1, Math.floor(epoch / schedule.stepSize));
    case 'multistep':
      return baseLr * Math.pow(schedule.gamma ?? 0.1, schedule.milestones.filter((m) => m <= epoch).length);
    case 'cosine': {
      const minLr = schedule.minLr ?? 0;
      const tMax = schedule.tMax ?? Math.max(1, epochs);
      return minLr + ((baseLr - minLr) * (1 + Math.cos((Math.PI * (epoch + (schedule.offset ?? 0))) / tMax))) / 2;
    }
  }
}

export function validateOptimizerSpec(spec: OptimizerSpec, field: string): void {
  parseConfig(optimizerSpecSchema, spec, `createRun: ${field}`);
}

export function validateScheduleSpec(spec: ScheduleSpec, field: string): void {
  parseConfig(scheduleSpecSchema, spec, `createRun: ${field}`);
}

/** Plain-data snapshot of an optimiser (tensors are copies the caller owns). */
export interface OptimizerState {
  kind: OptimizerSpec['kind'];
  /** Per-variable update count (Adam's bias correction uses it). */
  steps: Record<string, number>;
  /** Per-variable slot tensors: SGD 'momentum'; Adam 'm' and 'v'. */
  slots: Record<string, Record<string, tf.Tensor>>;
}

/** A named variable the optimiser updates; the name keys its slots in checkpoints. */
export interface NamedVariable {
  name: string;
  variable: tf.Variable;
}

export class Optimizer {
  private readonly slots = new Map<string, Map<string, tf.Variable>>();
  private readonly steps = new Map<string, number>();

  constructor(readonly spec: OptimizerSpec) {}

  /**
   * One update of every variable that has a gradient (variables without one are left alone, weight decay
   * included, like PyTorch's `p.grad is None`). Grads are not disposed here.
   */
  apply(variables: NamedVariable[], grads: Map<string, tf.Tensor>, lr: number): void {
    const spec = this.spec;
    tf.tidy(() => {
      let clipScale: tf.Scalar | null = null;
      if (spec.clipGradNorm !== undefined) {
        const squares = variables.filter((v) => grads.has(v.name)).map((v) => tf.sum(tf.square(grads.get(v.name)!)));
        if (squares.length > 0) {
          const norm = tf.sqrt(tf.addN(squares));
          // torch.nn.utils.clip_grad_norm_: scale = max_norm / (norm + 1e-6), applied only when < 1.
          clipScale = tf.minimum(tf.scalar(1), tf.div(spec.clipGradNorm, tf.add(norm, 1e-6))) as tf.Scalar;
        }
      }
      for (const { name, variable } of variables) {
        let g = grads.get(name);
        if (!g) continue;
        if (clipScale) g = tf.mul(g, clipScale);
        const wd = spec.weightDecay ?? 0;
        if (wd !== 0) g = tf.add(g, tf.mul(variable, wd));
        const step = (this.steps.get(name) ?? 0) + 1;
        this.steps.set(name, step);
        if (spec.kind === 'sgd') {
          const momentum = spec.momentum ?? 0.9;
          let update = g;
          if (momentum !== 0) {
            const buf = this.slot(name, 'momentum', variable);
            const next = tf.add(tf.mul(buf, momentum), g);
            buf.assign(next);
            update = spec.nesterov ? tf.add(g, tf.mul(next, momentum)) : next;
          }
          variable.assign(tf.sub(variable, tf.mul(update, lr)));
        } else {
          const b1 = spec.beta1 ?? 0.9;
          const b2 = spec.beta2 ?? 0.999;
          const eps = spec.epsilon ?? 1e-8;
          const m = this.slot(name, 'm', variable);
          const v = this.slot(name, 'v', variable);
          const mNext = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
          const vNext = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
          m.assign(mNext);
          v.assign(vNext);
          // torch: p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
          const denom = tf.add(tf.div(tf.sqrt(vNext), Math.sqrt(1 - Math.pow(b2, step))), eps);
          variable.assign(tf.sub(variable, tf.mul(tf.div(mNext, denom), lr / (1 - Math.pow(b1, step)))));
        }
      }
    });
  }

  /** A slot variable for `name`; a slot whose variable changed shape (an expanded head) starts again from zero. */
  private slot(name: string, slotName: string, like: tf.Variable): tf.Variable {
    let forVar = this.slots.get(name);
    if (!forVar) this.slots.set(name, (forVar = new Map()));
    let slot = forVar.get(slotName);
    if (slot && !sameShape(slot.shape, like.shape)) {
      slot.dispose();
      slot = undefined;
      this.steps.set(name, 1);
    }
    if (!slot) {
      slot = tf.variable(tf.zerosLike(like), false);
      forVar.set(slotName, slot);
    }
    return slot;
  }

  getState(): OptimizerState {
    const slots: OptimizerState['slots'] = {};
    for (const [name, forVar] of this.slots) {
      slots[name] = {};
      for (const [slotName, v] of forVar) slots[name][slotName] = tf.clone(v);
    }
    return { kind: this.spec.kind, steps: Object.fromEntries(this.steps), slots };
  }

  /** Restores a snapshot (copies its tensors; the caller keeps ownership of `state`). */
  setState(state: OptimizerState): void {
    if (state.kind !== this.spec.kind) {
      throw new Error(`optimizer state is for '${state.kind}' but this optimizer is '${this.spec.kind}'`);
    }
    this.disposeSlots();
    for (const [name, count] of Object.entries(state.steps)) this.steps.set(name, count);
    for (const [name, forVar] of Object.entries(state.slots)) {
      const map = new Map<string, tf.Variable>();
      for (const [slotName, t] of Object.entries(forVar)) map.set(slotName, tf.variable(t, false));
      this.slots.set(name, map);
    }
  }

  private disposeSlots(): void {
    for (const forVar of this.slots.values()) for (const v of forVar.values()) v.dispose();
    this.slots.clear();
    this.steps.clear();
  }

  dispose(): void {
    this.disposeSlots();
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
