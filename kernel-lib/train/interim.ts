/**
 * INTERIM GLUE, to be deleted: a minimal stand-in for kernel-lib/data's seeded batching (data/batches.ts), which is being written concurrently. The trainer imports these
 * names from here until the real modules land; then the imports move and this file goes.
 */
import type { ImageSplit } from '../data/types.ts';
import { createRandom, deriveSeed, shuffleInPlace } from './rng.ts';

export interface MakeBatchesOptions {
  batchSize: number;
  seed: number;
  epoch: number;
  augment: boolean;
  mean: [number, number, number];
  std: [number, number, number];
  shuffle?: boolean;
  dropLast?: boolean;
}

/** Shuffled batches; augmentation = random crop with 4-pixel zero padding + horizontal flip (CIFAR recipe). */
export function* makeBatches(split: ImageSplit, indices: Int32Array, opts: MakeBatchesOptions) {
  const order = Int32Array.from(indices);
  const random = createRandom(deriveSeed(opts.seed, 'epoch', opts.epoch));
  if (opts.shuffle ?? true) shuffleInPlace(order, random);
  const { height: h, width: w } = split;
  const pixel = h * w * 3;
  for (let start = 0; start < order.length; start += opts.batchSize) {
    const n = Math.min(opts.batchSize, order.length - start);
    if (opts.dropLast && n < opts.batchSize) return;
    const x = new Float32Array(n * pixel);
    const y = new Int32Array(n);
    const idx = order.slice(start, start + n);
    for (let b = 0; b < n; b++) {
      const i = idx[b];
      y[b] = split.labels[i];
      const dy = opts.augment ? Math.floor(random() * 9) - 4 : 0;
      const dx = opts.augment ? Math.floor(random() * 9) - 4 : 0;
      const flip = opts.augment && random() < 0.5;
      for (let r = 0; r < h; r++) {
        for (let c = 0; c < w; c++) {
          const sr = r + dy;
          const sc0 = c + dx;
          const sc = flip ? w - 1 - sc0 : sc0;
          for (let ch = 0; ch < 3; ch++) {
            const v = sr >= 0 && sr < h && sc >= 0 && sc < w ? split.images[i * pixel + (sr * w + sc) * 3 + ch] / 255 : 0;
            x[b * pixel + (r * w + c) * 3 + ch] = (v - opts.mean[ch]) / opts.std[ch];
          }
        }
      }
    }
    yield { x, y, indices: idx, n };
  }
}
