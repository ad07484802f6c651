/** ImageNet-100 loader on a tiny generated folder of JPEGs in the ImageNet layout. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IMAGENET100_CLASS_LIST, loadImageNet100, readClassList } from '../kernel-lib/data/imagenet100';
import { decodeJpeg } from '../kernel-lib/data/jpeg';
import { centerCrop, resizeShorterSide } from '../kernel-lib/data/resize';
import { DatasetError } from '../kernel-lib/data/common';
import { makeTempDir, removeTempDirs, writeJpeg } from './data-helpers';

afterAll(removeTempDirs);

const WNIDS = ['n01440764', 'n01443537', 'n01484850'];

/** train/<wnid>/ with 3 images of mixed sizes and val/<wnid>/ with 2, plus a class-list file. */
function makeImageNetFolder(): { dir: string; classList: string } {
  const dir = makeTempDir('in100');
  WNIDS.forEach((wnid, c) => {
    for (let i = 0; i < 3; i++) writeJpeg(path.join(dir, 'train', wnid, `${wnid}_${i}.JPEG`), 40 + 8 * i, 30 + 5 * c, c * 10 + i);
    for (let i = 0; i < 2; i++) writeJpeg(path.join(dir, 'val', wnid, `ILSVRC2012_val_0000000${c}${i}.JPEG`), 30, 44, 100 + c * 10 + i);
  });
  const classList = path.join(dir, 'classes.txt');
  fs.writeFileSync(classList, `# test list\n${WNIDS.join('\n')}\n`);
  return { dir, classList };
}

describe('ImageNet-100 loader', () => {
  it('ships the 100-class PODNet list', () => {
    const wnids = readClassList(IMAGENET100_CLASS_LIST);
    expect(wnids.length).toBe(100);
    expect(new Set(wnids).size).toBe(100);
    expect(wnids[0]).toBe('n01440764');
    expect(wnids[99]).toBe('n01855672');
  });

  it('resizes the shorter side, centre-crops, and labels by class-list order', async () => {
    const { dir, classList } = makeImageNetFolder();
    const cacheDir = makeTempDir('in100-cache');
    const ds = await loadImageNet100({ dataDir: dir, classListFile: classList, imageSize: 16, resizeShorter: 20, cacheDir, log: false });
    expect(ds.name).toBe('imagenet100');
    expect(ds.classNames).toEqual(WNIDS);
    expect([ds.train.count, ds.test.count, ds.train.height, ds.train.width]).toEqual([9, 6, 16, 16]);
    expect(Array.from(ds.train.labels)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2]);
    expect(Array.from(ds.test.labels)).toEqual([0, 0, 1, 1, 2, 2]);
    // Image 4 (class 1, file 1): decode -> shorter side 20 -> centre 16x16.
    const file = path.join(dir, 'train', WNIDS[1], `${WNIDS[1]}_1.JPEG`);
    const expected = centerCrop(resizeShorterSide(decodeJpeg(fs.readFileSync(file), file), 20), 16).data;
    expect(Buffer.from(ds.train.images.subarray(4 * 768, 5 * 768)).equals(Buffer.from(expected))).toBe(true);
  });

  it('default sizes are 256 -> 224; classesLimit keeps the first classes', async () => {
    const { dir, classList } = makeImageNetFolder();
    const ds = await loadImageNet100({ dataDir: dir, classListFile: classList, classesLimit: 1, cacheDir: makeTempDir('in100-cache'), log: false });
    expect([ds.train.height, ds.train.count, ds.test.count]).toEqual([224, 3, 2]);
    expect(ds.classNames).toEqual([WNIDS[0]]);
  });

  it('random training crops are seeded: same seed same pixels; val stays centre-cropped', async () => {
    const { dir, classList } = makeImageNetFolder();
    const load = (seed: number) =>
      loadImageNet100({ dataDir: dir, classListFile: classList, imageSize: 16, resizeShorter: 40, trainCrop: 'random', seed, cacheDir: makeTempDir('in100-cache'), log: false });
    const a = await load(1);
    const b = await load(1);
    const c = await load(2);
    const center = await loadImageNet100({ dataDir: dir, classListFile: classList, imageSize: 16, resizeShorter: 40, cacheDir: makeTempDir('in100-cache'), log: false });
    expect(Buffer.from(a.train.images).equals(Buffer.from(b.train.images))).toBe(true);
    expect(Buffer.from(a.train.images).equals(Buffer.from(c.train.images))).toBe(false);
    expect(Buffer.from(a.test.images).equals(Buffer.from(center.test.images))).toBe(true);
  });

  it('explains where to put the data when dataDir has no train/ and val/', async () => {
    const dir = makeTempDir('in100');
    const err = await loadImageNet100({ dataDir: dir, log: false }).catch((e) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toContain(dir);
    expect(err.message).toContain('image-net.org');
    expect(err.message).toContain('KDCL_DATA_DIR');
  });
});
