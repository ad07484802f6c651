/**
 * Deterministic resizing and cropping of RGB uint8 images.
 *
 * `resizeArea` is an area (box) filter: each output pixel is the average of the source area it covers, with partial
 * source pixels weighted by their covered fraction; the average is rounded half up. For whole-number ratios (64 -> 32)
 * that is exactly the rounded mean of each 2x2 block. It only uses IEEE double arithmetic (no platform-specific math),
 * so every machine gives the same bytes. Upscaling with it replicates pixels (nearest-neighbour-like).
 */
import type { RgbImage } from './jpeg';

interface Taps {
  /** For output i: source indices start[i] .. start[i] + count[i] - 1. */
  start: Int32Array;
  count: Int32Array;
  /** Flattened weights (covered fraction of each source pixel), `maxTaps` per output. */
  weights: Float64Array;
  maxTaps: number;
}

function areaTaps(sourceLength: number, targetLength: number): Taps {
  const scale = sourceLength / targetLength;
  const maxTaps = Math.ceil(scale) + 1;
  const start = new Int32Array(targetLength);
  const count = new Int32Array(targetLength);
  const weights = new Float64Array(targetLength * maxTaps);
  for (let i = 0; i < targetLength; i++) {
    const from = (i * sourceLength) / targetLength;
    const to = ((i + 1) * sourceLength) / targetLength;
    const first = Math.floor(from);
    const last = Math.min(sourceLength - 1, Math.ceil(to) - 1);
    start[i] = first;
    count[i] = last - first + 1;
    for (let s = first; s <= last; s++) {
      weights[i * maxTaps + (s - first)] = Math.min(to, s + 1) - Math.max(from, s);
    }
  }
  return { start, count, weights, maxTaps };
}

/** Area-filter resize of an RGB image to `width` x `height`. Returns the input unchanged when the size already matches. */
export function resizeArea(image: RgbImage, width: number, height: number): RgbImage {
  if (image.width === width && image.height === height) return image;
  const src = image.data;
  const sw = image.width;
  const sh = image.height;
  const tx = areaTaps(sw, width);
  const ty = areaTaps(sh, height);
  // Horizontal pass: sums over covered source columns, kept in doubles.
  const rows = new Float64Array(sh * width * 3);
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      const base = x * tx.maxTaps;
      for (let k = 0; k < tx.count[x]; k++) {
        const w = tx.weights[base + k];
        const p = (y * sw + tx.start[x] + k) * 3;
        r += w * src[p];
        g += w * src[p + 1];
        b += w * src[p + 2];
      }
      const o = (y * width + x) * 3;
      rows[o] = r;
      rows[o + 1] = g;
      rows[o + 2] = b;
    }
  }
  const area = (sw / width) * (sh / height);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const base = y * ty.maxTaps;
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < ty.count[y]; k++) {
        const w = ty.weights[base + k];
        const p = ((ty.start[y] + k) * width + x) * 3;
        r += w * rows[p];
        g += w * rows[p + 1];
        b += w * rows[p + 2];
      }
      const o = (y * width + x) * 3;
      out[o] = toByte(r / area);
      out[o + 1] = toByte(g / area);
      out[o + 2] = toByte(b / area);
    }
  }
  return { width, height, data: out };
}

function toByte(v: number): number {
  // Half up; the clamp only guards against rounding noise at the ends of the range.
  const r = Math.floor(v + 0.5);
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

/** The `width` x `height` window of `image` whose top-left corner is (`left`, `top`). */
export function crop(image: RgbImage, left: number, top: number, width: number, height: number): RgbImage {
  if (left < 0 || top < 0 || left + width > image.width || top + height > image.height) {
    throw new Error(`crop ${width}x${height}+${left}+${top} outside a ${image.width}x${image.height} image`);
  }
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * image.width + left) * 3;
    out.set(image.data.subarray(from, from + width * 3), y * width * 3);
  }
  return { width, height, data: out };
}

/** Resizes so the shorter side is `shorter`, keeping the aspect ratio (longer side rounded to nearest). */
export function resizeShorterSide(image: RgbImage, shorter: number): RgbImage {
  const { width, height } = image;
  if (width <= height) return resizeArea(image, shorter, Math.max(shorter, Math.round((height * shorter) / width)));
  return resizeArea(image, Math.max(shorter, Math.round((width * shorter) / height)), shorter);
}

/** The centred `size` x `size` window (offsets rounded like torchvision's CenterCrop). */
export function centerCrop(image: RgbImage, size: number): RgbImage {
  const left = Math.round((image.width - size) / 2);
  const top = Math.round((image.height - size) / 2);
  return crop(image, left, top, size, size);
}
