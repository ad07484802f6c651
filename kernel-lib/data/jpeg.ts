/**
 * JPEG decode/encode through jpeg-js (pure JavaScript, deterministic, pinned at 0.4.4 in package.json).
 *
 * Decoding always yields RGB: greyscale JPEGs (about 2% of ImageNet) are expanded to three equal channels and Adobe
 * CMYK/YCCK ones are converted by jpeg-js. Any decoder failure becomes a DatasetError naming the file.
 */
import fs from 'node:fs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import jpeg from 'jpeg-js';
import type { ImageSplit } from './types';
import { repoRequire } from '../paths';
import { type ChannelHistogram, DatasetError, addHistograms, allocateSplit, channelHistogram, isChannelHistogram } from './common';
import { cacheKey, cached, fileFingerprints } from './cache';

export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes, row-major RGB. */
  data: Uint8Array;
}

const DECODE_OPTIONS = { useTArray: true, formatAsRGBA: false, tolerantDecoding: false, maxMemoryUsageInMB: 1024 } as const;

/** Number of JPEGs decoded by this process (main thread and decode workers); tests use it to prove cache hits. */
export const decodeCounter = { images: 0 };

function corruptJpeg(reason: string, source: string): DatasetError {
  return new DatasetError(
    `Corrupt or unsupported JPEG (${reason})`,
    source,
    'replace this file with a good copy from the original dataset archive (or delete it and re-extract the archive)',
  );
}

function checkedImage(decoded: { width: number; height: number; data: Uint8Array }, source: string): RgbImage {
  const { width, height, data } = decoded;
  if (data.length !== width * height * 3) throw corruptJpeg(`decoded to ${data.length} bytes, expected ${width}x${height}x3`, source);
  return { width, height, data };
}

/** Decodes JPEG bytes to RGB. `source` (a path or archive member) is named in the error if the bytes are not a valid JPEG. */
export function decodeJpeg(bytes: Uint8Array, source: string): RgbImage {
  decodeCounter.images++;
  try {
    return checkedImage(jpeg.decode(bytes, DECODE_OPTIONS), source);
  } catch (err) {
    if (err instanceof DatasetError) throw err;
    throw corruptJpeg(err instanceof Error ? err.message : String(err), source);
  }
}

export function readImageFile(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch {
    throw new DatasetError('Missing or unreadable image file', file, 'restore the file from the original dataset archive');
  }
}

/**
 * Decode workers: plain CommonJS (evaluated, so they need no TypeScript loader) running the same jpeg-js decoder with
 * the same options, hence the same pixels as decodeJpeg. Errors come back as messages and are raised in the main
 * thread, for the first failing image in input order.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const decode = require(workerData.decoderPath);
parentPort.on('message', ({ id, jpegs }) => {
  const results = [];
  const transfer = [];
  for (const bytes of jpegs) {
    try {
      const image = decode(bytes, workerData.options);
      results.push({ width: image.width, height: image.height, data: image.data });
      transfer.push(image.data.buffer);
    } catch (err) {
      results.push({ error: err && err.message ? err.message : String(err) });
    }
  }
  parentPort.postMessage({ id, results }, transfer);
});
`;

type WorkerResult = { width: number; height: number; data: Uint8Array } | { error: string };

class DecodePool {
  private readonly workers: Worker[] = [];
  /** Jobs in flight per worker: a busy worker keeps the process alive, an idle one must not. */
  private readonly busy: number[] = [];
  private readonly pending = new Map<number, { resolve: (r: WorkerResult[]) => void; reject: (e: unknown) => void }>();
  private nextId = 0;

  constructor(readonly size: number) {
    const decoderPath = repoRequire().resolve('jpeg-js/lib/decoder.js');
    for (let i = 0; i < size; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { decoderPath, options: DECODE_OPTIONS } });
      worker.on('message', ({ id, results }: { id: number; results: WorkerResult[] }) => {
        if (--this.busy[i] === 0) worker.unref();
        this.pending.get(id)?.resolve(results);
        this.pending.delete(id);
      });
      worker.on('error', (err) => {
        for (const job of this.pending.values()) job.reject(err);
        this.pending.clear();
        if (pool === this) pool = null;
      });
      worker.unref();
      this.workers.push(worker);
      this.busy.push(0);
    }
  }

  run(index: number, jpegs: Uint8Array[]): Promise<WorkerResult[]> {
    const id = this.nextId++;
    const w = index % this.size;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.busy[w]++ === 0) this.workers[w].ref();
      this.workers[w].postMessage({ id, jpegs });
    });
  }
}

