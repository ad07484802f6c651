/**
 * The main stage's optimiser across tasks: a fresh one per task (PyCIL and FACIL build a new torch.optim object
 * per task), or, with resetOptimizerEachTask false, one that takes over the previous task's slots (momentum, Adam
 * moments) under the new task's spec. A change of optimiser kind starts fresh.
 */
import { tf } from '../tf';
import { Optimizer, type OptimizerSpec, type OptimizerState } from './optim';

/** Disposes every tensor reachable from a value (objects, arrays, maps), each once. */
export function disposeTensorsIn(value: unknown, seen = new Set<unknown>()): void {
  if (!value || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (value instanceof tf.Tensor) {
    if (!value.isDisposed) value.dispose();
    return;
  }
  if (ArrayBuffer.isView(value)) return;
  const children = value instanceof Map ? [...value.values()] : Array.isArray(value) ? value : Object.values(value);
  for (const child of children) disposeTensorsIn(child, seen);
}

export class MainOptimizerCarry {
  private carried: Optimizer | null = null;

  constructor(readonly resetEachTask: boolean) {}

  /** The optimiser of the next task's main stage; with resetEachTask the caller disposes it after the stage. */
  next(spec: OptimizerSpec): Optimizer {
    const optimizer = new Optimizer(spec);
    if (this.resetEachTask) return optimizer;
    const previous = this.carried;
    if (previous) {
      const state = previous.getState();
      try {
        if (state.kind === spec.kind) optimizer.setState(state);
      } finally {
        disposeTensorsIn(state);
      }
      previous.dispose();
    }
    this.carried = optimizer;
    return optimizer;
  }

  /** The slots to checkpoint (null when every task starts fresh); the caller disposes them. */
  state(optimizer: Optimizer): OptimizerState | null {
    return this.resetEachTask ? null : optimizer.getState();
  }

  /** Takes over checkpointed slots (the spec is replaced by the next task's in next()); disposes `state`. */
  restore(state: OptimizerState | null): void {
    if (!state) return;
    try {
      if (this.resetEachTask) return;
      this.carried?.dispose();
      this.carried = new Optimizer(state.kind === 'adam' ? { kind: 'adam', lr: 1 } : { kind: 'sgd', lr: 1 });
      this.carried.setState(state);
    } finally {
      disposeTensorsIn(state);
    }
  }

  dispose(): void {
    this.carried?.dispose();
    this.carried = null;
  }
}
