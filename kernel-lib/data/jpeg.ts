/**
 * JPEG decode/encode through jpeg-js (pure JavaScript, deterministic, pinned at 0.4.4 in package.json).
 *
 * Decoding always yields RGB: greyscale JPEGs (about 2% of ImageNet) are expanded to three equal channels and Adobe
 * CMYK/YCCK ones are converted by jpeg-js. Any decoder failure becomes a DatasetError naming the file.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import jpeg from 'jpeg-js';
import { DatasetError } from './common.ts';
import { cacheKey, cached, fileFingerprints } from './cache.ts';

export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes, row-major RGB. */
  data: Uint8Array;
}

/** Decodes JPEG bytes to RGB. `source` (a path or archive member) is named in the error if the bytes are not a valid JPEG. */
export function decodeJpeg(bytes: Uint8Array, source: string): RgbImage {
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false, maxMemoryUsageInMB: 1024 });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new DatasetError(
      `Corrupt or unsupported JPEG (${reason})`,
      source,
      'replace this file with a good copy from the original dataset archive (or delete it and re-extract the archive)',
    );
  }
  const { width, height, data } = decoded;
  if (data.length !== width * height * 3) {
    throw new DatasetError(`JPEG decoded to ${data.length} bytes, expected ${width}x${height}x3`, source, 'replace this file with a good copy');
  }
  return { width, height, data };
}

export function decodeJpegFile(file: string): RgbImage {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    throw new DatasetError('Missing or unreadable image file', file, 'restore the file from the original dataset archive');
  }
  return decodeJpeg(bytes, file);
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
  const require = createRequire(import.meta.url);
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
}

/**
 * Decodes, transforms and concatenates `files` into one uint8 NHWC block, through the decoded-image cache: when the
 * files (names, sizes, mtimes) and `keyParts` match a valid entry, nothing is decoded.
 */
export async function decodeJpegBlock(options: DecodeBlockOptions): Promise<{ images: Uint8Array; fromCache: boolean }> {
  const { files, width, height } = options;
  const key = cacheKey({ v: DECODE_VERSION, parts: options.keyParts, width, height, files: fileFingerprints(files) });
  const result = await cached(
    options.cacheFile,
    key,
    () => {
      const imageBytes = width * height * 3;
      const images = new Uint8Array(files.length * imageBytes);
      files.forEach((file, index) => {
        const out = options.transform(decodeJpegFile(file), file, index);
        if (out.width !== width || out.height !== height) throw new Error(`transform gave ${out.width}x${out.height}, expected ${width}x${height}`);
        images.set(out.data, index * imageBytes);
      });
      return { payload: images, meta: { count: files.length, width, height } };
    },
    { warn: options.warn, disabled: options.noCache },
  );
  return { images: result.payload, fromCache: result.fromCache };
}