let pool: DecodePool | null = null;

/**
 * Decode threads: $KDCL_DECODE_THREADS, else one per core but one (at most 8) on machines with 4+ cores, else 1
 * (decode in the calling thread). On 2 cores the workers' own JIT warm-up and message copies cost more than they
 * save when other work shares the cores.
 */
export function decodeThreads(): number {
  const fromEnv = Number(process.env.KDCL_DECODE_THREADS);
  if (Number.isInteger(fromEnv) && fromEnv >= 1) return fromEnv;
  const cores = os.availableParallelism();
  return cores >= 4 ? Math.min(8, cores - 1) : 1;
}

/** Batches smaller than this are decoded in the calling thread (a worker round trip is not worth it). */
const MIN_PARALLEL_BATCH = 64;

/**
 * Decodes many JPEGs, spread over the decode worker pool when there are several cores. Same results, order and
 * errors as calling decodeJpeg on each item in turn.
 */
export async function decodeJpegs(items: { bytes: Uint8Array; source: string }[]): Promise<RgbImage[]> {
  const threads = decodeThreads();
  if (threads <= 1 || items.length < MIN_PARALLEL_BATCH) return items.map((item) => decodeJpeg(item.bytes, item.source));
  if (!pool || pool.size !== threads) pool = new DecodePool(threads);
  const active = pool;
  const chunkSize = Math.ceil(items.length / threads);
  const chunks: Promise<WorkerResult[]>[] = [];
  for (let w = 0; w * chunkSize < items.length; w++) {
    chunks.push(active.run(w, items.slice(w * chunkSize, (w + 1) * chunkSize).map((item) => item.bytes)));
  }
  const results = (await Promise.all(chunks)).flat();
  decodeCounter.images += items.length;
  return results.map((result, i) => {
    if ('error' in result) throw corruptJpeg(result.error, items[i].source);
    return checkedImage(result, items[i].source);
  });
}

interface JpegJsEncoder {
  encode(image: { data: Uint8Array; width: number; height: number }, quality: number): Buffer;
}

let encoderClass: (new (quality: number) => JpegJsEncoder) | null = null;

/**
 * jpeg-js's `encode()` rebuilds all its tables on every call (~50 ms, 100x the cost of encoding a 32x32 image) and
 * does not export the encoder class. We evaluate the installed lib/encoder.js once to get that class, so one
 * instance serves all images; its output is byte-identical to `jpeg.encode()` (checked in test/data-jpeg.test.ts).
 */
function jpegJsEncoderClass(): new (quality: number) => JpegJsEncoder {
  if (encoderClass) return encoderClass;
  const require = repoRequire();
  const source = fs.readFileSync(require.resolve('jpeg-js/lib/encoder.js'), 'utf8');
  encoderClass = new Function('module', `${source}\nreturn JPEGEncoder;`)({}) as new (quality: number) => JpegJsEncoder;
  return encoderClass;
}

/** Baseline JPEG encoder (4:4:4, fixed quality), reusable across images. Deterministic: same pixels, same bytes. */
export class JpegEncoder {
  private readonly encoder: JpegJsEncoder;
  private rgba = new Uint8Array(0);

  constructor(readonly quality: number) {
    this.encoder = new (jpegJsEncoderClass())(quality);
  }

  encode(image: RgbImage): Uint8Array {
    const pixels = image.width * image.height;
    if (this.rgba.length !== pixels * 4) this.rgba = new Uint8Array(pixels * 4);
    const rgba = this.rgba;
    const rgb = image.data;
    for (let p = 0, q = 0; p < pixels * 3; p += 3, q += 4) {
      rgba[q] = rgb[p];
      rgba[q + 1] = rgb[p + 1];
      rgba[q + 2] = rgb[p + 2];
      rgba[q + 3] = 255;
    }
    return new Uint8Array(this.encoder.encode({ data: rgba, width: image.width, height: image.height }, this.quality));
  }
}

/**
 * Length of a JPEG's header: everything from SOI through the end of the first SOS segment, i.e. the tables and frame
 * description that precede the entropy-coded data. Images encoded with the same encoder, quality and size share it
 * byte for byte, so a pack of them can store it once.
 */
export function jpegHeaderLength(bytes: Uint8Array): number {
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) throw new Error('not a JPEG: no SOI marker');
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) throw new Error(`not a JPEG: expected a marker at byte ${at}`);
    const marker = bytes[at + 1];
    const length = (bytes[at + 2] << 8) | bytes[at + 3];
    at += 2 + length;
    if (marker === 0xda) return at;
  }
  throw new Error('not a JPEG: no SOS marker');
}

