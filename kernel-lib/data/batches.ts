/**
 * Seeded batching and augmentation of a uint8 NHWC ImageSplit into normalised float32 batches.
 *
 * Training (augment: true), the CIFAR recipe of PyCIL / PODNet / FACIL (torchvision RandomCrop(size, padding=4),
 * RandomHorizontalFlip(), ToTensor(), Normalize(mean, std)):
 *   1. random crop of the image's own size from the image zero-padded by `padding` (4) pixels on every side,
 *   2. horizontal flip with probability 1/2,
 *   3. x = (pixel / 255 - mean[c]) / std[c] per channel (padding pixels are 0 before normalisation, as in torchvision).
 * Evaluation (augment: false): step 3 only.
 *
 * Randomness: numpy's legacy MT19937 (kernel-lib/data/class-orders.ts), keyed, so a resumed run reproduces its batches:
 * - batch order: `np.random.RandomState([seed, epoch]).permutation(indices)` (when shuffle, the default);
 * - augmentation of batch b: a generator keyed [seed, epoch, b + 1], drawing for each image in batch order
 *   top = interval(2 * padding), left = interval(2 * padding), flip = interval(1) === 1.
 * Batch b can therefore be rebuilt without drawing the batches before it.
 */
import { tf } from '../tf';
import { MT19937 } from './class-orders';
import type { ImageSplit } from './types';

export interface MakeBatchesOptions {
  batchSize: number;
  /** Run seed, an integer in [0, 2^32). */
  seed: number;
  /** Epoch number (>= 0): with the seed, it keys the batch order and the augmentation. */
  epoch: number;
  /** Random crop + flip (training); false: normalisation only (evaluation). */
  augment: boolean;
  /** Per-channel mean and std on the [0, 1] scale (the dataset's). */
  mean: readonly [number, number, number] | readonly number[];
  std: readonly [number, number, number] | readonly number[];
  /** Shuffle the indices (default true). */
  shuffle?: boolean;
  /** Drop a last batch smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Zero padding of the random crop, in pixels (default 4). */
  padding?: number;
}

export interface ImageBatch {
  /** n x height x width x 3, normalised, row-major NHWC. */
  x: Float32Array;
  /** Labels of the batch's images (from split.labels). */
  y: Int32Array;
  /** Indices into the split, in batch order. */
  indices: Int32Array;
  n: number;
  height: number;
  width: number;
}

function fail(field: string, message: string): never {
  throw new Error(`makeBatches: ${field} ${message}`);
}

function checkOptions(split: ImageSplit, indices: Int32Array, opts: MakeBatchesOptions): void {
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) fail('batchSize', `must be a positive integer, got ${opts.batchSize}`);
  if (!Number.isInteger(opts.seed) || opts.seed < 0 || opts.seed > 0xffffffff) fail('seed', `must be an integer in [0, 2^32 - 1], got ${opts.seed}`);
  if (!Number.isInteger(opts.epoch) || opts.epoch < 0) fail('epoch', `must be an integer >= 0, got ${opts.epoch}`);
  const padding = opts.padding ?? 4;
  if (!Number.isInteger(padding) || padding < 0) fail('padding', `must be an integer >= 0, got ${opts.padding}`);
  for (const field of ['mean', 'std'] as const) {
    const v = opts[field];
    if (!v || v.length !== 3 || !Array.from(v).every(Number.isFinite)) fail(field, `must be 3 finite numbers (one per RGB channel), got ${JSON.stringify(v)}`);
  }
  if (!Array.from(opts.std).every((s) => s > 0)) fail('std', `must be positive (it divides), got ${JSON.stringify(opts.std)}`);
  if (split.channels !== 3) fail('split.channels', `must be 3 (RGB), got ${split.channels}`);
  if (split.images.length !== split.count * split.height * split.width * 3) {
    fail('split.images', `has ${split.images.length} bytes, expected count*height*width*3 = ${split.count * split.height * split.width * 3}`);
  }
  for (let i = 0; i < indices.length; i++) {
    const index = indices[i];
    if (!(index >= 0 && index < split.count)) fail(`indices[${i}]`, `= ${index} is outside the split's ${split.count} images`);
  }
}

