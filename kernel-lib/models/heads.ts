/**
 * Classification heads: features [batch, featureDim] -> logits [batch, outputs], with explicit variables.
 *
 * Weights are stored [featureDim, outputs] (transposed from PyTorch's [out, in]) so the forward pass is a
 * plain matMul without transposes. Expanding a head replaces its weight variable by a larger one holding the
 * old values: re-read `trainableVariables` (and rebuild optimiser state) after expanding.
 */
import { tf } from '../tf';
import type { ForwardOptions, Head } from './types';
import { assignCopy, copyVariable, variableSeed, fanInUniform, growVariable, makeVariable, type NamedVariables } from './init';

/** A contiguous range of logits [start, end), e.g. one task's classes. */
export interface LogitRange {
  start: number;
  end: number;
}

/** JSON description of a head's shapes, enough to rebuild it (values come from a checkpoint). */
export type HeadArchitecture =
  | { kind: 'linear'; inFeatures: number; outputs: number }
  | { kind: 'task-heads'; inFeatures: number; taskSizes: number[] }
  | { kind: 'cosine'; inFeatures: number; blockSizes: number[]; learnableSigma: boolean }
  | { kind: 'bias'; range: LogitRange };

/** A head kdcl can describe, name and rebuild. */
export interface DescribedHead extends Head, NamedVariables {
  describe(): HeadArchitecture;
}

function checkFeatures(kind: string, features: tf.Tensor2D, inFeatures: number): void {
  if (features.rank !== 2 || features.shape[1] !== inFeatures) {
    throw new Error(`${kind} head: features must be [batch, ${inFeatures}], got [${features.shape.join(', ')}]`);
  }
}

function checkCount(what: string, n: number): void {
  if (!(Number.isInteger(n) && n >= 0)) throw new Error(`${what} must be an integer >= 0, got ${n}`);
}

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

/** x / max(||x||_2, 1e-12) along `axis`, as torch.nn.functional.normalize writes it (the cosine head keeps PyCIL's arithmetic; losses/util's l2Normalize is the zero-row-safe form). */
function clampedNormalize(x: tf.Tensor2D, axis: number): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.sqrt(tf.sum(tf.square(x), axis, true)), 1e-12)));
}

/**
 * LUCIR's cosine-normalised head (Hou et al. 2019, eq. 4; PyCIL convs/linears.py CosineLinear /
 * SplitCosineLinear): logits = sigma * cos(f, w_c) = sigma * <f/|f|, w_c/|w_c|>, with a learnable scale sigma
 * (initialised to 1, as PyCIL's `sigma.data.fill_(1)`). Invariant to the scale of each class weight.
 *
 * Weights are kept in blocks, one per addClasses() call (one per task), like SplitCosineLinear's fc1 (old) /
 * fc2 (new): an optimiser can leave old blocks out (the original LUCIR trains old class weights with lr 0),
 * and `applySplit` gives the old and new scores separately for the margin ranking loss.
 */
export class CosineHead implements DescribedHead {
  readonly kind = 'cosine';
  readonly trainable: boolean;
  private readonly blocks: tf.Variable<tf.Rank.R2>[] = [];
  /** The scale, [1]; null when built without a learnable scale (then sigma = 1). */
  readonly sigma: tf.Variable<tf.Rank.R1> | null;

  constructor(
    readonly inFeatures: number,
    classes: number,
    private readonly seed: number,
    options: { learnableSigma?: boolean; trainable?: boolean } = {},
  ) {
    if (!(Number.isInteger(inFeatures) && inFeatures >= 1)) throw new Error(`CosineHead: inFeatures must be >= 1, got ${inFeatures}`);
    this.trainable = options.trainable ?? true;
    this.sigma = (options.learnableSigma ?? true) ? makeVariable(tf.ones([1]) as tf.Tensor1D, this.trainable) : null;
    if (classes > 0) this.addClasses(classes);
  }

  get outputs(): number {
    return this.blocks.reduce((sum, block) => sum + block.shape[1], 0);
  }

