/**
 * Class statistics of features: prototypes (class means) for NME and for the prototype methods, per-class
 * covariances (IL2A) and PASS's prototype radius. Plain float64 loops over FeatureMatrix rows; results float32.
 *
 * The reference repos compute these with the feature extractor in eval mode; PASS/IL2A/PRAKA's `protoSave` feed it
 * their *training* loader (augmented images, last incomplete batch dropped). Which features to pass is the
 * caller's choice; kdcl's methods pass eval-mode features of un-augmented training images.
 */
import { tf } from '../tf';
import { type FeatureMatrix, type FeaturesLike, fail, normalizedRows, rowsOfClass, toMatrix } from './features';

/** Row positions per requested class; every class must have at least `minimum` rows. */
function groupRows(fn: string, labels: Int32Array, rows: number, classes: readonly number[], minimum: number): number[][] {
  if (labels.length !== rows) fail(fn, `labels has ${labels.length} entries but features has ${rows} rows`);
  return classes.map((cls) => {
    const members = rowsOfClass(labels, cls);
    if (members.length < minimum) fail(fn, `class ${cls} has ${members.length} feature rows, needs at least ${minimum}`);
    return members;
  });
}

function meanOf(values: ArrayLike<number>, dim: number, members: number[]): Float64Array {
  const mean = new Float64Array(dim);
  for (const i of members) for (let d = 0; d < dim; d++) mean[d] += values[i * dim + d];
  for (let d = 0; d < dim; d++) mean[d] /= members.length;
  return mean;
}

/**
 * Class means, one row per entry of `classes` (in that order):
 *   normalize false (default): mu_c = mean_i f_i    (PASS/IL2A/PRAKA prototypes: `np.mean(feature_classwise, 0)`)
 *   normalize true:            mu_c = m / ||m||, m = mean_i f_i / ||f_i||   (iCaRL's NME means: PyCIL
 *                              models/base.py `_construct_exemplar`, FACIL icarl.py `compute_mean_of_exemplars`)
 * Older PyCIL versions (and the iCaRL code) also averaged the features of horizontally flipped images; to do that,
 * pass the flipped images' features as extra rows with the same labels (with equal counts, the mean of both
 * sets is exactly that average).
 */
export function classMeans(features: FeaturesLike, labels: Int32Array, classes: readonly number[], options: { normalize?: boolean } = {}): FeatureMatrix {
  const fn = 'classMeans';
  const matrix = toMatrix(fn, features);
  const { dim } = matrix;
  const groups = groupRows(fn, labels, matrix.rows, classes, 1);
  const values = options.normalize ? normalizedRows(matrix) : matrix.data;
  const data = new Float32Array(classes.length * dim);
  groups.forEach((members, c) => {
    const mean = meanOf(values, dim, members);
    let scale = 1;
    if (options.normalize) {
      let sq = 0;
      for (let d = 0; d < dim; d++) sq += mean[d] * mean[d];
      scale = 1 / Math.max(Math.sqrt(sq), 1e-12);
    }
    for (let d = 0; d < dim; d++) data[c * dim + d] = mean[d] * scale;
  });
  return { data, rows: classes.length, dim };
}

/** classMeans with normalize: true, the NME classifier's means. */
export function nmeClassMeans(features: FeaturesLike, labels: Int32Array, classes: readonly number[]): FeatureMatrix {
  return classMeans(features, labels, classes, { normalize: true });
}

/** Per-class covariance matrices, row-major [classes, dim, dim]. */
export interface CovarianceStack {
  data: Float32Array;
  classes: number;
  dim: number;
}

/**
 * Unbiased per-class covariance (divides by n - 1, as np.cov, which IL2A cifar/IL2A.py `protoSave` and PyCIL
 * models/il2a.py `_build_protos` use): Sigma_c = 1/(n_c - 1) sum_i (f_i - mu_c)(f_i - mu_c)^T. Needs >= 2 rows per
 * class. Memory is classes * dim^2 floats (100 classes of 512-d: 105 MB), as in IL2A.
 */
export function classCovariances(features: FeaturesLike, labels: Int32Array, classes: readonly number[]): CovarianceStack {
  const fn = 'classCovariances';
  const matrix = toMatrix(fn, features);
  const { data: x, dim } = matrix;
  const groups = groupRows(fn, labels, matrix.rows, classes, 2);
  const out = new Float32Array(classes.length * dim * dim);
  const centred = new Float64Array(dim);
  const acc = new Float64Array(dim * dim);
  groups.forEach((members, c) => {
    const mean = meanOf(x, dim, members);
    acc.fill(0);
    for (const i of members) {
      for (let d = 0; d < dim; d++) centred[d] = x[i * dim + d] - mean[d];
      for (let a = 0; a < dim; a++) {
        const ca = centred[a];
        for (let b = a; b < dim; b++) acc[a * dim + b] += ca * centred[b];
      }
    }
    const base = c * dim * dim;
    for (let a = 0; a < dim; a++) {
      for (let b = a; b < dim; b++) {
        const v = acc[a * dim + b] / (members.length - 1);
        out[base + a * dim + b] = v;
        out[base + b * dim + a] = v;
      }
    }
  });
  return { data: out, classes: classes.length, dim };
}

/**
 * PASS's prototype radius (Zhu et al. CVPR 2021, Sec. 3.2; CVPR21_PASS PASS.py `protoSave`), from the first task's
 * classes: r = sqrt( mean_c trace(Sigma_c) / D ), Sigma_c the unbiased covariance (np.cov) of class c's features.
 * Prototype augmentation then draws mu_c + r * N(0, I).
 */
export function prototypeRadius(features: FeaturesLike, labels: Int32Array, classes: readonly number[]): number {
  const fn = 'prototypeRadius';
  const matrix = toMatrix(fn, features);
  const { data: x, dim } = matrix;
  if (classes.length === 0) fail(fn, 'classes is empty');
  const groups = groupRows(fn, labels, matrix.rows, classes, 2);
  let sumOfTraces = 0;
  for (const members of groups) {
    const mean = meanOf(x, dim, members);
    let trace = 0;
    for (const i of members) for (let d = 0; d < dim; d++) trace += (x[i * dim + d] - mean[d]) ** 2;
    sumOfTraces += trace / (members.length - 1) / dim;
  }
  return Math.sqrt(sumOfTraces / groups.length);
}

/** A CovarianceStack as a [classes, dim, dim] tensor (e.g. for losses' isdaLogits). */
export function covarianceTensor(stack: CovarianceStack): tf.Tensor3D {
  return tf.tensor3d(stack.data, [stack.classes, stack.dim, stack.dim]);
}
