/**
 * Pieces every dataset loader shares: the error type for bad input, default folders, split assembly and the
 * per-channel statistics used for normalisation.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ImageDataset, ImageSplit } from './types';
import { repoRoot } from '../paths';

/**
 * Bad input: names the file (or field) at fault and says how to fix it. `message` holds all three parts so a
 * plain `console.error(err.message)` is enough for the user.
 */
export class DatasetError extends Error {
  /** The file, folder, URL or option at fault. */
  readonly subject: string;
  /** What the user should do about it. */
  readonly fix: string;

  constructor(problem: string, subject: string, fix: string) {
    super(`${problem}\n  at: ${subject}\n  fix: ${fix}`);
    this.name = 'DatasetError';
    this.subject = subject;
    this.fix = fix;
  }
}

/** The repository root (two levels above kernel-lib/data). */
export const REPO_ROOT = repoRoot();

/** Where decoded images and extracted archives live: the option, else $KDCL_CACHE_DIR, else `<repo>/.cache` (git-ignored). */
export function resolveCacheDir(option?: string): string {
  return path.resolve(option ?? process.env.KDCL_CACHE_DIR ?? path.join(REPO_ROOT, '.cache'));
}

/** Optional progress/warning sink shared by the loaders; `false` silences them. */
export type LogFn = (line: string) => void;
export function resolveLog(log: LogFn | false | undefined): LogFn {
  if (log === false) return () => {};
  return log ?? ((line) => console.warn(`[kdcl data] ${line}`));
}

/** Options every loader accepts (the `loadDataset` contract). */
export interface LoadOptions {
  /** Folder holding the dataset (layout per loader). */
  dataDir?: string;
  /** Folder for extracted archives and decoded-image cache entries. */
  cacheDir?: string;
  /** Side of the square images returned; each loader documents its default. */
  imageSize?: number;
  /** Load only the first N classes of the loader's documented class order. */
  classesLimit?: number;
  /** Progress and warning lines (default: console.warn); false silences them. */
  log?: LogFn | false;
}

/** The classes a loader will return: the first `limit` of `all`, checked. */
export function limitClasses<T>(all: T[], limit: number | undefined, datasetName: string): T[] {
  if (limit === undefined) return all;
  if (!Number.isInteger(limit) || limit < 1 || limit > all.length) {
    throw new DatasetError(
      `classesLimit must be an integer in [1, ${all.length}] for ${datasetName}, got ${limit}`,
      'option classesLimit',
      `pass a value between 1 and ${all.length}, or leave it out for all classes`,
    );
  }
  return all.slice(0, limit);
}

export function checkImageSize(size: number | undefined, field = 'option imageSize'): void {
  if (size === undefined) return;
  if (!Number.isInteger(size) || size < 1 || size > 1024) {
    throw new DatasetError(`imageSize must be an integer in [1, 1024], got ${size}`, field, 'pass e.g. 32, 64 or 224');
  }
}

/**
 * A split for classes 0..counts.length-1 with counts[c] images each (class by class), labels filled in, and one view
 * per class into `images` for the loader to fill in place.
 */
export function allocateSplit(counts: number[], size: number): { split: ImageSplit; views: Uint8Array[] } {
  const imageBytes = size * size * 3;
  const count = counts.reduce((n, k) => n + k, 0);
  const images = new Uint8Array(count * imageBytes);
  const labels = new Int32Array(count);
  const views: Uint8Array[] = [];
  let at = 0;
  counts.forEach((n, label) => {
    labels.fill(label, at, at + n);
    views.push(images.subarray(at * imageBytes, (at + n) * imageBytes));
    at += n;
  });
  return { split: { images, labels, count, height: size, width: size, channels: 3 }, views };
}

/** Per-channel counts of each byte value (3 x 256) of uint8 NHWC RGB images: the exact sufficient statistics for mean/std. */
export type ChannelHistogram = number[][];

export function channelHistogram(images: Uint8Array): ChannelHistogram {
  const h0 = new Float64Array(256);
  const h1 = new Float64Array(256);
  const h2 = new Float64Array(256);
  for (let i = 0; i + 2 < images.length; i += 3) {
    h0[images[i]]++;
    h1[images[i + 1]]++;
    h2[images[i + 2]]++;
  }
  return [Array.from(h0), Array.from(h1), Array.from(h2)];
}

export function isChannelHistogram(value: unknown): value is ChannelHistogram {
  return Array.isArray(value) && value.length === 3 && value.every((h) => Array.isArray(h) && h.length === 256 && h.every((v) => typeof v === 'number'));
}

/** Sum of histograms (e.g. of the class blocks of a split). */
export function addHistograms(histograms: ChannelHistogram[]): ChannelHistogram {
  const total = [0, 1, 2].map(() => new Array<number>(256).fill(0));
  for (const h of histograms) for (let c = 0; c < 3; c++) for (let v = 0; v < 256; v++) total[c][v] += h[c][v];
  return total;
}

/**
 * Per-channel mean and (population) std on the [0, 1] scale from value counts. Exact: the result does not depend on
 * the order of the images.
 */
export function statsFromHistogram(histogram: ChannelHistogram): { mean: [number, number, number]; std: [number, number, number] } {
  const mean: [number, number, number] = [0, 0, 0];
  const std: [number, number, number] = [0, 0, 0];
  for (let c = 0; c < 3; c++) {
    let n = 0;
    let sum = 0;
    let sumSq = 0;
    for (let v = 0; v < 256; v++) {
      const k = histogram[c][v];
      n += k;
      sum += k * v;
      sumSq += k * v * v;
    }
    if (n === 0) continue;
    const m = sum / n;
    mean[c] = m / 255;
    std[c] = Math.sqrt(Math.max(0, sumSq / n - m * m)) / 255;
  }
  return { mean, std };
}

/** Per-channel mean and (population) std of uint8 NHWC RGB images on the [0, 1] scale. */
export function channelStats(images: Uint8Array): { mean: [number, number, number]; std: [number, number, number] } {
  return statsFromHistogram(channelHistogram(images));
}

/**
 * The ImageDataset for given splits, with mean/std of the training images: from `trainHistogram` when the caller
 * has it (e.g. summed from cached per-class histograms), else counted from the pixels.
 */
export function makeDataset(name: string, train: ImageSplit, test: ImageSplit, classNames: string[], trainHistogram?: ChannelHistogram): ImageDataset {
  const { mean, std } = statsFromHistogram(trainHistogram ?? channelHistogram(train.images));
  return { name, train, test, classNames, mean, std };
}

/** A readable file or a DatasetError naming it. */
export function requireFile(file: string, fix: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new DatasetError('Missing file', file, fix);
  }
  if (!stat.isFile()) throw new DatasetError('Expected a file, found something else', file, fix);
}

export function requireDir(dir: string, fix: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new DatasetError('Missing folder', dir, fix);
  }
  if (!stat.isDirectory()) throw new DatasetError('Expected a folder, found something else', dir, fix);
}

export function isDir(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

export function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Sorts names like `x_2.JPEG`, `x_10.JPEG` by their last number, then by name (stable, locale-free). */
export function compareByTrailingNumber(a: string, b: string): number {
  const na = trailingNumber(a);
  const nb = trailingNumber(b);
  if (na !== nb) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

function trailingNumber(name: string): number {
  const match = /(\d+)(?:\.[^.]*)?$/.exec(name);
  return match ? Number(match[1]) : -1;
}

/** Plain code-point order (independent of locale), for wnids and file names. */
export function compareCodePoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