  /** Weight blocks [inFeatures, n_i], oldest first (one per addClasses call). */
  get weightBlocks(): readonly tf.Variable<tf.Rank.R2>[] {
    return this.blocks;
  }

  /** Logit range of block i. */
  blockRange(i: number): LogitRange {
    if (!this.blocks[i]) throw new Error(`CosineHead: no weight block ${i} (blocks: ${this.blocks.length})`);
    const start = this.blocks.slice(0, i).reduce((sum, block) => sum + block.shape[1], 0);
    return { start, end: start + this.blocks[i].shape[1] };
  }

  /**
   * Appends a block of n classes. Without `imprint`, weights are U(-1/sqrt(in), 1/sqrt(in)) (PyCIL
   * CosineLinear.reset_parameters). With `imprint` [n, inFeatures] (e.g. normalised class-mean embeddings,
   * LUCIR sec. 3.2), those rows become the class weights as given: scale them as you like, logits ignore it.
   */
  addClasses(n: number, imprint?: tf.Tensor2D): void {
    checkCount('CosineHead.addClasses(n)', n);
    if (n === 0) return;
    let block: tf.Tensor2D;
    if (imprint) {
      if (imprint.rank !== 2 || imprint.shape[0] !== n || imprint.shape[1] !== this.inFeatures) {
        throw new Error(`CosineHead.addClasses: imprint must be [${n}, ${this.inFeatures}] (one row per new class), got [${imprint.shape.join(', ')}]`);
      }
      block = tf.transpose(imprint);
    } else {
      const start = this.outputs;
      block = fanInUniform([this.inFeatures, n], this.inFeatures, variableSeed(this.seed, `cosine[${start}:${start + n}]/weight`));
    }
    this.blocks.push(makeVariable(block, this.trainable));
  }

  /** Cosine similarities [batch, outputs], without the scale. */
  cosine(features: tf.Tensor2D): tf.Tensor2D {
    checkFeatures(this.kind, features, this.inFeatures);
    if (this.blocks.length === 0) return tf.zeros([features.shape[0], 0]);
    return tf.tidy(() => {
      const weight = this.blocks.length === 1 ? this.blocks[0] : tf.concat(this.blocks, 1);
      return tf.matMul(clampedNormalize(features, 1), clampedNormalize(weight, 0));
    });
  }

  apply(features: tf.Tensor2D, _options?: ForwardOptions): tf.Tensor2D {
    if (!this.sigma) return this.cosine(features);
    return tf.tidy(() => tf.mul(this.cosine(features), this.sigma!));
  }

  /**
   * As PyCIL's SplitCosineLinear: scaled logits over all classes, plus the unscaled cosine scores of the
   * first `oldClasses` outputs and of the rest.
   */
  applySplit(features: tf.Tensor2D, oldClasses: number): { logits: tf.Tensor2D; oldScores: tf.Tensor2D; newScores: tf.Tensor2D } {
    const total = this.outputs;
    if (!(Number.isInteger(oldClasses) && oldClasses >= 0 && oldClasses <= total)) {
      throw new Error(`CosineHead.applySplit: oldClasses must be in 0..${total}, got ${oldClasses}`);
    }
    return tf.tidy(() => {
      const scores = this.cosine(features);
      const batch = features.shape[0];
      return {
        logits: this.sigma ? tf.mul(scores, this.sigma) : scores.clone(),
        oldScores: tf.slice(scores, [0, 0], [batch, oldClasses]),
        newScores: tf.slice(scores, [0, oldClasses], [batch, total - oldClasses]),
      };
    });
  }

  get trainableVariables(): tf.Variable[] {
    if (!this.trainable) return [];
    return [...this.blocks, ...(this.sigma ? [this.sigma] : [])];
  }

  get stateVariables(): tf.Variable[] {
    return [];
  }

  namedVariables(): Map<string, tf.Variable> {
    const named = new Map<string, tf.Variable>();
    this.blocks.forEach((block, i) => named.set(`weight${i}`, block));
    if (this.sigma) named.set('sigma', this.sigma);
    return named;
  }

