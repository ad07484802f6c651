/**
 * ImageNet-100: 100 ILSVRC-2012 classes in the usual ImageNet folder layout,
 *   <dataDir>/train/<wnid>/*.JPEG   and   <dataDir>/val/<wnid>/*.JPEG
 * (the validation images sorted into wnid folders, as torchvision's ImageFolder expects; a full ImageNet folder works
 * too, only the listed classes are read). The class list is `imagenet100-classes.txt` next to this file (PODNet's
 * split, see its header) or `classListFile`; class ids follow its order. Files within a class: sorted by name.
 *
 * Preprocessing follows the PyTorch references (PyCIL utils/data.py iImageNet100, PODNet datasets.py ImageNet100):
 * resize the shorter side to 256, then crop 224 — centre crop for val, and for train a centre crop (default) or a
 * seeded random crop chosen once at load time (per-epoch augmentation is the batching module's job). Both sizes are
 * configurable: `imageSize` is the crop (default 224) and `resizeShorter` the resize (default imageSize * 256 / 224).
 * Resizing uses the area filter of resize.ts (torchvision uses antialiased bilinear, so pixels differ slightly).
 *
 * Memory: the full set at 224x224 is ~130k train images x 150 KB = ~19.6 GB of uint8, more than this machine's RAM.
 * For CPU work store it small: imageSize 64 (~1.6 GB) or 32 (~0.4 GB). Decoding full-size ImageNet JPEGs with
 * jpeg-js costs tens of ms per image (hours for the whole set, once: the decoded-image cache keeps the result).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ImageDataset } from './types';
import { repoRoot } from '../paths';
import {
  DatasetError,
  type LoadOptions,
  checkImageSize,
  compareCodePoints,
  isDir,
  limitClasses,
  makeDataset,
  requireFile,
  resolveCacheDir,
  resolveLog,
} from './common';
import { decodeJpegSplit, type RgbImage } from './jpeg';
import { centerCrop, crop, resizeShorterSide } from './resize';

export const IMAGENET100_CLASS_LIST = path.join(repoRoot(), 'kernel-lib', 'data', 'imagenet100-classes.txt');

export interface ImageNet100Options extends LoadOptions {
  /** Text file with one wnid per line ('#' comments allowed); default the shipped PODNet list. */
  classListFile?: string;
  /** Shorter side after resizing, before the crop (default round(imageSize * 256 / 224)). */
  resizeShorter?: number;
  /** Training-image crop: 'center' (default) or 'random' (seeded by `seed`, fixed at load time). */
  trainCrop?: 'center' | 'random';
  seed?: number;
  noCache?: boolean;
}

export function defaultImageNet100Dir(): string | undefined {
  return process.env.KDCL_DATA_DIR ? path.join(process.env.KDCL_DATA_DIR, 'imagenet100') : undefined;
}

function howToGetIt(): string {
  return (
    'get ILSVRC-2012 from https://image-net.org/ (registration; non-commercial research and education terms), extract ' +
    'train/<wnid>/*.JPEG and val/ sorted into val/<wnid>/ folders (at least the 100 classes of ' +
    `${path.basename(IMAGENET100_CLASS_LIST)}), then pass { dataDir: '<folder>' } or set KDCL_DATA_DIR so that ` +
    '$KDCL_DATA_DIR/imagenet100 is that folder'
  );
}

/** The wnids of a class-list file, checked for format and duplicates. */
export function readClassList(file: string): string[] {
  requireFile(file, 'pass { classListFile } pointing at a text file with one wnid per line');
  const wnids: string[] = [];
  const seen = new Set<string>();
  fs.readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith('#')) return;
      if (!/^n\d{8}$/.test(line)) throw new DatasetError(`Line ${i + 1} is not a wnid (nXXXXXXXX): '${line}'`, file, 'fix that line; one wnid per line');
      if (seen.has(line)) throw new DatasetError(`Line ${i + 1} repeats wnid ${line}`, file, 'list each class once');
      seen.add(line);
      wnids.push(line);
    });
  if (wnids.length === 0) throw new DatasetError('The class list is empty', file, 'list one wnid per line');
  return wnids;
}

