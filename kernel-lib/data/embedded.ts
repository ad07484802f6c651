/**
 * The embedded dataset (data/embedded/, committed): 100 Tiny ImageNet-200 classes at 32x32, the default dataset of
 * the notebooks and the main job. See data/embedded/README.md for what it holds and its licence.
 *
 * One "JPEG pack" file per class, `classes/<id>-<wnid>.jpk`:
 *   bytes 0..7    ASCII magic `KDCLJPK1`
 *   bytes 8..11   uint32 LE length H of the header
 *   H bytes       UTF-8 JSON header: { format, version, classId, wnid, name, width, height, quality,
 *                 jpegHeaderBytes: N, train: { sources, bytes }, test: { sources, bytes } }
 *   N bytes       the JPEG header (SOI up to and including the SOS segment) shared by every image of the pack
 *   then          each image's entropy-coded data + EOI: train images in order, then test images; `bytes` gives
 *                 their lengths. Shared header + one image's data is a complete baseline JPEG (the "abbreviated
 *                 format" idea of ITU T.81 Annex B: tables stored once), which halves the size of a 32x32 image.
 * `manifest.json` lists the classes and the sha256 of every pack; the loader checks it when it decodes a pack.
 *
 * Everything here is deterministic (jpeg-js decode, integer-exact 2x2 area resize, jpeg-js encode at fixed quality),
 * so scripts/build-embedded.ts rebuilds the same bytes from the Tiny ImageNet archives.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ImageDataset } from './types';
import {
  DatasetError,
  type LoadOptions,
  REPO_ROOT,
  type ChannelHistogram,
  addHistograms,
  allocateSplit,
  channelHistogram,
  isChannelHistogram,
  makeDataset,
  checkImageSize,
  compareCodePoints,
  limitClasses,
  requireFile,
  resolveCacheDir,
  resolveLog,
} from './common';
import { cacheKey, cached, sha256Hex } from './cache';
import { DECODE_VERSION, decodeJpegs } from './jpeg';
import { resizeArea } from './resize';

export const EMBEDDED_DIR = path.join(REPO_ROOT, 'data', 'embedded');
export const PACK_MAGIC = Buffer.from('KDCLJPK1', 'ascii');

/** How the committed dataset is built (recorded in its manifest). */
export const EMBEDDED_SPEC = {
  classes: 100,
  imageSize: 32,
  quality: 90,
  trainPerClass: 400,
  testPerClass: 50,
} as const;

export const EMBEDDED_SELECTION =
  'Tiny ImageNet-200 wnids sorted by code point; classes at even positions (0, 2, ..., 198), in that order. ' +
  'Train: <wnid>_<k>.JPEG for k = 0 .. trainPerClass-1 (from train/). Test: all 50 val images of the class ' +
  '(val_annotations.txt), by file number. 64x64 -> 32x32 by 2x2 mean rounded half up, then jpeg-js 0.4.4 baseline ' +
  'encoding (4:4:4) at quality 90.';

export interface EmbeddedClass {
  id: number;
  wnid: string;
  name: string;
  file: string;
  bytes: number;
  sha256: string;
  train: number;
  test: number;
}

export interface EmbeddedManifest {
  format: 'kdcl-embedded';
  version: 1;
  selection: string;
  spec: typeof EMBEDDED_SPEC;
  source: { dataset: string; archives: Record<string, string> };
  totalBytes: number;
  classes: EmbeddedClass[];
}

export interface PackSplit {
  sources: string[];
  bytes: number[];
}

export interface PackHeader {
  format: 'kdcl-jpeg-pack';
  version: 1;
  classId: number;
  wnid: string;
  name: string;
  width: number;
  height: number;
  quality: number;
  jpegHeaderBytes: number;
  train: PackSplit;
  test: PackSplit;
}

/** The embedded classes: every other wnid of the sorted list (spans the whole list, so animals and objects both). */
export function selectEmbeddedWnids(wnids: string[]): string[] {
  return [...wnids].sort(compareCodePoints).filter((_, i) => i % 2 === 0);
}


/** Header and the complete JPEG of every image of a pack. `file` names the pack in errors. */
export function parsePack(bytes: Uint8Array, file: string): { header: PackHeader; train: Uint8Array[]; test: Uint8Array[] } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const fix = 'restore it with `git checkout -- data/embedded` or rebuild it with `npx tsx scripts/build-embedded.ts`';
  if (buffer.length < 12 || !buffer.subarray(0, 8).equals(PACK_MAGIC)) throw new DatasetError('Not a kdcl JPEG pack (bad magic bytes)', file, fix);
  const headerLength = buffer.readUInt32LE(8);
  let header: PackHeader;
  try {
    header = JSON.parse(buffer.subarray(12, 12 + headerLength).toString('utf8'));
  } catch {
    throw new DatasetError('Unreadable pack header', file, fix);
  }
  const jpegHeader = buffer.subarray(12 + headerLength, 12 + headerLength + header.jpegHeaderBytes);
  let at = 12 + headerLength + header.jpegHeaderBytes;
  const split = (s: PackSplit) =>
    s.bytes.map((n) => {
      const body = buffer.subarray(at, at + n);
      at += n;
      return Buffer.concat([jpegHeader, body]);
    });
  const train = split(header.train);
  const test = split(header.test);
  if (at !== buffer.length) throw new DatasetError(`Pack size ${buffer.length} does not match its header (${at} bytes)`, file, fix);
  return { header, train, test };
}