  describe(): HeadArchitecture {
    return {
      kind: 'cosine',
      inFeatures: this.inFeatures,
      blockSizes: this.blocks.map((block) => block.shape[1]),
      learnableSigma: this.sigma !== null,
    };
  }

  clone(trainable = false): CosineHead {
    const copy = new CosineHead(this.inFeatures, 0, this.seed, { learnableSigma: this.sigma !== null, trainable });
    if (this.sigma) assignCopy(copy.sigma!, this.sigma);
    copy.blocks.push(...this.blocks.map((block) => copyVariable(block, trainable)));
    return copy;
  }

  dispose(): void {
    for (const block of this.blocks) block.dispose();
    this.blocks.length = 0;
    this.sigma?.dispose();
  }
}

/**
 * BiC's bias-correction layer (Wu et al. 2019, eq. 5): on the logits of one task's classes,
 * q_k = alpha * o_k + beta; other logits pass unchanged. alpha = 1, beta = 0 at start (the identity, as PyCIL
 * utils/inc_net.py BiasLayer). Its only trainable variables are alpha and beta.
 *
 * It acts on logits, not features: `apply(logits, range?)` corrects `range` (default: the range it was built
 * for, the newest task when it was created).
 */
export class BiasLayer implements DescribedHead {
  readonly kind = 'bias';
  readonly alpha: tf.Variable<tf.Rank.R1>;
  readonly beta: tf.Variable<tf.Rank.R1>;

  constructor(readonly range: LogitRange, readonly trainable = true, values?: { alpha: tf.Variable<tf.Rank.R1>; beta: tf.Variable<tf.Rank.R1> }) {
    if (!(Number.isInteger(range.start) && Number.isInteger(range.end) && range.start >= 0 && range.end > range.start)) {
      throw new Error(`BiasLayer: range must be integers with 0 <= start < end, got [${range.start}, ${range.end})`);
    }
    this.alpha = values?.alpha ?? makeVariable(tf.ones([1]) as tf.Tensor1D, trainable);
    this.beta = values?.beta ?? makeVariable(tf.zeros([1]) as tf.Tensor1D, trainable);
  }

  /** Number of logits it expects at least (the end of its range). */
  get outputs(): number {
    return this.range.end;
  }

  apply(logits: tf.Tensor2D, rangeOrOptions?: LogitRange | ForwardOptions): tf.Tensor2D {
    const range = rangeOrOptions && 'start' in rangeOrOptions ? rangeOrOptions : this.range;
    const width = logits.shape[1];
    if (logits.rank !== 2 || range.start < 0 || range.end > width || range.start >= range.end) {
      throw new Error(`BiasLayer.apply: range [${range.start}, ${range.end}) does not fit logits of shape [${logits.shape.join(', ')}]`);
    }
    return tf.tidy(() => {
      const mask = new Float32Array(width);
      mask.fill(1, range.start, range.end);
      const inRange = tf.tensor2d(mask, [1, width]);
      // Outside the range: logits * 1 + 0, exactly the input.
      const scale = tf.add(1, tf.mul(inRange, tf.sub(this.alpha, 1)));
      return tf.add(tf.mul(logits, scale), tf.mul(inRange, this.beta));
    });
  }

  get trainableVariables(): tf.Variable[] {
    return this.trainable ? [this.alpha, this.beta] : [];
  }

  get stateVariables(): tf.Variable[] {
    return [];
  }

  namedVariables(): Map<string, tf.Variable> {
    return new Map<string, tf.Variable>([
      ['alpha', this.alpha],
      ['beta', this.beta],
    ]);
  }

  describe(): HeadArchitecture {
    return { kind: 'bias', range: { ...this.range } };
  }

  clone(trainable = false): BiasLayer {
    return new BiasLayer({ ...this.range }, trainable, { alpha: copyVariable(this.alpha, trainable), beta: copyVariable(this.beta, trainable) });
  }

  dispose(): void {
    this.alpha.dispose();
    this.beta.dispose();
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