/** Small deterministic PRNG (mulberry32) for the seeded training crops. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hashString(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

export async function loadImageNet100(options: ImageNet100Options = {}): Promise<ImageDataset> {
  checkImageSize(options.imageSize);
  checkImageSize(options.resizeShorter, 'option resizeShorter');
  const log = resolveLog(options.log);
  const dataDir = options.dataDir ? path.resolve(options.dataDir) : defaultImageNet100Dir();
  if (!dataDir || !isDir(path.join(dataDir, 'train')) || !isDir(path.join(dataDir, 'val'))) {
    throw new DatasetError('ImageNet-100 not found (need train/ and val/ folders)', dataDir ?? '(no dataDir given and KDCL_DATA_DIR unset)', howToGetIt());
  }
  const classListFile = path.resolve(options.classListFile ?? IMAGENET100_CLASS_LIST);
  const wnids = limitClasses(readClassList(classListFile), options.classesLimit, 'imagenet100');
  const size = options.imageSize ?? 224;
  const shorter = options.resizeShorter ?? Math.round((size * 256) / 224);
  if (shorter < size) throw new DatasetError(`resizeShorter (${shorter}) is smaller than the crop (${size})`, 'option resizeShorter', `use resizeShorter >= imageSize`);
  const trainCrop = options.trainCrop ?? 'center';
  const seed = options.seed ?? 0;

  // Every listed class must be present in both splits before any decoding starts.
  const filesOf = new Map<string, string[]>();
  for (const split of ['train', 'val'] as const) {
    for (const wnid of wnids) {
      const dir = path.join(dataDir, split, wnid);
      const files = isDir(dir) ? fs.readdirSync(dir).filter((f) => /\.jpe?g$/i.test(f)).sort(compareCodePoints) : [];
      if (files.length === 0) {
        throw new DatasetError(
          `Class ${wnid} from the class list has no images in ${split}/ (${isDir(dir) ? 'empty folder' : 'no such folder'})`,
          `${dir} (listed in ${classListFile})`,
          `add that class's JPEGs under ${split}/${wnid}/, or pass a classListFile that lists only classes your data has`,
        );
      }
      filesOf.set(`${split}/${wnid}`, files.map((f) => path.join(dir, f)));
    }
  }
  const total = [...filesOf.values()].reduce((n, list) => n + list.length, 0);
  const bytes = total * size * size * 3;
  if (bytes > os.totalmem() / 4) {
    log(`imagenet100: ${total} images at ${size}x${size} need ${(bytes / 2 ** 30).toFixed(1)} GiB in memory; consider imageSize 32 or 64`);
  }

  const cacheDir = resolveCacheDir(options.cacheDir);
  const loadSplit = (split: 'train' | 'val') => {
    const random = split === 'train' && trainCrop === 'random';
    const variant = random ? `r${seed}` : 'c';
    // One generator per class, drawn in file order, so a class's crops do not depend on the other classes.
    const rngs = wnids.map((wnid) => mulberry32(hashString(`${seed}/${wnid}`)));
    return decodeJpegSplit({
      files: wnids.map((wnid) => filesOf.get(`${split}/${wnid}`)!),
      size,
      entry: (label) => ({
        cacheFile: path.join(cacheDir, 'decoded', 'imagenet100', split, `${wnids[label]}-${shorter}-${size}${variant}.kdc`),
        keyParts: { dataset: 'imagenet100', dataDir, split, wnid: wnids[label], shorter, size, variant },
      }),
      transform: (image: RgbImage, label: number): RgbImage => {
        const resized = resizeShorterSide(image, shorter);
        if (!random) return centerCrop(resized, size);
        const left = Math.floor(rngs[label]() * (resized.width - size + 1));
        const top = Math.floor(rngs[label]() * (resized.height - size + 1));
        return crop(resized, left, top, size, size);
      },
      warn: log,
      noCache: options.noCache,
    });
  };
  const train = await loadSplit('train');
  const test = await loadSplit('val');
  return makeDataset('imagenet100', train.split, test.split, wnids, train.histogram);
}
