/** The decoded-image cache: atomic writes, no re-decoding on a second load, corrupt entries detected and rebuilt. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cached, readCacheEntry, writeCacheEntry, writeFileAtomic } from '../kernel-lib/data/cache';
import { loadImageNet100 } from '../kernel-lib/data/imagenet100';
import { decodeCounter } from '../kernel-lib/data/jpeg';
import { makeTempDir, removeTempDirs, tempFilesUnder, writeJpeg } from './data-helpers';

afterAll(removeTempDirs);

const WNIDS = ['n01440764', 'n01443537'];

function makeFolder(): { dir: string; classList: string } {
  const dir = makeTempDir('cache-src');
  WNIDS.forEach((wnid, c) => {
    for (let i = 0; i < 3; i++) writeJpeg(path.join(dir, 'train', wnid, `${wnid}_${i}.JPEG`), 24, 24, c * 3 + i);
    writeJpeg(path.join(dir, 'val', wnid, `v${c}.JPEG`), 24, 24, 50 + c);
  });
  const classList = path.join(dir, 'classes.txt');
  fs.writeFileSync(classList, WNIDS.join('\n'));
  return { dir, classList };
}

function entryFiles(cacheDir: string): string[] {
  return (fs.readdirSync(cacheDir, { recursive: true }) as string[]).filter((f) => f.endsWith('.kdc')).map((f) => path.join(cacheDir, f));
}

/** JPEGs decoded while `action` runs. */
async function decodesDuring(action: () => Promise<unknown>): Promise<number> {
  const before = decodeCounter.images;
  await action();
  return decodeCounter.images - before;
}

describe('decoded-image cache', () => {
  it('a second load decodes no JPEG and returns the same pixels', async () => {
    const { dir, classList } = makeFolder();
    const cacheDir = makeTempDir('cache');
    const opts = { dataDir: dir, classListFile: classList, imageSize: 16, cacheDir, log: false as const };
    let first!: Awaited<ReturnType<typeof loadImageNet100>>;
    let second!: typeof first;
    expect(await decodesDuring(async () => (first = await loadImageNet100(opts)))).toBe(8);
    expect(entryFiles(cacheDir).length).toBe(4); // (train, val) x 2 classes
    expect(await decodesDuring(async () => (second = await loadImageNet100(opts)))).toBe(0);
    expect(Buffer.from(second.train.images).equals(Buffer.from(first.train.images))).toBe(true);
    expect(Buffer.from(second.test.images).equals(Buffer.from(first.test.images))).toBe(true);
    expect(second.mean).toEqual(first.mean);
  });

  it('rebuilds an entry when a source file changes', async () => {
    const { dir, classList } = makeFolder();
    const cacheDir = makeTempDir('cache');
    const opts = { dataDir: dir, classListFile: classList, imageSize: 16, cacheDir, log: false as const };
    await loadImageNet100(opts);
    writeJpeg(path.join(dir, 'train', WNIDS[0], `${WNIDS[0]}_1.JPEG`), 30, 24, 99);
    expect(await decodesDuring(() => loadImageNet100(opts))).toBe(3); // only the changed class's train block
  });

  it.each([
    ['wrong size', (file: string) => fs.truncateSync(file, fs.statSync(file).size - 10), /wrong size/],
    ['wrong checksum', (file: string) => {
      const bytes = fs.readFileSync(file);
      bytes[bytes.length - 5] ^= 0x55;
      fs.writeFileSync(file, bytes);
    }, /sha256/],
  ])('detects, reports and rebuilds an entry with the %s', async (_what, damage, reason) => {
    const { dir, classList } = makeFolder();
    const cacheDir = makeTempDir('cache');
    const warnings: string[] = [];
    const opts = { dataDir: dir, classListFile: classList, imageSize: 16, cacheDir, log: (line: string) => warnings.push(line) };
    const first = await loadImageNet100(opts);
    const victim = entryFiles(cacheDir).find((f) => f.includes(`${path.sep}train${path.sep}${WNIDS[1]}`))!;
    const goodBytes = fs.readFileSync(victim);
    damage(victim);
    let second!: Awaited<ReturnType<typeof loadImageNet100>>;
    expect(await decodesDuring(async () => (second = await loadImageNet100(opts)))).toBe(3);
    expect(warnings.some((w) => w.includes(victim) && reason.test(w))).toBe(true);
    expect(fs.readFileSync(victim).equals(goodBytes)).toBe(true);
    expect(Buffer.from(second.train.images).equals(Buffer.from(first.train.images))).toBe(true);
    expect(tempFilesUnder(cacheDir)).toEqual([]);
  });

  it('entries round-trip, and a different key reads as stale', () => {
    const file = path.join(makeTempDir('cache'), 'sub', 'e.kdc');
    const payload = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
    writeCacheEntry(file, 'k1', payload, { count: 3 });
    const hit = readCacheEntry(file, 'k1');
    expect(hit.status).toBe('hit');
    if (hit.status === 'hit') {
      expect(Buffer.from(hit.payload[0]).equals(Buffer.from(payload))).toBe(true);
      expect(hit.meta).toEqual({ count: 3 });
    }
    // Scattered straight into caller-owned views; views of another total size read as stale.
    const a = new Uint8Array(400);
    const b = new Uint8Array(600);
    expect(readCacheEntry(file, 'k1', [a, b]).status).toBe('hit');
    expect(Buffer.concat([a, b]).equals(Buffer.from(payload))).toBe(true);
    expect(readCacheEntry(file, 'k1', [new Uint8Array(999)]).status).toBe('stale');
    expect(readCacheEntry(file, 'k2').status).toBe('stale');
    // The meta is checksummed too: a changed number in it makes the entry corrupt.
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, Buffer.from(bytes.toString('latin1').replace('"count":3', '"count":4'), 'latin1'));
    expect(readCacheEntry(file, 'k1')).toMatchObject({ status: 'corrupt', reason: expect.stringMatching(/meta/) });
    expect(readCacheEntry(file + '.nope', 'k1').status).toBe('missing');
  });

  it('a failing build writes nothing, and a failing write leaves no temp file', async () => {
    const dir = makeTempDir('cache');
    const file = path.join(dir, 'e.kdc');
    await expect(cached(file, 'k', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(fs.readdirSync(dir)).toEqual([]);
    // Renaming onto a non-empty folder fails: the temp file must be cleaned up.
    const blocked = path.join(dir, 'blocked');
    fs.mkdirSync(path.join(blocked, 'inside'), { recursive: true });
    expect(() => writeFileAtomic(blocked, new Uint8Array(10))).toThrow();
    expect(tempFilesUnder(dir)).toEqual([]);
  });
});