/** Number of batches makeBatches yields for `count` indices. */
export function batchCount(count: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

/** lut[c * 256 + v] = (v / 255 - mean[c]) / std[c]. */
function normalisationTable(mean: MakeBatchesOptions['mean'], std: MakeBatchesOptions['std']): Float32Array {
  const lut = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v / 255 - mean[c]) / std[c];
  return lut;
}

/**
 * Writes image `index` of the split into `out` at `offset`, normalised through `lut`: output pixel (r, c) shows source
 * pixel (r + top, c' + left) with c' = w - 1 - c when flipped (flip after crop), c' = c otherwise, and the zero
 * padding where that falls outside the image. A crop at (t, l) of the image padded by p is the shift (t - p, l - p).
 */
function writeImage(
  split: ImageSplit, index: number, out: Float32Array, offset: number, lut: Float32Array,
  top: number, left: number, flip: boolean, sourceColumn: Int32Array,
): void {
  const { height: h, width: w, images } = split;
  const rowBytes = w * 3;
  const base = index * h * rowBytes;
  const pad0 = lut[0];
  const pad1 = lut[256];
  const pad2 = lut[512];
  for (let c = 0; c < w; c++) {
    // Flip after crop: output column c shows crop column w - 1 - c.
    const sc = (flip ? w - 1 - c : c) + left;
    sourceColumn[c] = sc >= 0 && sc < w ? sc * 3 : -1;
  }
  for (let r = 0; r < h; r++) {
    const sr = r + top;
    let o = offset + r * rowBytes;
    const row = base + sr * rowBytes;
    const inside = sr >= 0 && sr < h;
    for (let c = 0; c < w; c++, o += 3) {
      const sc = sourceColumn[c];
      if (inside && sc >= 0) {
        const p = row + sc;
        out[o] = lut[images[p]];
        out[o + 1] = lut[256 + images[p + 1]];
        out[o + 2] = lut[512 + images[p + 2]];
      } else {
        out[o] = pad0;
        out[o + 1] = pad1;
        out[o + 2] = pad2;
      }
    }
  }
}

/** The batch order of an epoch: the indices, shuffled with the generator keyed [seed, epoch] unless shuffle is false. */
export function epochOrder(indices: Int32Array, seed: number, epoch: number, shuffle = true): Int32Array {
  const order = Int32Array.from(indices);
  return shuffle ? new MT19937([seed, epoch]).shuffle(order) : order;
}

/** Seeded, augmented (or not), normalised batches of `indices` of the split. */
export function* makeBatches(split: ImageSplit, indices: Int32Array, opts: MakeBatchesOptions): Generator<ImageBatch, void, undefined> {
  checkOptions(split, indices, opts);
  const { batchSize, seed, epoch, augment } = opts;
  const padding = opts.padding ?? 4;
  const order = epochOrder(indices, seed, epoch, opts.shuffle ?? true);
  const lut = normalisationTable(opts.mean, opts.std);
  const imageSize = split.height * split.width * 3;
  const batches = batchCount(order.length, batchSize, opts.dropLast ?? false);
  const sourceColumn = new Int32Array(split.width);
  for (let b = 0; b < batches; b++) {
    const start = b * batchSize;
    const n = Math.min(batchSize, order.length - start);
    const batchIndices = order.slice(start, start + n);
    const x = new Float32Array(n * imageSize);
    const y = new Int32Array(n);
    const random = augment ? new MT19937([seed, epoch, b + 1]) : null;
    for (let k = 0; k < n; k++) {
      const index = batchIndices[k];
      y[k] = split.labels[index];
      let top = 0;
      let left = 0;
      let flip = false;
      if (random) {
        top = random.interval(2 * padding) - padding;
        left = random.interval(2 * padding) - padding;
        flip = random.interval(1) === 1;
      }
      writeImage(split, index, x, k * imageSize, lut, top, left, flip, sourceColumn);
    }
    yield { x, y, indices: batchIndices, n, height: split.height, width: split.width };
  }
}

/** The batch as tensors: x [n, height, width, 3] float32, y [n] int32. The caller disposes them. */
export function toTensor(batch: ImageBatch): { x: tf.Tensor4D; y: tf.Tensor1D } {
  return {
    x: tf.tensor4d(batch.x, [batch.n, batch.height, batch.width, 3], 'float32'),
    y: tf.tensor1d(batch.y, 'int32'),
  };
}
