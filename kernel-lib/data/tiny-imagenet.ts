/**
 * Tiny ImageNet-200 (CS231n): 200 classes of 64x64 JPEGs, 500 train and 50 val images per class.
 *
 * Official layout (the "root"): `wnids.txt`, `words.txt`, `train/<wnid>/images/<wnid>_<k>.JPEG`,
 * `val/images/val_<k>.JPEG`, `val/val_annotations.txt` (tab-separated: file, wnid, box). We use train as the
 * training split and val as the test split (the official test split has no labels).
 *
 * `dataDir` may be the root itself, a folder containing `tiny-imagenet-200/` (the official zip, unzipped), or a folder
 * with `tiny-imagenet-200-train.tar.gz` + `tiny-imagenet-200-val.tar.gz` (as in ../shared/data/tiny-imagenet-200);
 * archives are extracted once to `<cacheDir>/tiny-imagenet-200-extracted/`. Default `dataDir`:
 * $KDCL_DATA_DIR/tiny-imagenet-200, else ../shared/data/tiny-imagenet-200 next to the repository.
 *
 * Class order: wnids sorted by code point (wnids.txt itself is in no useful order); class names are the first synonym
 * in words.txt. Images within a class: by the number in the file name. Default size 64; `imageSize` resizes with the
 * area filter. Decoded classes go to the decoded-image cache, one entry per (split, class, size).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ImageDataset } from './types';
import {
  DatasetError,
  type LoadOptions,
  REPO_ROOT,
  checkImageSize,
  compareByTrailingNumber,
  compareCodePoints,
  isDir,
  isFile,
  limitClasses,
  makeDataset,
  requireDir,
  requireFile,
  resolveCacheDir,
  resolveLog,
} from './common';
import { tempPathFor } from './cache';
import { decodeJpegSplit } from './jpeg';
import { resizeArea } from './resize';
import { extractTarFile } from './archive';

export const TINY_IMAGENET_ARCHIVES = ['tiny-imagenet-200-train.tar.gz', 'tiny-imagenet-200-val.tar.gz'] as const;
const NATIVE_SIZE = 64;
const TINY_URL = 'http://cs231n.stanford.edu/tiny-imagenet-200.zip';

export interface TinyImageNetOptions extends LoadOptions {
  /** Skip the decoded-image cache (decode every time). */
  noCache?: boolean;
}

export function defaultTinyImageNetDirs(): string[] {
  const dirs: string[] = [];
  if (process.env.KDCL_DATA_DIR) dirs.push(path.join(process.env.KDCL_DATA_DIR, 'tiny-imagenet-200'));
  dirs.push(path.resolve(REPO_ROOT, '../shared/data/tiny-imagenet-200'));
  return dirs;
}

function howToGetIt(): string {
  return (
    `download ${TINY_URL} (or use the tiny-imagenet-200-{train,val}.tar.gz archives), unzip it, and pass ` +
    `{ dataDir: '<folder>' } or set KDCL_DATA_DIR so that $KDCL_DATA_DIR/tiny-imagenet-200 is that folder ` +
    `(looked in: ${defaultTinyImageNetDirs().join(', ')})`
  );
}

function isRoot(dir: string): boolean {
  return isFile(path.join(dir, 'wnids.txt')) && isDir(path.join(dir, 'train'));
}

function hasArchives(dir: string): boolean {
  return TINY_IMAGENET_ARCHIVES.every((name) => isFile(path.join(dir, name)));
}

/** Sizes and mtimes of the archives: the extraction is redone when they change. */
function archiveStamp(dir: string): { name: string; size: number; mtimeMs: number }[] {
  return TINY_IMAGENET_ARCHIVES.map((name) => {
    const stat = fs.statSync(path.join(dir, name));
    return { name, size: stat.size, mtimeMs: Math.round(stat.mtimeMs) };
  });
}

const MARKER = '.kdcl-extracted.json';

