/**
 * Classification heads: features [batch, featureDim] -> logits [batch, outputs], with explicit variables.
 *
 * Weights are stored [featureDim, outputs] (transposed from PyTorch's [out, in]) so the forward pass is a
 * plain matMul without transposes. Expanding a head replaces its weight variable by a larger one holding the
 * old values: re-read `trainableVariables` (and rebuild optimiser state) after expanding.
 */
import { tf } from '../tf';
import type { ForwardOptions } from './types';
import { copyVariable, variableSeed, fanInUniform, growVariable, makeVariable } from './init';
import { checkFeatures, checkCount, type DescribedHead, type HeadArchitecture, type LogitRange } from './head-base';
import { CosineHead } from './cosine-head';
import { BiasLayer } from './bias-layer';

export type { DescribedHead, HeadArchitecture, LogitRange } from './head-base';
export { CosineHead } from './cosine-head';
export { BiasLayer } from './bias-layer';

/**
 * Expandable fully connected head: logits = features W + b over every class seen so far (one global softmax).
 * New outputs get PyTorch's nn.Linear default init, U(-1/sqrt(in), 1/sqrt(in)) for W and b (as PASS/IL2A's
 * `nn.Linear` heads and FACIL's); existing outputs keep their values.
 */
export class LinearHead implements DescribedHead {
  readonly kind = 'linear';
  private weight: tf.Variable<tf.Rank.R2> | null = null;
  private bias: tf.Variable<tf.Rank.R1> | null = null;

  constructor(
    readonly inFeatures: number,
    classes: number,
    private readonly seed: number,
    readonly trainable = true,
  ) {
    if (!(Number.isInteger(inFeatures) && inFeatures >= 1)) throw new Error(`LinearHead: inFeatures must be >= 1, got ${inFeatures}`);
    this.addClasses(classes);
  }

  get outputs(): number {
    return this.weight?.shape[1] ?? 0;
  }

  /** Weight [inFeatures, outputs] (null while the head has no outputs). */
  get weights(): tf.Variable<tf.Rank.R2> | null {
    return this.weight;
  }

  get biases(): tf.Variable<tf.Rank.R1> | null {
    return this.bias;
  }

  /** Appends n outputs (new classes); old outputs keep their weights. */
  addClasses(n: number): void {
    checkCount('LinearHead.addClasses(n)', n);
    if (n === 0) return;
    const start = this.outputs;
    const tag = `linear[${start}:${start + n}]`;
    const w = fanInUniform<tf.Rank.R2>([this.inFeatures, n], this.inFeatures, variableSeed(this.seed, `${tag}/weight`));
    const b = fanInUniform<tf.Rank.R1>([n], this.inFeatures, variableSeed(this.seed, `${tag}/bias`));
    if (this.weight && this.bias) {
      this.weight = growVariable(this.weight, w, 1);
      this.bias = growVariable(this.bias, b, 0);
    } else {
      this.weight = makeVariable(w, this.trainable);
      this.bias = makeVariable(b, this.trainable);
    }
  }

  apply(features: tf.Tensor2D, _options?: ForwardOptions): tf.Tensor2D {
    checkFeatures(this.kind, features, this.inFeatures);
    if (!this.weight || !this.bias) return tf.zeros([features.shape[0], 0]);
    const [weight, bias] = [this.weight, this.bias];
    return tf.tidy(() => tf.add(tf.matMul(features, weight), bias));
  }

  get trainableVariables(): tf.Variable[] {
    return this.trainable && this.weight && this.bias ? [this.weight, this.bias] : [];
  }

  get stateVariables(): tf.Variable[] {
    return [];
  }

  namedVariables(): Map<string, tf.Variable> {
    const named = new Map<string, tf.Variable>();
    if (this.weight && this.bias) {
      named.set('weight', this.weight);
      named.set('bias', this.bias);
    }
    return named;
  }

  describe(): HeadArchitecture {
    return { kind: 'linear', inFeatures: this.inFeatures, outputs: this.outputs };
  }

  clone(trainable = false): LinearHead {
    const copy = new LinearHead(this.inFeatures, 0, this.seed, trainable);
    if (this.weight && this.bias) {
      copy.weight = copyVariable(this.weight, trainable);
      copy.bias = copyVariable(this.bias, trainable);
    }
    return copy;
  }

  dispose(): void {
    this.weight?.dispose();
    this.bias?.dispose();
    this.weight = null;
    this.bias = null;
  }
}

/**
 * Per-task linear heads (LwF's multi-head layout): one LinearHead per task, logits = the heads' outputs
 * concatenated in task order, so task-agnostic evaluation takes the argmax over all of them. Each task's head
 * has its own variables, so the current one can be trained while old ones are only distilled.
 */
export class TaskHeads implements DescribedHead {
  readonly kind = 'task-heads';
  private readonly heads: LinearHead[] = [];

  constructor(
    readonly inFeatures: number,
    taskSizes: number[],
    private readonly seed: number,
    readonly trainable = true,
  ) {
    for (const n of taskSizes) this.addTask(n);
  }

  get tasks(): number {
    return this.heads.length;
  }

  get outputs(): number {
    return this.heads.reduce((sum, head) => sum + head.outputs, 0);
  }

  /** Appends the head of a new task with n classes and returns it. */
  addTask(n: number): LinearHead {
    checkCount('TaskHeads.addTask(n)', n);
    if (n === 0) throw new Error('TaskHeads.addTask(n): a task needs at least one class');
    const head = new LinearHead(this.inFeatures, n, variableSeed(this.seed, `task${this.heads.length}`), this.trainable);
    this.heads.push(head);
    return head;
  }

