/**
 * Feature matrices as plain typed arrays: what herding, prototypes and covariances compute on (in float64
 * accumulators), whether the features arrive as a tensor or as a Float32Array.
 */
import { tf } from '../tf';

/** Row-major [rows, dim] float32 matrix. */
export interface FeatureMatrix {
  data: Float32Array;
  rows: number;
  dim: number;
}

export type FeaturesLike = tf.Tensor2D | FeatureMatrix;

export function fail(fn: string, message: string): never {
  throw new Error(`kernel-lib/memory ${fn}: ${message}`);
}

/** A FeatureMatrix view of `features` (a tensor is read synchronously and left to the caller to dispose). */
export function toMatrix(fn: string, features: FeaturesLike): FeatureMatrix {
  if (features instanceof tf.Tensor) {
    if (features.rank !== 2) fail(fn, `features must be a 2-D tensor [n, dim], got shape [${features.shape.join(', ')}]`);
    const [rows, dim] = features.shape;
    return { data: features.dataSync() as Float32Array, rows, dim };
  }
  if (features.data.length !== features.rows * features.dim) {
    fail(fn, `features.data has ${features.data.length} values, expected rows * dim = ${features.rows} * ${features.dim}`);
  }
  return features;
}

export function matrixToTensor(matrix: FeatureMatrix): tf.Tensor2D {
  return tf.tensor2d(matrix.data, [matrix.rows, matrix.dim]);
}

/**
 * Rows divided by their L2 norm (+ 1e-8, as PyCIL models/base.py `EPSILON`), in float64. iCaRL: "All feature
 * vectors are L2-normalized, and the results of any operation on feature vectors, e.g. averages, are also
 * re-normalized" (Rebuffi et al. 2017, Sec. 2.1).
 */
export function normalizedRows(matrix: FeatureMatrix): Float64Array {
  const { data, rows, dim } = matrix;
  const out = new Float64Array(rows * dim);
  for (let i = 0; i < rows; i++) {
    let sq = 0;
    for (let d = 0; d < dim; d++) sq += data[i * dim + d] * data[i * dim + d];
    const scale = 1 / (Math.sqrt(sq) + 1e-8);
    for (let d = 0; d < dim; d++) out[i * dim + d] = data[i * dim + d] * scale;
  }
  return out;
}

/** Positions of the rows whose label is `cls`. */
export function rowsOfClass(labels: Int32Array, cls: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] === cls) out.push(i);
  return out;
}
