/**
 * CIFAR-100, binary version (https://www.cs.toronto.edu/~kriz/cifar.html).
 *
 * `cifar-100-binary.tar.gz` holds `cifar-100-binary/{train.bin,test.bin,fine_label_names.txt,coarse_label_names.txt}`.
 * Each record of the .bin files is 3074 bytes: coarse label, fine label, then 1024 red, 1024 green and 1024 blue bytes
 * of a row-major 32x32 image. We return the fine labels (100 classes, ids as in the file) and NHWC pixels.
 *
 * Where the data is looked for, in order, in `dataDir` (default $KDCL_DATA_DIR/cifar-100, else <cacheDir>/cifar-100):
 *   1. `train.bin` + `test.bin` (+ `fine_label_names.txt`) directly, or under `cifar-100-binary/`; one of the two
 *      without the other is an error naming the missing file;
 *   2. `cifar-100-binary.tar.gz` (MD5-checked, then extracted next to it);
 *   3. otherwise the archive is downloaded from the official URL (temp file, MD5 check, rename), then as 2, but only
 *      into kdcl's own cache folder: a folder the user named (`dataDir`, $KDCL_DATA_DIR) is never downloaded into
 *      unless `download: true` says so.
 * The files must hold the official record counts (train.bin 50,000, test.bin 10,000).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ImageDataset, ImageSplit } from './types';
import { DatasetError, type LoadOptions, isFile, limitClasses, makeDataset, resolveCacheDir, resolveLog, checkImageSize } from './common';
import { tempPathFor, writeFileAtomic } from './cache';
import { readTarFile, safeRelativePath } from './archive';
import { resizeArea } from './resize';

export const CIFAR100_URL = 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz';
/** Published on https://www.cs.toronto.edu/~kriz/cifar.html ("CIFAR-100 binary version"); the same value is in e.g. mila's datasets--cifar100 md5sums. */
export const CIFAR100_MD5 = '03b5dce01913d631647c71ecec9e9cb8';
export const CIFAR100_ARCHIVE = 'cifar-100-binary.tar.gz';
const MEMBER_DIR = 'cifar-100-binary';
const RECORD_BYTES = 2 + 3072;
const SIDE = 32;

/** Records in the official files. */
export const CIFAR100_RECORDS = { train: 50_000, test: 10_000 } as const;

export interface Cifar100Options extends LoadOptions {
  /** Download the archive when no data is found (default: into kdcl's cache folder only, never into a folder the user named). */
  download?: boolean;
  /** Archive URL (default the official one, or $KDCL_CIFAR100_URL); tests point it at a local server. */
  url?: string;
  /** Expected MD5 of the archive (default the official one). */
  md5?: string;
}

export function defaultCifar100Dir(cacheDir?: string): string {
  return process.env.KDCL_DATA_DIR ? path.join(process.env.KDCL_DATA_DIR, 'cifar-100') : path.join(resolveCacheDir(cacheDir), 'cifar-100');
}

const FIX_DOWNLOAD = (dir: string) =>
  `download ${CIFAR100_URL} (MD5 ${CIFAR100_MD5}) and put it at ${path.join(dir, CIFAR100_ARCHIVE)} (or extract it there), ` +
  'or pass { dataDir: <the folder that holds it> } or set KDCL_DATA_DIR so that $KDCL_DATA_DIR/cifar-100 is that folder';

/** Finds train.bin/test.bin in `dir` or `dir/cifar-100-binary`. */
function findBinaryFolder(dir: string): string | null {
  for (const candidate of [dir, path.join(dir, MEMBER_DIR)]) {
    if (isFile(path.join(candidate, 'train.bin')) && isFile(path.join(candidate, 'test.bin'))) return candidate;
  }
  return null;
}

