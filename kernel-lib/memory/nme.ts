/**
 * The nearest-mean-of-exemplars classifier (iCaRL, Rebuffi et al. CVPR 2017, Alg. 1): a sample goes to the class
 * whose (normalised) mean is nearest to its L2-normalised feature.
 */
import { tf } from '../tf';
import { l2Normalize } from '../losses/util';
import { type FeatureMatrix, fail, matrixToTensor } from './features';

/**
 * NME scores [N, C], larger = nearer:
 *   'euclidean' (default): -|| f/||f|| - mu_c ||^2, as PyCIL models/base.py `_eval_nme` (cdist 'sqeuclidean'
 *                          between normalised features and class means);
 *   'cosine':              <f/||f||, mu_c/||mu_c||>.
 * With unit-norm means (nmeClassMeans) both rank classes identically. argmax = the NME prediction.
 */
export function nmeScores(features: tf.Tensor2D, classMeans: tf.Tensor2D | FeatureMatrix, metric: 'euclidean' | 'cosine' = 'euclidean'): tf.Tensor2D {
  const fn = 'nmeScores';
  if (features.rank !== 2) fail(fn, `features must be [n, dim], got shape [${features.shape.join(', ')}]`);
  return tf.tidy(() => {
    const means = classMeans instanceof tf.Tensor ? classMeans : matrixToTensor(classMeans);
    if (means.rank !== 2 || means.shape[1] !== features.shape[1]) {
      fail(fn, `classMeans must be [classes, ${features.shape[1]}] to match the features, got [${means.shape.join(', ')}]`);
    }
    const f = l2Normalize(features, 1);
    if (metric === 'cosine') return tf.matMul(f, l2Normalize(means, 1), false, true) as tf.Tensor2D;
    // ||f - mu||^2 = ||f||^2 - 2 f.mu + ||mu||^2
    const squared = tf.add(tf.sub(tf.sum(tf.square(f), 1, true), tf.mul(tf.matMul(f, means, false, true), 2)), tf.expandDims(tf.sum(tf.square(means), 1), 0));
    return tf.neg(squared) as tf.Tensor2D;
  });
}

/** NME predictions: the index (into classMeans' rows) of the nearest mean for each sample. */
export function nmePredict(features: tf.Tensor2D, classMeans: tf.Tensor2D | FeatureMatrix, metric: 'euclidean' | 'cosine' = 'euclidean'): Int32Array {
  const predictions = tf.tidy(() => tf.argMax(nmeScores(features, classMeans, metric), 1));
  const out = Int32Array.from(predictions.dataSync());
  predictions.dispose();
  return out;
}