  /** The head of task t. */
  taskHead(t: number): LinearHead {
    const head = this.heads[t];
    if (!head) throw new Error(`TaskHeads: no task ${t} (tasks: 0..${this.heads.length - 1})`);
    return head;
  }

  /** Task t's logits within the concatenated output. */
  taskRange(t: number): LogitRange {
    this.taskHead(t);
    const start = this.heads.slice(0, t).reduce((sum, head) => sum + head.outputs, 0);
    return { start, end: start + this.heads[t].outputs };
  }

  /** Logits of task t's head only. */
  taskLogits(features: tf.Tensor2D, t: number): tf.Tensor2D {
    return this.taskHead(t).apply(features);
  }

  apply(features: tf.Tensor2D, _options?: ForwardOptions): tf.Tensor2D {
    checkFeatures(this.kind, features, this.inFeatures);
    if (this.heads.length === 0) return tf.zeros([features.shape[0], 0]);
    if (this.heads.length === 1) return this.heads[0].apply(features);
    return tf.tidy(() => tf.concat(this.heads.map((head) => head.apply(features)), 1));
  }

  get trainableVariables(): tf.Variable[] {
    return this.heads.flatMap((head) => head.trainableVariables);
  }

  get stateVariables(): tf.Variable[] {
    return [];
  }

  namedVariables(): Map<string, tf.Variable> {
    const named = new Map<string, tf.Variable>();
    this.heads.forEach((head, t) => {
      for (const [name, variable] of head.namedVariables()) named.set(`task${t}/${name}`, variable);
    });
    return named;
  }

  describe(): HeadArchitecture {
    return { kind: 'task-heads', inFeatures: this.inFeatures, taskSizes: this.heads.map((head) => head.outputs) };
  }

  clone(trainable = false): TaskHeads {
    const copy = new TaskHeads(this.inFeatures, [], this.seed, trainable);
    copy.heads.push(...this.heads.map((head) => head.clone(trainable)));
    return copy;
  }

  dispose(): void {
    for (const head of this.heads) head.dispose();
    this.heads.length = 0;
  }
}

/**
 * Auxiliary heads:
 * - 'rotation' (PASS, PRAKA): a linear head over 4 x classes joint (class, rotation) labels, laid out as
 *   `4 * y + r` for rotation r in 0..3 (CVPR21_PASS PASS.py: `target * 4 + k`, predictions on `[:, ::4]`).
 *   Grow it with `addClasses(4 * n)`; `rotationLabel(y, r)` gives the index.
 * - 'class-mixup' (IL2A's class augmentation): one output per unordered pair of the current task's `classes`
 *   classes, n(n-1)/2 virtual classes (IL2A cifar/IL2A.py: `numclass + numclass*(numclass-1)/2` outputs, the
 *   pair part rebuilt each task for `task_size` classes). `mixedClassIndex(a, b, n)` gives a pair's index.
 *   IL2A keeps these rows in the same nn.Linear as the real classes; a separate head with its own bias is the
 *   same function of the features.
 */
export type AuxHeadKind = 'rotation' | 'class-mixup';

export function createAuxHead(kind: AuxHeadKind, options: { featureDim: number; classes: number; seed: number }): LinearHead {
  const { featureDim, classes, seed } = options;
  checkCount(`createAuxHead('${kind}').classes`, classes);
  switch (kind) {
    case 'rotation':
      return new LinearHead(featureDim, 4 * classes, variableSeed(seed, 'aux/rotation'));
    case 'class-mixup':
      return new LinearHead(featureDim, (classes * (classes - 1)) / 2, variableSeed(seed, 'aux/class-mixup'));
    default:
      throw new Error(`createAuxHead: unknown kind '${kind as string}'; valid: rotation, class-mixup`);
  }
}

/** Joint label of class y under rotation r (r * 90 degrees) in a 'rotation' aux head. */
export function rotationLabel(y: number, r: number): number {
  return 4 * y + r;
}

/**
 * Index of the virtual class mixing local classes a != b (0 <= a, b < n) in a 'class-mixup' head: pairs
 * (i < j) in lexicographic order, i.e. i * (2n - i - 1) / 2 + (j - i - 1) (IL2A's generate_label).
 */
export function mixedClassIndex(a: number, b: number, n: number): number {
  if (a === b || a < 0 || b < 0 || a >= n || b >= n) throw new Error(`mixedClassIndex: need two different classes in 0..${n - 1}, got ${a}, ${b}`);
  const [i, j] = a < b ? [a, b] : [b, a];
  return (i * (2 * n - i - 1)) / 2 + (j - i - 1);
}

/** Rebuilds a head's shapes from its description (fresh values from `seed`; load a checkpoint over them). */
export function headFromArchitecture(arch: HeadArchitecture, seed: number): DescribedHead {
  switch (arch.kind) {
    case 'linear':
      return new LinearHead(arch.inFeatures, arch.outputs, seed);
    case 'task-heads':
      return new TaskHeads(arch.inFeatures, arch.taskSizes, seed);
    case 'cosine': {
      const head = new CosineHead(arch.inFeatures, 0, seed, { learnableSigma: arch.learnableSigma });
      for (const n of arch.blockSizes) head.addClasses(n);
      return head;
    }
    case 'bias':
      return new BiasLayer(arch.range);
    default:
      throw new Error(`headFromArchitecture: unknown head kind '${(arch as { kind: string }).kind}'`);
  }
}