/** Images decoded per round trip to the worker pool in decodeJpegBlock. */
const DECODE_SLICE = 512;

/** Bump when decoding or resizing changes output, so old cache entries are rebuilt. */
export const DECODE_VERSION = 1;

export interface DecodeBlockOptions {
  /** JPEG files of one class of one split, in dataset order. */
  files: string[];
  /** Where the decoded block is cached (see cache.ts). */
  cacheFile: string;
  /** Everything besides the files that shapes the output (dataset, split, transform parameters). */
  keyParts: unknown;
  width: number;
  height: number;
  /** Decoded image -> image of exactly width x height. */
  transform: (image: RgbImage, file: string, index: number) => RgbImage;
  warn?: (line: string) => void;
  noCache?: boolean;
  /** Where the block's pixels go (files.length * width * height * 3 bytes); default a new array. */
  into?: Uint8Array;
}

/**
 * Decodes, transforms and concatenates `files` into one uint8 NHWC block, through the decoded-image cache: when the
 * files (names, sizes, mtimes) and `keyParts` match a valid entry, nothing is decoded.
 */
export async function decodeJpegBlock(options: DecodeBlockOptions): Promise<{ images: Uint8Array; histogram: ChannelHistogram; fromCache: boolean }> {
  const { files, width, height } = options;
  const key = cacheKey({ v: DECODE_VERSION, parts: options.keyParts, width, height, files: fileFingerprints(files) });
  const result = await cached(
    options.cacheFile,
    key,
    async () => {
      const imageBytes = width * height * 3;
      const images = options.into ?? new Uint8Array(files.length * imageBytes);
      // In slices, so full-size ImageNet classes (~1300 images of ~0.5 MB decoded) never sit in memory all at once.
      for (let from = 0; from < files.length; from += DECODE_SLICE) {
        const slice = files.slice(from, from + DECODE_SLICE);
        const decoded = await decodeJpegs(slice.map((file) => ({ bytes: readImageFile(file), source: file })));
        decoded.forEach((image, k) => {
          const index = from + k;
          const out = options.transform(image, files[index], index);
          if (out.width !== width || out.height !== height) throw new Error(`transform gave ${out.width}x${out.height}, expected ${width}x${height}`);
          images.set(out.data, index * imageBytes);
        });
      }
      return { payload: images, meta: { count: files.length, width, height, histogram: channelHistogram(images) } };
    },
    { warn: options.warn, disabled: options.noCache, into: options.into ? [options.into] : undefined },
  );
  const images = result.payload[0];
  const histogram = isChannelHistogram(result.meta.histogram) ? result.meta.histogram : channelHistogram(images);
  return { images, histogram, fromCache: result.fromCache };
}

export interface JpegSplitSpec {
  /** JPEG files of each class; class id = index. */
  files: string[][];
  /** Side of the square images of the split. */
  size: number;
  /** Cache entry of class `label` and what (besides its files) shapes its pixels. */
  entry: (label: number) => { cacheFile: string; keyParts: unknown };
  /** Decoded image `index` of class `label` -> size x size image. */
  transform: (image: RgbImage, label: number, index: number) => RgbImage;
  warn?: (line: string) => void;
  noCache?: boolean;
  /** Called after each class that had to be decoded (cache miss), e.g. for progress lines. */
  onDecoded?: (label: number) => void;
}

/**
 * One split of a folder-of-JPEGs dataset: every class decoded through the cache straight into its slot of the split's
 * array, plus the split's channel histogram (from the cache entries where possible).
 */
export async function decodeJpegSplit(spec: JpegSplitSpec): Promise<{ split: ImageSplit; histogram: ChannelHistogram }> {
  const { split, views } = allocateSplit(spec.files.map((list) => list.length), spec.size);
  const histograms: ChannelHistogram[] = [];
  for (let label = 0; label < spec.files.length; label++) {
    const block = await decodeJpegBlock({
      files: spec.files[label],
      ...spec.entry(label),
      width: spec.size,
      height: spec.size,
      transform: (image, _file, index) => spec.transform(image, label, index),
      warn: spec.warn,
      noCache: spec.noCache,
      into: views[label],
    });
    histograms.push(block.histogram);
    if (!block.fromCache) spec.onDecoded?.(label);
  }
  return { split, histogram: addHistograms(histograms) };
}
