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
import crypto from 'node:crypto';
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
  compareByTrailingNumber,
  compareCodePoints,
  limitClasses,
  requireFile,
  resolveCacheDir,
  resolveLog,
} from './common';
import { cacheKey, cached, sha256Hex } from './cache';
import { DECODE_VERSION, JpegEncoder, decodeJpeg, decodeJpegs, jpegHeaderLength } from './jpeg';
import { resizeArea } from './resize';
import { readTarFile } from './archive';

export const EMBEDDED_DIR = path.join(REPO_ROOT, 'data', 'embedded');
const PACK_MAGIC = Buffer.from('KDCLJPK1', 'ascii');

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

interface PackSplit {
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

export interface SourceImage {
  /** File name in the original dataset. */
  source: string;
  jpeg: Uint8Array;
}

/**
 * Encodes one class's images into a pack: each source JPEG is decoded, area-resized to `spec.imageSize` and
 * re-encoded; the JPEG header common to all of them is stored once.
 */
export function buildPack(
  info: { classId: number; wnid: string; name: string },
  train: SourceImage[],
  test: SourceImage[],
  spec: { imageSize: number; quality: number } = EMBEDDED_SPEC,
): Buffer {
  const encoder = new JpegEncoder(spec.quality);
  let sharedHeader: Uint8Array | null = null;
  const bodies: Uint8Array[] = [];
  const encodeAll = (images: SourceImage[]): PackSplit => {
    const split: PackSplit = { sources: [], bytes: [] };
    for (const image of images) {
      const small = resizeArea(decodeJpeg(image.jpeg, image.source), spec.imageSize, spec.imageSize);
      const jpeg = encoder.encode(small);
      const headerBytes = jpegHeaderLength(jpeg);
      if (sharedHeader === null) sharedHeader = jpeg.slice(0, headerBytes);
      else if (headerBytes !== sharedHeader.length || !Buffer.from(sharedHeader).equals(Buffer.from(jpeg.subarray(0, headerBytes)))) {
        throw new Error(`JPEG header of ${image.source} differs from the pack's shared header`);
      }
      bodies.push(jpeg.subarray(headerBytes));
      split.sources.push(image.source);
      split.bytes.push(jpeg.length - headerBytes);
    }
    return split;
  };
  const trainSplit = encodeAll(train);
  const testSplit = encodeAll(test);
  if (sharedHeader === null) throw new Error(`no images for class ${info.wnid}`);
  const header: PackHeader = {
    format: 'kdcl-jpeg-pack',
    version: 1,
    classId: info.classId,
    wnid: info.wnid,
    name: info.name,
    width: spec.imageSize,
    height: spec.imageSize,
    quality: spec.quality,
    jpegHeaderBytes: (sharedHeader as Uint8Array).length,
    train: trainSplit,
    test: testSplit,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  return Buffer.concat([PACK_MAGIC, length, json, sharedHeader as Uint8Array, ...bodies]);
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

/** Tiny ImageNet metadata and the source JPEGs of the chosen classes, read straight from the two archives. */
export async function readTinyImageNetSources(
  archiveDir: string,
  pickWnids: (sortedWnids: string[]) => string[],
  trainPerClass: number,
  log: (line: string) => void = () => {},
): Promise<{ allWnids: string[]; wnids: string[]; names: Map<string, string>; train: Map<string, SourceImage[]>; test: Map<string, SourceImage[]> }> {
  const valArchive = path.join(archiveDir, 'tiny-imagenet-200-val.tar.gz');
  const trainArchive = path.join(archiveDir, 'tiny-imagenet-200-train.tar.gz');
  for (const file of [valArchive, trainArchive]) requireFile(file, 'pass --source <folder with tiny-imagenet-200-{train,val}.tar.gz>');
  let wnidsText = '';
  let wordsText = '';
  let annotations = '';
  const valImages = new Map<string, Uint8Array>();
  for await (const entry of readTarFile(valArchive)) {
    if (entry.type !== 'file') continue;
    const base = path.posix.basename(entry.name);
    if (entry.name.endsWith('/wnids.txt')) wnidsText = entry.data.toString('utf8');
    else if (entry.name.endsWith('/words.txt')) wordsText = entry.data.toString('utf8');
    else if (entry.name.endsWith('/val_annotations.txt')) annotations = entry.data.toString('utf8');
    else if (entry.name.includes('/val/images/')) valImages.set(base, new Uint8Array(entry.data));
  }
  if (!wnidsText || !wordsText || !annotations) throw new DatasetError('The val archive lacks wnids.txt, words.txt or val_annotations.txt', valArchive, 'use the original archive');
  const all = wnidsText.split(/\s+/).filter(Boolean).sort(compareCodePoints);
  const wnids = pickWnids(all);
  const chosen = new Set(wnids);
  const names = new Map<string, string>();
  for (const line of wordsText.split(/\r?\n/)) {
    const [wnid, words] = line.split('\t');
    if (chosen.has(wnid)) names.set(wnid, words.split(',')[0].trim());
  }
  const test = new Map<string, SourceImage[]>(wnids.map((w) => [w, []]));
  for (const line of annotations.split(/\r?\n/)) {
    const [file, wnid] = line.split('\t');
    const list = test.get(wnid);
    if (!list) continue;
    const jpeg = valImages.get(file);
    if (!jpeg) throw new DatasetError(`val_annotations.txt lists ${file}, which is not in the archive`, valArchive, 'use the original archive');
    list.push({ source: file, jpeg });
  }
  for (const list of test.values()) list.sort((a, b) => compareByTrailingNumber(a.source, b.source));
  log(`read ${valImages.size} val images; scanning the train archive`);
  const train = new Map<string, SourceImage[]>(wnids.map((w) => [w, []]));
  for await (const entry of readTarFile(trainArchive)) {
    if (entry.type !== 'file') continue;
    const match = /\/train\/(n\d+)\/images\/(n\d+_(\d+)\.JPEG)$/.exec(entry.name);
    if (!match || !chosen.has(match[1]) || Number(match[3]) >= trainPerClass) continue;
    train.get(match[1])!.push({ source: match[2], jpeg: new Uint8Array(entry.data) });
  }
  for (const [wnid, list] of train) {
    list.sort((a, b) => compareByTrailingNumber(a.source, b.source));
    if (list.length !== trainPerClass) throw new DatasetError(`Class ${wnid} has ${list.length} of the ${trainPerClass} expected training images`, trainArchive, 'use the original archive');
  }
  return { allWnids: all, wnids, names, train, test };
}

/** sha256 of a file, streamed. */
export async function sha256OfFile(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Builds the embedded dataset from the Tiny ImageNet archives in `sourceDir`: the manifest and every pack (keyed by
 * its path relative to data/embedded). `onlyClassIds` builds just those classes (ids and files as in the full build),
 * for quick reproducibility checks; the manifest then lists only them.
 */
export async function buildEmbedded(
  sourceDir: string,
  options: { onlyClassIds?: number[]; spec?: typeof EMBEDDED_SPEC; log?: (line: string) => void } = {},
): Promise<{ manifest: EmbeddedManifest; packs: Map<string, Buffer> }> {
  const spec = options.spec ?? EMBEDDED_SPEC;
  const log = options.log ?? (() => {});
  const only = options.onlyClassIds ? new Set(options.onlyClassIds) : null;
  const pick = (sorted: string[]) => {
    const selected = selectEmbeddedWnids(sorted);
    if (selected.length !== spec.classes) throw new Error(`selection gave ${selected.length} classes, spec says ${spec.classes}`);
    return only ? selected.filter((_, id) => only.has(id)) : selected;
  };
  const sources = await readTinyImageNetSources(sourceDir, pick, spec.trainPerClass, log);
  const allSelected = selectEmbeddedWnids(sources.allWnids);
  const archives: Record<string, string> = {};
  for (const name of ['tiny-imagenet-200-train.tar.gz', 'tiny-imagenet-200-val.tar.gz']) archives[name] = await sha256OfFile(path.join(sourceDir, name));
  const packs = new Map<string, Buffer>();
  const classes: EmbeddedClass[] = [];
  for (const wnid of sources.wnids) {
    const id = allSelected.indexOf(wnid);
    const name = sources.names.get(wnid) ?? wnid;
    const train = sources.train.get(wnid)!;
    const test = sources.test.get(wnid)!.slice(0, spec.testPerClass);
    const pack = buildPack({ classId: id, wnid, name }, train, test, spec);
    const file = `classes/${String(id).padStart(3, '0')}-${wnid}.jpk`;
    packs.set(file, pack);
    classes.push({ id, wnid, name, file, bytes: pack.length, sha256: sha256Hex(pack), train: train.length, test: test.length });
    log(`class ${id} ${wnid} (${name}): ${train.length} train + ${test.length} test, ${pack.length} bytes`);
  }
  const manifest: EmbeddedManifest = {
    format: 'kdcl-embedded',
    version: 1,
    selection: EMBEDDED_SELECTION,
    spec,
    source: { dataset: 'Tiny ImageNet-200 (CS231n), tiny-imagenet-200-{train,val}.tar.gz', archives },
    totalBytes: classes.reduce((n, c) => n + c.bytes, 0),
    classes,
  };
  return { manifest, packs };
}
