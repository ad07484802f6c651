/**
 * Tiny ImageNet-200 on the real archives in ../shared/data/tiny-imagenet-200 (skipped where they are absent, e.g. in
 * a user's clone). The first run extracts the archives into .cache/ (~20 s); later runs reuse the extraction.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTinyImageNet, readTinyImageNetIndex, resolveTinyImageNetRoot } from '../kernel-lib/data/tiny-imagenet';
import { DatasetError, resizeArea } from '../kernel-lib/data/index';
import type { ImageDataset } from '../kernel-lib/data/types';
import { HAVE_SHARED_TINY_IMAGENET, SHARED_TINY_IMAGENET, makeTempDir, patternImage, removeTempDirs } from './data-helpers';
import { createTar } from '../kernel-lib/data/archive';
import { JpegEncoder } from '../kernel-lib/data/jpeg';

afterAll(removeTempDirs);

const reason = `the real Tiny ImageNet archives are not at ${SHARED_TINY_IMAGENET}`;

describe.skipIf(!HAVE_SHARED_TINY_IMAGENET)(`Tiny ImageNet-200, real subset (skipped when ${reason})`, () => {
  let ds: ImageDataset;

  beforeAll(async () => {
    ds = await loadTinyImageNet({ dataDir: SHARED_TINY_IMAGENET, classesLimit: 4, log: false });
  });

  it('has 500 train and 50 val images per class, at 64x64, labelled by sorted wnid', () => {
    expect(ds.classNames).toEqual(['goldfish', 'European fire salamander', 'bullfrog', 'tailed frog']);
    expect(ds.train.count).toBe(4 * 500);
    expect(ds.test.count).toBe(4 * 50);
    expect([ds.train.height, ds.train.width, ds.train.channels]).toEqual([64, 64, 3]);
    for (let c = 0; c < 4; c++) {
      expect(ds.train.labels.filter((l) => l === c).length).toBe(500);
      expect(ds.test.labels.filter((l) => l === c).length).toBe(50);
    }
    expect(ds.train.images.length).toBe(ds.train.count * 64 * 64 * 3);
    for (const v of [...ds.mean, ...ds.std]) expect(v).toBeGreaterThan(0.1);
  });

  it('expands greyscale JPEGs to RGB (n01644900_75.JPEG is greyscale)', () => {
    const at = (3 * 500 + 75) * 64 * 64 * 3;
    const pixels = ds.train.images.subarray(at, at + 64 * 64 * 3);
    const distinct = new Set<number>();
    for (let p = 0; p < pixels.length; p += 3) {
      expect(pixels[p + 1]).toBe(pixels[p]);
      expect(pixels[p + 2]).toBe(pixels[p]);
      distinct.add(pixels[p]);
    }
    expect(distinct.size).toBeGreaterThan(10);
  });

  it('imageSize 32 gives the 2x2 box average of the 64x64 images', async () => {
    const small = await loadTinyImageNet({ dataDir: SHARED_TINY_IMAGENET, classesLimit: 1, imageSize: 32, log: false });
    expect([small.train.count, small.test.count, small.train.height]).toEqual([500, 50, 32]);
    for (const i of [0, 123, 499]) {
      const big = { width: 64, height: 64, data: ds.train.images.subarray(i * 12288, (i + 1) * 12288) };
      expect(Buffer.from(small.train.images.subarray(i * 3072, (i + 1) * 3072)).equals(Buffer.from(resizeArea(big, 32, 32).data))).toBe(true);
    }
  });

  it('val annotations group 50 images per wnid for all 200 classes', async () => {
    const index = readTinyImageNetIndex(await resolveTinyImageNetRoot({ dataDir: SHARED_TINY_IMAGENET, log: false }));
    expect(index.wnids.length).toBe(200);
    for (const list of index.val.values()) expect(list.length).toBe(50);
  });
});

describe('Tiny ImageNet-200, bad input', () => {
  it('says how to get the data when the folder has neither the layout nor the archives', async () => {
    const dir = makeTempDir('tiny');
    const err = await loadTinyImageNet({ dataDir: dir, log: false }).catch((e) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toContain(dir);
    expect(err.message).toMatch(/tiny-imagenet-200\.zip/);
    expect(err.message).toContain('KDCL_DATA_DIR');
  });

  it('names a class listed in wnids.txt whose training folder is missing', async () => {
    const root = makeTempDir('tiny');
    fs.writeFileSync(path.join(root, 'wnids.txt'), 'n00000001\nn00000002\n');
    fs.writeFileSync(path.join(root, 'words.txt'), 'n00000001\tfirst\nn00000002\tsecond\n');
    fs.mkdirSync(path.join(root, 'train', 'n00000001', 'images'), { recursive: true });
    fs.mkdirSync(path.join(root, 'val', 'images'), { recursive: true });
    fs.writeFileSync(path.join(root, 'val', 'val_annotations.txt'), '');
    const err = await loadTinyImageNet({ dataDir: root, cacheDir: makeTempDir('tiny-cache'), log: false }).catch((e) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toContain(path.join(root, 'train', 'n00000001', 'images'));
  });

  it('names the line of val_annotations.txt that refers to an unknown wnid', async () => {
    const root = makeTempDir('tiny');
    fs.writeFileSync(path.join(root, 'wnids.txt'), 'n00000001\n');
    fs.writeFileSync(path.join(root, 'words.txt'), 'n00000001\tfirst\n');
    fs.mkdirSync(path.join(root, 'train', 'n00000001', 'images'), { recursive: true });
    fs.mkdirSync(path.join(root, 'val', 'images'), { recursive: true });
    fs.writeFileSync(path.join(root, 'val', 'val_annotations.txt'), 'val_0.JPEG\tn00000001\t0\t0\t1\t1\nval_1.JPEG\tn09999999\t0\t0\t1\t1\n');
    const err = await loadTinyImageNet({ dataDir: root, log: false }).catch((e) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toMatch(/Line 2 names wnid 'n09999999'/);
    expect(err.message).toContain('val_annotations.txt');
  });
});

describe('Tiny ImageNet-200 from generated archives in the official layout', () => {
  /** Two classes, 3 train + 2 val images each, split into train and val archives like ../shared's. */
  async function makeArchives(): Promise<string> {
    const dir = makeTempDir('tiny-arch');
    const encoder = new JpegEncoder(90);
    const wnids = ['n00000002', 'n00000001'];
    const jpeg = (seed: number) => encoder.encode(patternImage(64, 64, seed));
    const train = wnids.flatMap((w, c) => [2, 0, 1].map((k) => ({ name: `tiny-imagenet-200/train/${w}/images/${w}_${k}.JPEG`, data: jpeg(c * 10 + k) })));
    const annotations = ['val_3.JPEG\tn00000002\t0\t0\t9\t9', 'val_0.JPEG\tn00000001\t0\t0\t9\t9', 'val_1.JPEG\tn00000002\t0\t0\t9\t9', 'val_2.JPEG\tn00000001\t0\t0\t9\t9'];
    const val = [
      { name: 'tiny-imagenet-200/wnids.txt', data: Buffer.from(wnids.join('\n') + '\n') },
      { name: 'tiny-imagenet-200/words.txt', data: Buffer.from('n00000001\tfirst thing, other\nn00000002\tsecond thing\nn00000003\tunused\n') },
      { name: 'tiny-imagenet-200/val/val_annotations.txt', data: Buffer.from(annotations.join('\n') + '\n') },
      ...[0, 1, 2, 3].map((k) => ({ name: `tiny-imagenet-200/val/images/val_${k}.JPEG`, data: jpeg(100 + k) })),
    ];
    fs.writeFileSync(path.join(dir, 'tiny-imagenet-200-train.tar.gz'), zlib.gzipSync(await createTar(train)));
    fs.writeFileSync(path.join(dir, 'tiny-imagenet-200-val.tar.gz'), zlib.gzipSync(await createTar(val)));
    return dir;
  }

  it('extracts once into the cache folder, removing abandoned partial extractions, and loads', async () => {
    const dataDir = await makeArchives();
    const cacheDir = makeTempDir('tiny-cache');
    const abandoned = path.join(cacheDir, 'tiny-imagenet-200-extracted.tmp-999999999-0000');
    fs.mkdirSync(path.join(abandoned, 'tiny-imagenet-200'), { recursive: true });
    const lines: string[] = [];
    const ds = await loadTinyImageNet({ dataDir, cacheDir, log: (line) => lines.push(line) });
    expect(fs.existsSync(abandoned)).toBe(false);
    expect(lines.filter((l) => l.startsWith('extracted')).length).toBe(2);
    expect(ds.classNames).toEqual(['first thing', 'second thing']);
    expect([ds.train.count, ds.test.count, ds.train.height]).toEqual([6, 4, 64]);
    expect(Array.from(ds.train.labels)).toEqual([0, 0, 0, 1, 1, 1]);
    expect(Array.from(ds.test.labels)).toEqual([0, 0, 1, 1]);
    expect(fs.existsSync(path.join(cacheDir, 'tiny-imagenet-200-extracted', 'tiny-imagenet-200', 'train', 'n00000001', 'images', 'n00000001_2.JPEG'))).toBe(true);

    lines.length = 0;
    const again = await loadTinyImageNet({ dataDir, cacheDir, log: (line) => lines.push(line) });
    expect(lines).toEqual([]);
    expect(Buffer.from(again.train.images).equals(Buffer.from(ds.train.images))).toBe(true);
  });
});
