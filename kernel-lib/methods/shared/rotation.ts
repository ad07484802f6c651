/**
 * Rotation label augmentation (PASS and PRAKA's self-supervision): each image in its four quarter turns, labelled
 * 4y + r.
 */
import { tf } from '../../tf';
import type { Batch, StepContext } from '../types';

/** Quarter turns per image. */
export const ROTATIONS = 4;

/**
 * x rotated by k * 90 degrees in the image plane, NHWC, as `torch.rot90(x, k, (2, 3))` on NCHW (and np.rot90):
 * counter-clockwise, out[h][w] = in[w][W - 1 - h] for k = 1. Needs square images (as the official code, which
 * views the result back as size x size).
 */
export function rot90(x: tf.Tensor4D, k: number): tf.Tensor4D {
  return rotatedCopies(x, [((k % 4) + 4) % 4]);
}

/** A batch expanded 4x by rotations: rows sample-major (4b + r), `y` the joint labels 4y + r. */
export interface RotatedBatch extends Batch {
  /** Class label of each of the 4B rows (= y div 4). */
  classes: tf.Tensor1D;
  /** Number of original images B (rows = 4B). */
  images: number;
}

/** Stacks one value per image into 4 per image, sample-major: [B, ...] -> [4B, ...]. */
function repeatPerRotation<T extends tf.Tensor>(parts: tf.Tensor[], rows: number): T {
  const stacked = tf.stack(parts, 1);
  return tf.reshape(stacked, [rows, ...stacked.shape.slice(2)]) as T;
}

/** Source pixel (row, column) of output pixel (h, w) of an s x s image rotated by k * 90 degrees (as rot90). */
function rotationSource(k: number, h: number, w: number, s: number): [number, number] {
  switch (k) {
    case 0:
      return [h, w];
    case 1:
      return [w, s - 1 - h];
    case 2:
      return [s - 1 - h, s - 1 - w];
    default:
      return [s - 1 - w, h];
  }
}

/**
 * Each image of x rotated by each of `turns` (quarter turns in 0..3), rows sample-major (row b T + i = image b
 * rotated by turns[i]). Built on the host: rotations are data (prepareBatch runs outside the tape), and tfjs's
 * reverse / transpose kernels walk element by element (they made PASS and PRAKA 4x slower than their 4x batch).
 */
function rotatedCopies(x: tf.Tensor4D, turns: number[]): tf.Tensor4D {
  const [images, height, width, channels] = x.shape;
  if (height !== width) throw new Error(`rot90: rotation augmentation needs square images, got ${height}x${width}`);
  const source = x.dataSync();
  const pixels = height * width;
  const offsets = new Int32Array(turns.length * pixels);
  turns.forEach((k, i) => {
    for (let h = 0; h < height; h++) {
      for (let w = 0; w < width; w++) {
        const [sh, sw] = rotationSource(k, h, w, height);
        offsets[i * pixels + h * width + w] = (sh * width + sw) * channels;
      }
    }
  });
  const imageSize = pixels * channels;
  const out = new Float32Array(turns.length * images * imageSize);
  let o = 0;
  for (let b = 0; b < images; b++) {
    for (let i = 0; i < turns.length; i++) {
      for (let p = 0; p < pixels; p++) {
        const from = b * imageSize + offsets[i * pixels + p];
        for (let c = 0; c < channels; c++) out[o++] = source[from + c];
      }
    }
  }
  return tf.tensor4d(out, [turns.length * images, height, width, channels]);
}

/** PASS/PRAKA's self-supervised label augmentation (PASS.py and PRAKA jointSSL.py `train`). */
export function rotateBatch(batch: Batch): RotatedBatch {
  const images = batch.x.shape[0];
  const rows = ROTATIONS * images;
  const turns = Array.from({ length: ROTATIONS }, (_, r) => r);
  const x = rotatedCopies(batch.x, turns);
  const labels = tf.tidy(() => {
    const y = tf.cast(batch.y, 'int32') as tf.Tensor1D;
    const joint = repeatPerRotation<tf.Tensor1D>(turns.map((r) => tf.add(tf.mul(y, ROTATIONS), r)), rows);
    const classes = repeatPerRotation<tf.Tensor1D>(turns.map(() => y), rows);
    const replay = repeatPerRotation<tf.Tensor1D>(turns.map(() => batch.replay), rows);
    return { y: joint, replay, classes };
  });
  return { x, ...labels, images } as RotatedBatch;
}

/** The step's batch as prepareBatch rotated it (an error if lossTerms runs on a batch that was not rotated). */
export function rotatedBatch(step: StepContext, method: string): RotatedBatch {
  const batch = step.batch as Partial<RotatedBatch>;
  if (!(batch.classes instanceof tf.Tensor) || typeof batch.images !== 'number') {
    throw new Error(`${method}: lossTerms needs the rotation-expanded batch from ${method}'s prepareBatch (an extra stage must pass prepareBatch)`);
  }
  return step.batch as RotatedBatch;
}

