/**
 * The committed embedded dataset: its manifest and files, the loader (all 100 classes; decoded once into .cache/),
 * and that the build script reproduces the committed bytes (two classes rebuilt from ../shared, when present).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { channelStats, loadDataset } from '../kernel-lib/data/index';
import { EMBEDDED_DIR, EMBEDDED_SPEC, parsePack, readManifest } from '../kernel-lib/data/embedded';
import { buildEmbedded } from '../kernel-lib/data/embedded-build';
import { sha256Hex } from '../kernel-lib/data/cache';
import { HAVE_SHARED_TINY_IMAGENET, SHARED_TINY_IMAGENET } from './data-helpers';

const manifest = readManifest(EMBEDDED_DIR);

describe('embedded dataset files', () => {
  it('has 100 classes of 400 train + 50 test images, within the size caps, matching the manifest', () => {
    expect(manifest.spec).toEqual(EMBEDDED_SPEC);
    expect(manifest.classes.map((c) => c.id)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(new Set(manifest.classes.map((c) => c.wnid)).size).toBe(100);
    let total = 0;
    for (const entry of manifest.classes) {
      const bytes = fs.readFileSync(path.join(EMBEDDED_DIR, entry.file));
      expect(bytes.length).toBe(entry.bytes);
      expect(bytes.length).toBeLessThan(5e6);
      expect(sha256Hex(bytes)).toBe(entry.sha256);
      expect([entry.train, entry.test]).toEqual([400, 50]);
      total += bytes.length;
    }
    expect(total).toBe(manifest.totalBytes);
    const folderBytes = (fs.readdirSync(EMBEDDED_DIR, { recursive: true }) as string[])
      .map((f) => path.join(EMBEDDED_DIR, f))
      .filter((f) => fs.statSync(f).isFile())
      .reduce((n, f) => n + fs.statSync(f).size, 0);
    expect(folderBytes).toBeLessThanOrEqual(40e6);
  });

  it('has the licence note', () => {
    expect(fs.readFileSync(path.join(EMBEDDED_DIR, 'LICENSE'), 'utf8')).toMatch(/non-commercial research and educational/);
    expect(fs.readFileSync(path.join(EMBEDDED_DIR, 'README.md'), 'utf8')).toMatch(/ImageNet/);
  });
});

describe('loadDataset(embedded)', () => {
  it('loads 100 classes x (400 train, 50 test) at 32x32', async () => {
    const ds = await loadDataset('embedded', { log: false });
    expect(ds.name).toBe('embedded');
    expect(ds.classNames.length).toBe(100);
    expect(ds.classNames[0]).toBe('goldfish');
    expect([ds.train.count, ds.test.count]).toEqual([40000, 5000]);
    expect([ds.train.height, ds.train.width, ds.train.channels]).toEqual([32, 32, 3]);
    expect(ds.train.images.length).toBe(40000 * 3072);
    const perClass = new Int32Array(100);
    for (const l of ds.train.labels) perClass[l]++;
    expect(new Set(perClass)).toEqual(new Set([400]));
    const perClassTest = new Int32Array(100);
    for (const l of ds.test.labels) perClassTest[l]++;
    expect(new Set(perClassTest)).toEqual(new Set([50]));
    // mean/std summed from the cached per-class histograms equal those counted from the pixels.
    expect({ mean: ds.mean, std: ds.std }).toEqual(channelStats(ds.train.images));
    // Natural-image statistics, nothing degenerate.
    for (let c = 0; c < 3; c++) {
      expect(ds.mean[c]).toBeGreaterThan(0.3);
      expect(ds.mean[c]).toBeLessThan(0.6);
      expect(ds.std[c]).toBeGreaterThan(0.2);
      expect(ds.std[c]).toBeLessThan(0.35);
    }
  });

  it('classesLimit and imageSize', async () => {
    const ds = await loadDataset('embedded', { classesLimit: 3, imageSize: 16, log: false });
    expect(ds.classNames).toEqual(manifest.classes.slice(0, 3).map((c) => c.name));
    expect([ds.train.count, ds.test.count, ds.train.height]).toEqual([1200, 150, 16]);
    expect(Math.max(...ds.train.labels)).toBe(2);
  });
});

describe.skipIf(!HAVE_SHARED_TINY_IMAGENET)(
  `embedded dataset rebuild (skipped when the Tiny ImageNet archives are not at ${SHARED_TINY_IMAGENET})`,
  () => {
    it('rebuilding two classes from the archives reproduces the committed packs bit for bit', async () => {
      const ids = [0, 57];
      const { manifest: rebuilt, packs } = await buildEmbedded(SHARED_TINY_IMAGENET, { onlyClassIds: ids });
      expect(rebuilt.classes).toEqual(ids.map((id) => manifest.classes[id]));
      expect(rebuilt.source).toEqual(manifest.source);
      for (const [file, bytes] of packs) {
        expect(bytes.equals(fs.readFileSync(path.join(EMBEDDED_DIR, file)))).toBe(true);
        expect(parsePack(bytes, file).header.train.sources[0]).toMatch(/_0\.JPEG$/);
      }
    });
  },
);