export async function md5OfFile(file: string): Promise<string> {
  const hash = crypto.createHash('md5');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function checksumError(file: string, expected: string, actual: string, fix: string): DatasetError {
  return new DatasetError(`Checksum mismatch: expected MD5 ${expected}, got ${actual}`, file, fix);
}

/**
 * Downloads `url` to `target`: streamed into a temp file in the same folder while hashing, MD5 checked, then renamed.
 * On any failure the temp file is removed and `target` is left untouched.
 */
export async function downloadVerified(url: string, target: string, expectedMd5: string, log: (line: string) => void): Promise<void> {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const temp = tempPathFor(target);
  const fix = `check your network, or download ${url} yourself and put it at ${target}`;
  try {
    log(`downloading ${url} -> ${target}`);
    let response: Response;
    try {
      response = await fetch(url);
    } catch (err) {
      throw new DatasetError(`Download failed (${err instanceof Error ? err.message : String(err)})`, url, fix);
    }
    if (!response.ok || !response.body) throw new DatasetError(`Download failed: HTTP ${response.status}`, url, fix);
    const hash = crypto.createHash('md5');
    const fd = fs.openSync(temp, 'w');
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        fs.writeSync(fd, chunk);
      }
    } finally {
      fs.closeSync(fd);
    }
    const actual = hash.digest('hex');
    if (actual !== expectedMd5) {
      throw checksumError(`${url} (downloaded to ${target})`, expectedMd5, actual, `the download from ${url} is damaged or not the CIFAR-100 binary archive; try again, or download it yourself and put it at ${target}`);
    }
    fs.renameSync(temp, target);
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

/** Writes the archive's `cifar-100-binary/*` members into `dir/cifar-100-binary/` (each file atomically). */
async function extractArchive(archive: string, dir: string): Promise<void> {
  for await (const entry of readTarFile(archive)) {
    if (entry.type !== 'file') continue;
    const name = safeRelativePath(entry.name, archive);
    if (!name.startsWith(`${MEMBER_DIR}/`)) continue;
    writeFileAtomic(path.join(dir, name), entry.data);
  }
}

/** Records of a .bin file as NHWC images + fine labels, checking size and label range. */
export function parseCifar100Bin(bytes: Uint8Array, file: string): { images: Uint8Array; labels: Int32Array; count: number } {
  if (bytes.length === 0 || bytes.length % RECORD_BYTES !== 0) {
    throw new DatasetError(
      `Truncated or wrong CIFAR-100 binary file: ${bytes.length} bytes is not a whole number of ${RECORD_BYTES}-byte records`,
      file,
      `delete it and get it again from ${CIFAR100_URL} (train.bin has 50000 records, test.bin 10000)`,
    );
  }
  const count = bytes.length / RECORD_BYTES;
  const images = new Uint8Array(count * 3072);
  const labels = new Int32Array(count);
  for (let r = 0; r < count; r++) {
    const at = r * RECORD_BYTES;
    const fine = bytes[at + 1];
    if (fine >= 100) {
      throw new DatasetError(`Record ${r} has fine label ${fine} (must be < 100): not a CIFAR-100 binary file`, file, `get the file again from ${CIFAR100_URL}`);
    }
    labels[r] = fine;
    const pixels = at + 2;
    const out = r * 3072;
    for (let p = 0; p < 1024; p++) {
      images[out + p * 3] = bytes[pixels + p];
      images[out + p * 3 + 1] = bytes[pixels + 1024 + p];
      images[out + p * 3 + 2] = bytes[pixels + 2048 + p];
    }
  }
  return { images, labels, count };
}

function readClassNames(folder: string): string[] {
  const file = path.join(folder, 'fine_label_names.txt');
  if (!isFile(file)) {
    throw new DatasetError('Missing file', file, `extract fine_label_names.txt from ${CIFAR100_ARCHIVE} into ${folder}`);
  }
  const names = fs.readFileSync(file, 'utf8').split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length !== 100) {
    throw new DatasetError(`Expected 100 class names, found ${names.length}`, file, `extract fine_label_names.txt again from ${CIFAR100_ARCHIVE}`);
  }
  return names;
}

