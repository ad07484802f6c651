/** Fixtures shared by the tests: temp folders, generated CIFAR records and JPEG folders, class-coloured synthetic datasets. */
import type { ImageDataset, ImageSplit } from '../kernel-lib/data/types';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { createTar } from '../kernel-lib/data/archive';
import { JpegEncoder } from '../kernel-lib/data/jpeg';
import { REPO_ROOT } from '../kernel-lib/data/common';

export const SHARED_TINY_IMAGENET = path.resolve(REPO_ROOT, '../shared/data/tiny-imagenet-200');
export const HAVE_SHARED_TINY_IMAGENET = fs.existsSync(path.join(SHARED_TINY_IMAGENET, 'tiny-imagenet-200-train.tar.gz'));

const tempDirs: string[] = [];

/** A fresh folder under the OS temp dir; removeTempDirs() deletes all of them (call it in afterAll). */
export function makeTempDir(tag: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kdcl-${tag}-`));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Every file under `dir` whose name marks it as a temp file of an atomic write. */
export function tempFilesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((name) => /\.tmp-|\.partial/.test(name));
}

/** A deterministic byte for (record, plane, pixel). */
export function cifarPixel(record: number, channel: number, pixel: number): number {
  return (record * 31 + channel * 101 + pixel * 7) & 255;
}

/**
 * CIFAR-100 binary records in the official layout (coarse, fine, 1024 R, 1024 G, 1024 B): `records` of them, the
 * given ones repeated in turn (record r is pattern r mod n), so files have the official counts and stay cheap.
 */
export function makeCifarBin(fineLabels: number[], records = fineLabels.length): Buffer {
  const block = Buffer.alloc(fineLabels.length * 3074);
  fineLabels.forEach((fine, r) => {
    const at = r * 3074;
    block[at] = fine % 20;
    block[at + 1] = fine;
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) block[at + 2 + c * 1024 + p] = cifarPixel(r, c, p);
  });
  const out = Buffer.alloc(records * 3074);
  for (let r = 0; r < records; r += fineLabels.length) block.copy(out, r * 3074, 0, Math.min(fineLabels.length, records - r) * 3074);
  return out;
}

/** The labels of a makeCifarBin file of `records` records. */
export function cifarLabels(fineLabels: number[], records: number): number[] {
  return Array.from({ length: records }, (_, r) => fineLabels[r % fineLabels.length]);
}

export const CIFAR_FINE_NAMES = Array.from({ length: 100 }, (_, i) => `class_${String(i).padStart(2, '0')}`);

export const CIFAR_TRAIN_LABELS = [3, 0, 1, 2, 0, 99, 1, 3, 2, 50, 0, 1];
export const CIFAR_TEST_LABELS = [1, 0, 3, 2, 99];

/** The files of cifar-100-binary/ for the generated records. */
export function cifarMembers(): Record<string, Buffer> {
  return {
    'train.bin': makeCifarBin(CIFAR_TRAIN_LABELS, 50_000),
    'test.bin': makeCifarBin(CIFAR_TEST_LABELS, 10_000),
    'fine_label_names.txt': Buffer.from(CIFAR_FINE_NAMES.join('\n') + '\n'),
    'coarse_label_names.txt': Buffer.from(Array.from({ length: 20 }, (_, i) => `coarse_${i}`).join('\n') + '\n'),
  };
}

/** A cifar-100-binary.tar.gz of the generated members, laid out like the official archive. */
export async function makeCifarArchive(): Promise<Buffer> {
  const members = cifarMembers();
  return zlib.gzipSync(
    await createTar([
      { name: 'cifar-100-binary', type: 'directory' },
      ...Object.entries(members).map(([name, data]) => ({ name: `cifar-100-binary/${name}`, data })),
    ]),
  );
}

/** A smooth RGB test image with a per-seed pattern (compresses well, survives JPEG recognisably). */
export function patternImage(width: number, height: number, seed: number): { width: number; height: number; data: Uint8Array } {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      data[o] = (seed * 40 + (x * 255) / width) & 255;
      data[o + 1] = (seed * 70 + (y * 255) / height) & 255;
      data[o + 2] = (seed * 90) & 255;
    }
  }
  return { width, height, data };
}

const encoder = new JpegEncoder(90);

export function writeJpeg(file: string, width: number, height: number, seed: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, encoder.encode(patternImage(width, height, seed)));
}

/** How a synthetic class looks: channel value offset + (class * (channel + 1) * multiplier) % range + noise. */
export interface ClassColourPattern {
  offset: number;
  multiplier: number;
  range: number;
  noise: number;
}

const CLASS_COLOURS: ClassColourPattern = { offset: 40, multiplier: 67, range: 170, noise: 60 };

/** Images whose colour depends on the class, plus seeded noise (learnable in an epoch or two). */
export function classColouredSplit(classes: number, perClass: number, size: number, seed: number, pattern = CLASS_COLOURS): ImageSplit {
  const count = classes * perClass;
  const pixel = size * size * 3;
  const images = new Uint8Array(count * pixel);
  const labels = new Int32Array(count);
  let s = seed >>> 0;
  const noise = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  for (let i = 0; i < count; i++) {
    const c = i % classes;
    labels[i] = c;
    for (let p = 0; p < pixel; p++) {
      const base = pattern.offset + ((c * ((p % 3) + 1) * pattern.multiplier) % pattern.range);
      images[i * pixel + p] = Math.min(255, Math.floor(base + noise() * pattern.noise));
    }
  }
  return { images, labels, count, height: size, width: size, channels: 3 };
}

/** A synthetic dataset of class-coloured images (train seed 5, test seed 9), normalised around 0.5. */
export function classColouredDataset(
  name: string,
  shape: { classes: number; trainPerClass: number; testPerClass: number; size: number },
  pattern = CLASS_COLOURS,
): ImageDataset {
  return {
    name,
    train: classColouredSplit(shape.classes, shape.trainPerClass, shape.size, 5, pattern),
    test: classColouredSplit(shape.classes, shape.testPerClass, shape.size, 9, pattern),
    classNames: Array.from({ length: shape.classes }, (_, c) => `class${c}`),
    mean: [0.5, 0.5, 0.5],
    std: [0.25, 0.25, 0.25],
  };
}
