/**
 * One optimisation step: batch tensors, the method's prepareBatch (outside the tape), its loss terms (inside
 * the tape), the NaN guard, and the optimiser update. Everything it allocates is released before it returns.
 */
import { tf } from '../tf';
import type { Batch, LossTerms, NetworkLike, StepContext, TaskContext } from '../methods/types';
import type { NetworkOutput } from '../models/types';
import type { NamedVariable, Optimizer } from './optim';

/** Where a step ran, for error messages. */
export interface StepLocation {
  task: number;
  stage: string;
  epoch: number;
  step: number;
}

/** A loss term became NaN or infinite: the run stops, and the update that would have used it is not applied. */
export class NonFiniteLossError extends Error {
  constructor(
    readonly location: StepLocation,
    readonly terms: Record<string, number>,
  ) {
    const bad = Object.entries(terms)
      .filter(([, v]) => !Number.isFinite(v))
      .map(([name, v]) => `'${name}' = ${v}`);
    const where = `task ${location.task}, stage '${location.stage}', epoch ${location.epoch}, step ${location.step}`;
    super(
      `non-finite loss at ${where}: ${bad.length ? bad.join(', ') : `total = ${sumValues(terms)}`} ` +
        `(all terms: ${JSON.stringify(terms)}). The run stopped before applying this update; ` +
        `the last completed task's checkpoint is kept. Lower the learning rate or check the method's loss.`,
    );
    this.name = 'NonFiniteLossError';
  }
}

/**
 * The network's state went non-finite or exploded (a weight, or a batch-norm running statistic, beyond
 * `limit` in magnitude) at this step. The loss terms can stay finite in training mode while this happens, so the
 * state is checked after every update. The run stops; nothing is written from the bad state.
 */
export class DivergedStateError extends Error {
  constructor(
    readonly location: StepLocation,
    readonly variable: string,
    readonly value: number,
    readonly limit: number,
  ) {
    const where = `task ${location.task}, stage '${location.stage}', epoch ${location.epoch}, step ${location.step}`;
    const what = Number.isFinite(value) ? `max |x| = ${value.toExponential(2)} exceeds ${limit.toExponential(0)}` : `it holds ${value}`;
    super(
      `diverged at ${where}: variable '${variable}' ${what} after this update. The run stopped; ` +
        `the last completed task's checkpoint is kept. Lower the learning rate or check the method's loss.`,
    );
    this.name = 'DivergedStateError';
  }
}

/** Magnitude above which a weight or running statistic counts as exploded (kdcl's nets stay far below it). */
export const DIVERGENCE_LIMIT = 1e8;

type StoredData = { data?: { get?(id: object): { values?: unknown } | undefined } };

/**
 * A variable's values as the CPU-family backends (cpu, kdcl-native) store them, read in place: dataSync() would copy
 * every weight on every step. Null elsewhere (GPU backends), where the caller reads a copy.
 */
function storedValues(backend: StoredData, variable: tf.Variable): Float32Array | null {
  const values = backend.data?.get?.(variable.dataId)?.values;
  return values instanceof Float32Array && values.length === variable.size ? values : null;
}

/** max |x| over the values, or NaN when one is NaN or infinite (branch-free: x * 0 is NaN exactly for those). */
function maxAbs(values: Float32Array): number {
  let max = 0;
  let poison = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    poison += v * 0;
    const a = Math.abs(v);
    max = a > max ? a : max;
  }
  return poison === 0 ? max : NaN;
}

/**
 * The first variable holding a non-finite value or one beyond `limit`, with that value (max |x| for an exploded one,
 * NaN for a non-finite one), or null when all are sane.
 */
export function firstDivergedVariable(variables: Iterable<[string, tf.Variable]>, limit = DIVERGENCE_LIMIT): { name: string; value: number } | null {
  const backend = tf.backend() as unknown as StoredData;
  for (const [name, variable] of variables) {
    if (variable.dtype !== 'float32') continue;
    const max = maxAbs(storedValues(backend, variable) ?? (variable.dataSync() as Float32Array));
    if (!(max <= limit)) return { name, value: max };
  }
  return null;
}

function sumValues(terms: Record<string, number>): number {
  return Object.values(terms).reduce((a, b) => a + b, 0);
}