/** Finds (downloading if allowed) the folder holding train.bin/test.bin. */
export async function ensureCifar100(options: Cifar100Options = {}): Promise<string> {
  const log = resolveLog(options.log);
  const userFolder = options.dataDir !== undefined || !!process.env.KDCL_DATA_DIR;
  const dir = path.resolve(options.dataDir ?? defaultCifar100Dir(options.cacheDir));
  const found = findBinaryFolder(dir);
  if (found) return found;
  for (const candidate of [dir, path.join(dir, MEMBER_DIR)]) {
    const [train, test] = ['train.bin', 'test.bin'].map((f) => path.join(candidate, f));
    if (isFile(train) !== isFile(test)) {
      throw new DatasetError('Missing file', isFile(train) ? test : train, `put it beside ${isFile(train) ? 'train.bin' : 'test.bin'}: ${FIX_DOWNLOAD(dir)}`);
    }
  }
  const archive = path.join(dir, CIFAR100_ARCHIVE);
  const md5 = options.md5 ?? CIFAR100_MD5;
  if (!isFile(archive)) {
    if (!(options.download ?? !userFolder)) {
      const why = options.download === false ? 'downloads are off' : 'kdcl never downloads into a folder you named (pass download: true to allow it)';
      throw new DatasetError(`CIFAR-100 data not found (no train.bin/test.bin and no archive; ${why})`, dir, FIX_DOWNLOAD(dir));
    }
    await downloadVerified(options.url ?? process.env.KDCL_CIFAR100_URL ?? CIFAR100_URL, archive, md5, log);
  } else {
    const actual = await md5OfFile(archive);
    if (actual !== md5) throw checksumError(archive, md5, actual, `delete it and download it again from ${CIFAR100_URL}`);
  }
  await extractArchive(archive, dir);
  const extracted = findBinaryFolder(dir);
  if (!extracted) throw new DatasetError(`The archive has no ${MEMBER_DIR}/train.bin and test.bin`, archive, FIX_DOWNLOAD(dir));
  return extracted;
}

/**
 * CIFAR-100 (fine labels). Class order: the fine label ids of the files (alphabetical names). Default size 32; other
 * `imageSize` values are resized with the area filter.
 */
export async function loadCifar100(options: Cifar100Options = {}): Promise<ImageDataset> {
  checkImageSize(options.imageSize);
  const folder = await ensureCifar100(options);
  const names = readClassNames(folder);
  const classes = limitClasses(names, options.classesLimit, 'cifar100');
  const size = options.imageSize ?? SIDE;
  const load = (split: 'train' | 'test'): ImageSplit => {
    const file = path.join(folder, `${split}.bin`);
    const parsed = parseCifar100Bin(fs.readFileSync(file), file);
    if (parsed.count !== CIFAR100_RECORDS[split]) {
      throw new DatasetError(
        `${split}.bin holds ${parsed.count} records; the official file holds ${CIFAR100_RECORDS[split]} (cut short, or not the official release)`,
        file,
        `delete it and get it again from ${CIFAR100_URL}`,
      );
    }
    // File order is kept; classesLimit drops the records of the other classes.
    const keep: number[] = [];
    for (let i = 0; i < parsed.count; i++) if (parsed.labels[i] < classes.length) keep.push(i);
    const imageBytes = size * size * 3;
    const images = new Uint8Array(keep.length * imageBytes);
    const labels = new Int32Array(keep.length);
    keep.forEach((i, k) => {
      const image = { width: SIDE, height: SIDE, data: parsed.images.subarray(i * 3072, (i + 1) * 3072) };
      images.set(resizeArea(image, size, size).data, k * imageBytes);
      labels[k] = parsed.labels[i];
    });
    return { images, labels, count: keep.length, height: size, width: size, channels: 3 };
  };
  return makeDataset('cifar100', load('train'), load('test'), classes);
}
