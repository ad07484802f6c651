/**
 * Exemplar selection within one class: herding (iCaRL) and seeded random. Both return positions into the
 * candidate list in selection order, so that keeping the first m of a class is a valid smaller memory.
 */
import { type FeaturesLike, fail, normalizedRows, toMatrix } from './features';

function checkCount(fn: string, m: number, n: number): void {
  if (!Number.isInteger(m) || m < 0) fail(fn, `m must be an integer >= 0, got ${m}`);
  if (m > n) fail(fn, `cannot select ${m} exemplars from ${n} candidates`);
}

/**
 * iCaRL herding (Rebuffi et al. CVPR 2017, Alg. 4): with phi the L2-normalised features of the class and
 * mu = mean(phi), pick for k = 1..m
 *   p_k = argmin_{x not yet chosen} || mu - (phi(x) + sum_{j<k} phi(p_j)) / k ||
 * Features are L2-normalised first and mu is their plain mean, as PyCIL models/base.py `_construct_exemplar` and
 * FACIL datasets/exemplars_selection.py `HerdingExemplarsSelector`; each sample is chosen at most once; ties go to
 * the lower position. (The original Theano/TF code runs a related herding on w_t = w_t + mu - phi that can revisit
 * samples; the PyCIL/FACIL rule is the one the paper writes.)
 * @returns m positions into `features`' rows, in selection order
 */
export function herdingSelection(features: FeaturesLike, m: number): Int32Array {
  const fn = 'herdingSelection';
  const matrix = toMatrix(fn, features);
  const { rows, dim } = matrix;
  checkCount(fn, m, rows);
  const phi = normalizedRows(matrix);
  const mu = new Float64Array(dim);
  for (let i = 0; i < rows; i++) for (let d = 0; d < dim; d++) mu[d] += phi[i * dim + d];
  for (let d = 0; d < dim; d++) mu[d] /= rows;

  const chosen = new Uint8Array(rows);
  const sum = new Float64Array(dim);
  const order = new Int32Array(m);
  for (let k = 1; k <= m; k++) {
    let best = -1;
    let bestDistance = Infinity;
    for (let i = 0; i < rows; i++) {
      if (chosen[i]) continue;
      let distance = 0;
      for (let d = 0; d < dim; d++) {
        const diff = mu[d] - (sum[d] + phi[i * dim + d]) / k;
        distance += diff * diff;
      }
      if (distance < bestDistance) {
        bestDistance = distance;
        best = i;
      }
    }
    chosen[best] = 1;
    order[k - 1] = best;
    for (let d = 0; d < dim; d++) sum[d] += phi[best * dim + d];
  }
  return order;
}

/**
 * m of n positions uniformly without replacement, in draw order (a partial Fisher-Yates shuffle), from the
 * caller's seeded generator (e.g. TrainerServices.random()).
 */
export function randomSelection(n: number, m: number, random: () => number): Int32Array {
  const fn = 'randomSelection';
  if (!Number.isInteger(n) || n < 0) fail(fn, `n must be an integer >= 0, got ${n}`);
  checkCount(fn, m, n);
  const positions = new Int32Array(n);
  for (let i = 0; i < n; i++) positions[i] = i;
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(random() * (n - i));
    const tmp = positions[i];
    positions[i] = positions[j];
    positions[j] = tmp;
  }
  return positions.slice(0, m);
}