export interface StepInput {
  ctx: TaskContext;
  net: NetworkLike;
  teacher: NetworkLike | null;
  /** Builds the batch tensors (called inside the step's tidy scope). */
  makeBatch: () => Batch;
  prepareBatch?: (ctx: TaskContext, batch: Batch) => Batch;
  lossTerms: (step: StepContext) => LossTerms;
  variables: NamedVariable[];
  optimizer: Optimizer;
  lr: number;
  location: StepLocation;
  /** Every variable of the network (weights and batch-norm statistics), checked after the update. */
  state?: () => Iterable<[string, tf.Variable]>;
}

/** Runs one step; returns each term's value (and applies the update) or throws NonFiniteLossError. */
export function trainStep(input: StepInput): Record<string, number> {
  const { ctx, net, teacher, location } = input;
  let names: string[] = [];
  const where = `task ${location.task}, stage '${location.stage}', epoch ${location.epoch}, step ${location.step}`;
  // The memoised forward outputs are kept for the whole step: a method may first ask for them inside a tf.tidy
  // of its own, which would otherwise free them under a later term. They are released when the step ends.
  const memoised: tf.Tensor[] = [];
  const keepOutputs = (out: NetworkOutput): NetworkOutput => {
    for (const t of Object.values(out)) if (t instanceof tf.Tensor) memoised.push(tf.keep(t));
    return out;
  };
  const releaseMemoised = () => {
    for (const t of memoised) t.dispose();
  };
  let result: { stacked: tf.Tensor1D; grads: Record<string, tf.Tensor> };
  try {
    result = tf.tidy(() => {
      let batch = input.makeBatch();
      if (input.prepareBatch) batch = input.prepareBatch(ctx, batch);
      let studentOut: NetworkOutput | undefined;
      let teacherOutput: NetworkOutput | undefined;
      const step: StepContext = {
        ...ctx,
        batch,
        epoch: location.epoch,
        step: location.step,
        student: () => (studentOut ??= keepOutputs(net.forward(batch.x, { training: true }))),
        teacherOut: () => {
          if (!teacher) throw new Error(`teacherOut() called on task 0 (${where}): there is no teacher before the second task`);
          return (teacherOutput ??= keepOutputs(teacher.forward(batch.x, { training: false })));
        },
      };
      let stacked: tf.Tensor1D | undefined;
      const { value, grads } = tf.engine().gradients(
        () => {
          const terms = input.lossTerms(step);
          names = Object.keys(terms);
          if (names.length === 0) throw new Error(`lossTerms returned no terms (${where})`);
          for (const name of names) {
            const t = terms[name];
            if (!(t instanceof tf.Tensor) || t.rank !== 0) {
              throw new Error(`loss term '${name}' must be a scalar tensor, got ${t instanceof tf.Tensor ? `shape [${t.shape}]` : typeof t} (${where})`);
            }
          }
          const list = names.map((n) => terms[n]);
          stacked = tf.keep(tf.stack(list) as tf.Tensor1D);
          return (list.length === 1 ? tf.add(list[0], 0) : tf.addN(list)) as tf.Scalar;
        },
        input.variables.map((v) => v.variable),
        undefined,
        true,
      );
      value.dispose();
      const named: Record<string, tf.Tensor> = {};
      grads.forEach((g, i) => {
        if (g) named[input.variables[i].name] = g;
      });
      return { stacked: stacked!, grads: named };
    });
  } catch (err) {
    releaseMemoised();
    throw err;
  }
  try {
    const values = result.stacked.dataSync();
    const terms: Record<string, number> = {};
    names.forEach((n, i) => (terms[n] = values[i]));
    if (names.some((n) => !Number.isFinite(terms[n])) || !Number.isFinite(sumValues(terms))) {
      throw new NonFiniteLossError(location, terms);
    }
    const gradMap = new Map(Object.entries(result.grads));
    if (gradMap.size === 0) {
      throw new Error(`the loss does not depend on any of the ${input.variables.length} trained variables (${where}): check the method's lossTerms`);
    }
    input.optimizer.apply(input.variables, gradMap, input.lr);
    const diverged = input.state ? firstDivergedVariable(input.state()) : null;
    if (diverged) throw new DivergedStateError(location, diverged.name, diverged.value, DIVERGENCE_LIMIT);
    return terms;
  } finally {
    result.stacked.dispose();
    for (const g of Object.values(result.grads)) g.dispose();
    releaseMemoised();
  }
}
