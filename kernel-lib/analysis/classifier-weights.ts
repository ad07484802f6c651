/**
 * The per-class weights and biases of kdcl's classification heads, as plain arrays: what the bias views' weight
 * norms (LUCIR Fig. 2) are computed from, and the classifier BiC's bias correction amounts to.
 */
import type { BiasCorrection } from '../methods/bic';
import type { CosineHead, LinearHead, TaskHeads } from '../models/heads';
import type { Head } from '../models/types';

/** A classifier's per-class weights, [featureDim, classes] row-major (kdcl's LinearHead layout), and biases. */
export interface ClassifierWeights {
  /** The head's kind ('linear', 'task-heads', 'cosine'). */
  head: string;
  weights: Float32Array;
  shape: [number, number];
  /** null for a head without biases (LUCIR's cosine head). */
  biases: Float32Array | null;
}

/** Weights [featureDim, classes] of the column blocks side by side (each block [featureDim, n_b], row-major). */
function concatColumns(blocks: { values: Float32Array; columns: number }[], dim: number): Float32Array {
  const total = blocks.reduce((s, b) => s + b.columns, 0);
  const out = new Float32Array(dim * total);
  let offset = 0;
  for (const block of blocks) {
    for (let d = 0; d < dim; d++) out.set(block.values.subarray(d * block.columns, (d + 1) * block.columns), d * total + offset);
    offset += block.columns;
  }
  return out;
}

function linearParts(head: LinearHead): { w: Float32Array; b: Float32Array; columns: number } | null {
  if (!head.weights || !head.biases) return null;
  return { w: head.weights.dataSync() as Float32Array, b: head.biases.dataSync() as Float32Array, columns: head.outputs };
}

/**
 * The per-class weights of a classification head: LinearHead (weights and biases), TaskHeads (every task's head
 * side by side, in task order) or CosineHead (the class weight vectors, no biases; its logits are sigma * cosine,
 * so they do not grow with the weight norm). Other heads give null. Copies the values (no tensors kept).
 */
export function classifierWeights(head: Head): ClassifierWeights | null {
  const dimOf = (h: { inFeatures: number }) => h.inFeatures;
  switch (head.kind) {
    case 'linear': {
      const linear = head as LinearHead;
      const parts = linearParts(linear);
      if (!parts) return null;
      return { head: 'linear', weights: Float32Array.from(parts.w), shape: [dimOf(linear), parts.columns], biases: Float32Array.from(parts.b) };
    }
    case 'task-heads': {
      const heads = head as TaskHeads;
      const parts = Array.from({ length: heads.tasks }, (_, t) => linearParts(heads.taskHead(t))).filter((p): p is NonNullable<typeof p> => p !== null);
      if (parts.length === 0) return null;
      const dim = dimOf(heads);
      const classes = parts.reduce((s, p) => s + p.columns, 0);
      const biases = new Float32Array(classes);
      let offset = 0;
      for (const p of parts) {
        biases.set(p.b, offset);
        offset += p.columns;
      }
      return { head: 'task-heads', weights: concatColumns(parts.map((p) => ({ values: p.w, columns: p.columns })), dim), shape: [dim, classes], biases };
    }
    case 'cosine': {
      const cosine = head as CosineHead;
      const blocks = cosine.weightBlocks.map((b) => ({ values: b.dataSync() as Float32Array, columns: b.shape[1] }));
      if (blocks.length === 0) return null;
      const dim = dimOf(cosine);
      return { head: 'cosine', weights: concatColumns(blocks, dim), shape: [dim, blocks.reduce((s, b) => s + b.columns, 0)], biases: null };
    }
    default:
      return null;
  }
}

/**
 * The classifier BiC's corrected logits come from: each correction's classes get weights alpha * w and biases
 * alpha * b + beta (q = alpha * (w.f + b) + beta, BiC Eq. 5). Returns a copy.
 */
export function correctedClassifier(classifier: ClassifierWeights, corrections: readonly BiasCorrection[]): ClassifierWeights {
  const [dim, classes] = classifier.shape;
  const weights = Float32Array.from(classifier.weights);
  const biases = classifier.biases ? Float32Array.from(classifier.biases) : null;
  for (const c of corrections) {
    if (c.start < 0 || c.end > classes || c.end <= c.start) throw new Error(`kernel-lib/analysis correctedClassifier: correction range [${c.start}, ${c.end}) is outside the ${classes} classes`);
    for (let k = c.start; k < c.end; k++) {
      for (let d = 0; d < dim; d++) weights[d * classes + k] *= c.alpha;
      if (biases) biases[k] = c.alpha * biases[k] + c.beta;
    }
  }
  return { ...classifier, head: `${classifier.head}+bias-correction`, weights, biases };
}