/**
 * Extracts the two archives into `<cacheDir>/tiny-imagenet-200-extracted/` unless an extraction of the same archives
 * is already there. Extraction goes to a temp folder that is renamed into place only when complete.
 */
export async function extractTinyImageNet(archiveDir: string, cacheDir: string, log: (line: string) => void): Promise<string> {
  const target = path.join(cacheDir, 'tiny-imagenet-200-extracted');
  const stamp = JSON.stringify(archiveStamp(archiveDir));
  const root = path.join(target, 'tiny-imagenet-200');
  const markerFile = path.join(target, MARKER);
  if (isFile(markerFile) && fs.readFileSync(markerFile, 'utf8') === stamp) return root;
  fs.mkdirSync(cacheDir, { recursive: true });
  removeAbandonedTemps(target);
  const temp = tempPathFor(target);
  try {
    for (const name of TINY_IMAGENET_ARCHIVES) {
      const started = Date.now();
      const files = await extractTarFile(path.join(archiveDir, name), temp);
      log(`extracted ${files} files from ${name} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    if (!isRoot(path.join(temp, 'tiny-imagenet-200'))) {
      throw new DatasetError('The archives do not contain tiny-imagenet-200/wnids.txt and tiny-imagenet-200/train/', archiveDir, howToGetIt());
    }
    fs.writeFileSync(path.join(temp, MARKER), stamp);
    if (fs.existsSync(target)) {
      // An older extraction (other archives): move it aside first so the rename below stays atomic.
      const old = tempPathFor(target);
      fs.renameSync(target, old);
      fs.rmSync(old, { recursive: true, force: true });
    }
    try {
      fs.renameSync(temp, target);
    } catch (err) {
      // Another process finished the same extraction first: use it.
      if (!(isFile(markerFile) && fs.readFileSync(markerFile, 'utf8') === stamp)) throw err;
    }
  } finally {
    fs.rmSync(temp, { recursive: true, force: true });
  }
  return root;
}

/** Deletes `<target>.tmp-<pid>-*` folders left by extractions whose process no longer runs (killed mid-way). */
function removeAbandonedTemps(target: string): void {
  const prefix = `${path.basename(target)}.tmp-`;
  for (const name of fs.readdirSync(path.dirname(target))) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && !processRuns(pid)) fs.rmSync(path.join(path.dirname(target), name), { recursive: true, force: true });
  }
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The official-layout root for the options, extracting archives if that is what `dataDir` holds. */
export async function resolveTinyImageNetRoot(options: LoadOptions): Promise<string> {
  const log = resolveLog(options.log);
  const candidates = options.dataDir ? [path.resolve(options.dataDir)] : defaultTinyImageNetDirs();
  for (const dir of candidates) {
    if (isRoot(dir)) return dir;
    if (isRoot(path.join(dir, 'tiny-imagenet-200'))) return path.join(dir, 'tiny-imagenet-200');
    if (hasArchives(dir)) return extractTinyImageNet(dir, resolveCacheDir(options.cacheDir), log);
  }
  throw new DatasetError('Tiny ImageNet-200 not found (no wnids.txt + train/ and no archives)', candidates.join(', '), howToGetIt());
}

export interface TinyImageNetIndex {
  root: string;
  /** Sorted wnids. */
  wnids: string[];
  /** First synonym from words.txt, per wnid. */
  names: Map<string, string>;
  /** Validation file names per wnid, sorted by number. */
  val: Map<string, string[]>;
}

/** Reads wnids.txt, words.txt and val_annotations.txt, checking what they refer to. */
export function readTinyImageNetIndex(root: string): TinyImageNetIndex {
  const wnidsFile = path.join(root, 'wnids.txt');
  const wordsFile = path.join(root, 'words.txt');
  const annotationsFile = path.join(root, 'val', 'val_annotations.txt');
  for (const file of [wnidsFile, wordsFile, annotationsFile]) requireFile(file, `restore it from the Tiny ImageNet archive; ${howToGetIt()}`);
  const wnids = fs.readFileSync(wnidsFile, 'utf8').split(/\s+/).filter(Boolean).sort(compareCodePoints);
  if (wnids.length === 0) throw new DatasetError('No wnids listed', wnidsFile, 'restore wnids.txt from the Tiny ImageNet archive');
  const known = new Set(wnids);
  const names = new Map<string, string>();
  for (const line of fs.readFileSync(wordsFile, 'utf8').split(/\r?\n/)) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const wnid = line.slice(0, tab);
    if (known.has(wnid)) names.set(wnid, line.slice(tab + 1).split(',')[0].trim());
  }
  const val = new Map<string, string[]>(wnids.map((w) => [w, []]));
  fs.readFileSync(annotationsFile, 'utf8')
    .split(/\r?\n/)
    .forEach((line, i) => {
      if (!line.trim()) return;
      const [file, wnid] = line.split('\t');
      const list = val.get(wnid);
      if (!file || !list) {
        throw new DatasetError(`Line ${i + 1} names wnid '${wnid}', which is not in wnids.txt`, annotationsFile, 'restore val_annotations.txt and wnids.txt from the same Tiny ImageNet archive');
      }
      list.push(file);
    });
  for (const list of val.values()) list.sort(compareByTrailingNumber);
  return { root, wnids, names, val };
}

/** Training image files of one class, sorted by number. */
export function tinyTrainFiles(root: string, wnid: string): string[] {
  const dir = path.join(root, 'train', wnid, 'images');
  requireDir(dir, `the class ${wnid} listed in wnids.txt has no training images: restore train/${wnid}/ from the Tiny ImageNet archive`);
  const files = fs.readdirSync(dir).filter((f) => /\.jpe?g$/i.test(f)).sort(compareByTrailingNumber);
  if (files.length === 0) throw new DatasetError(`No JPEG files for class ${wnid}`, dir, 'restore the folder from the Tiny ImageNet archive');
  return files.map((f) => path.join(dir, f));
}

export async function loadTinyImageNet(options: TinyImageNetOptions = {}): Promise<ImageDataset> {
  checkImageSize(options.imageSize);
  const log = resolveLog(options.log);
  const root = await resolveTinyImageNetRoot(options);
  const index = readTinyImageNetIndex(root);
  const wnids = limitClasses(index.wnids, options.classesLimit, 'tiny-imagenet');
  const size = options.imageSize ?? NATIVE_SIZE;
  const cacheDir = resolveCacheDir(options.cacheDir);
  const started = Date.now();
  let decodedClasses = 0;
  // All file lists first: a missing class folder is reported before any decoding.
  const files = {
    train: wnids.map((wnid) => tinyTrainFiles(root, wnid)),
    val: wnids.map((wnid) => index.val.get(wnid)!.map((f) => path.join(root, 'val', 'images', f))),
  };
  const loadSplit = (split: 'train' | 'val') =>
    decodeJpegSplit({
      files: files[split],
      size,
      entry: (label) => ({
        cacheFile: path.join(cacheDir, 'decoded', 'tiny-imagenet', split, `${wnids[label]}-${size}.kdc`),
        keyParts: { dataset: 'tiny-imagenet', split, wnid: wnids[label], size },
      }),
      transform: (image) => resizeArea(image, size, size),
      warn: log,
      noCache: options.noCache,
      onDecoded: () => {
        if (++decodedClasses % 20 === 0) log(`tiny-imagenet: decoded ${decodedClasses} class blocks (${((Date.now() - started) / 1000).toFixed(0)} s)`);
      },
    });
  const train = await loadSplit('train');
  const test = await loadSplit('val');
  return makeDataset('tiny-imagenet', train.split, test.split, wnids.map((w) => index.names.get(w) ?? w), train.histogram);
}