export function readManifest(dir: string): EmbeddedManifest {
  const file = path.join(dir, 'manifest.json');
  requireFile(file, 'restore data/embedded/ with `git checkout -- data/embedded`, or rebuild it with `npx tsx scripts/build-embedded.ts`');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as EmbeddedManifest;
  } catch {
    throw new DatasetError('Unreadable manifest (not JSON)', file, 'restore it with `git checkout -- data/embedded/manifest.json`');
  }
}

export interface EmbeddedOptions extends LoadOptions {
  noCache?: boolean;
}

/**
 * The embedded dataset. Class order: as in the manifest (sorted wnids). Default size 32 (as stored); another
 * `imageSize` is resized from 32x32 with the area filter (for 64x64 use 'tiny-imagenet').
 */
export async function loadEmbedded(options: EmbeddedOptions = {}): Promise<ImageDataset> {
  checkImageSize(options.imageSize);
  const log = resolveLog(options.log);
  const dir = path.resolve(options.dataDir ?? EMBEDDED_DIR);
  const manifest = readManifest(dir);
  const classes = limitClasses(manifest.classes, options.classesLimit, 'embedded');
  const stored = manifest.spec.imageSize;
  const size = options.imageSize ?? stored;
  const imageBytes = size * size * 3;
  const cacheDir = resolveCacheDir(options.cacheDir);
  const manifestFile = path.join(dir, 'manifest.json');
  classes.forEach((entry, i) => {
    if (entry.id !== i) throw new DatasetError(`Class ${i} of the manifest has id ${entry.id}`, manifestFile, 'restore it with `git checkout -- data/embedded`');
  });
  const train = allocateSplit(classes.map((c) => c.train), size);
  const test = allocateSplit(classes.map((c) => c.test), size);
  const histograms: ChannelHistogram[] = [];
  for (const entry of classes) {
    const file = path.join(dir, entry.file);
    requireFile(file, 'restore data/embedded/ with `git checkout -- data/embedded`');
    const stat = fs.statSync(file);
    const key = cacheKey({ v: DECODE_VERSION, sha256: entry.sha256, size, bytes: stat.size, mtimeMs: Math.round(stat.mtimeMs) });
    const trainView = train.views[entry.id];
    const result = await cached(
      path.join(cacheDir, 'decoded', 'embedded', `${path.basename(entry.file, '.jpk')}-${size}.kdc`),
      key,
      async () => {
        const bytes = fs.readFileSync(file);
        const actual = sha256Hex(bytes);
        if (actual !== entry.sha256) {
          throw new DatasetError(
            `Checksum mismatch: manifest says sha256 ${entry.sha256}, file has ${actual}`,
            file,
            'restore it with `git checkout -- data/embedded` (or rebuild data/embedded with `npx tsx scripts/build-embedded.ts`)',
          );
        }
        const pack = parsePack(bytes, file);
        if (pack.train.length !== entry.train || pack.test.length !== entry.test) {
          throw new DatasetError(`Pack holds ${pack.train.length} + ${pack.test.length} images, manifest says ${entry.train} + ${entry.test}`, manifestFile, 'restore data/embedded with `git checkout -- data/embedded`');
        }
        const all = [...pack.train, ...pack.test];
        const sources = [...pack.header.train.sources, ...pack.header.test.sources];
        const payload = new Uint8Array(all.length * imageBytes);
        const decoded = await decodeJpegs(all.map((jpeg, i) => ({ bytes: jpeg, source: `${file} (image ${i}, from ${sources[i]})` })));
        decoded.forEach((image, i) => payload.set(resizeArea(image, size, size).data, i * imageBytes));
        return { payload, meta: { trainHistogram: channelHistogram(payload.subarray(0, trainView.length)) } };
      },
      // One entry per class holds its train images, then its test images: read straight into both splits.
      { warn: log, disabled: options.noCache, into: [trainView, test.views[entry.id]] },
    );
    histograms.push(isChannelHistogram(result.meta.trainHistogram) ? result.meta.trainHistogram : channelHistogram(trainView));
  }
  return makeDataset('embedded', train.split, test.split, classes.map((c) => c.name), addHistograms(histograms));
}
