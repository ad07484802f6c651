/** LUCIR's cosine-normalised classification head. */
import { tf } from '../tf';
import type { ForwardOptions } from './types';
import { assignCopy, copyVariable, variableSeed, fanInUniform, makeVariable } from './init';
import { checkFeatures, checkCount, type DescribedHead, type HeadArchitecture, type LogitRange } from './head-base';

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
