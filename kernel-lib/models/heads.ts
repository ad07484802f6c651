/**
 * Classification heads: features [batch, featureDim] -> logits [batch, outputs], with explicit variables.
 *
 * Weights are stored [featureDim, outputs] (transposed from PyTorch's [out, in]) so the forward pass is a
 * plain matMul without transposes. Expanding a head replaces its weight variable by a larger one holding the
 * old values: re-read `trainableVariables` (and rebuild optimiser state) after expanding.
 */
import { tf } from '../tf.ts';
import type { ForwardOptions, Head } from './types.ts';
import { copyVariable, deriveSeed, fanInUniform, growVariable, makeVariable, type NamedVariables } from './init.ts';

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
    const w = fanInUniform<tf.Rank.R2>([this.inFeatures, n], this.inFeatures, deriveSeed(this.seed, `${tag}/weight`));
    const b = fanInUniform<tf.Rank.R1>([n], this.inFeatures, deriveSeed(this.seed, `${tag}/bias`));
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
    return tf.add(tf.matMul(features, this.weight), this.bias);
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

/** Rebuilds a head's shapes from its description (fresh values from `seed`; load a checkpoint over them). */
export function headFromArchitecture(arch: HeadArchitecture, seed: number): DescribedHead {
  switch (arch.kind) {
    case 'linear':
      return new LinearHead(arch.inFeatures, arch.outputs, seed);
    default:
      throw new Error(`headFromArchitecture: unknown head kind '${(arch as { kind: string }).kind}'`);
  }
}
