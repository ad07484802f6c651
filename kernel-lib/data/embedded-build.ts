/**
 * Building the embedded dataset's packs from the Tiny ImageNet archives (scripts/build-embedded.ts); the format and
 * the loader are in embedded.ts.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DatasetError, compareByTrailingNumber, compareCodePoints, requireFile } from './common';
import { sha256Hex } from './cache';
import { JpegEncoder, decodeJpeg, jpegHeaderLength } from './jpeg';
import { resizeArea } from './resize';
import { readTarFile } from './archive';
import { PACK_MAGIC, EMBEDDED_SPEC, EMBEDDED_SELECTION, type EmbeddedClass, type EmbeddedManifest, type PackSplit, type PackHeader, selectEmbeddedWnids } from './embedded';

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
