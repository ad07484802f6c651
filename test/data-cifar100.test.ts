import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CIFAR100_MD5, loadCifar100, parseCifar100Bin } from '../kernel-lib/data/cifar100';
import { DatasetError } from '../kernel-lib/data/common';
import {
  CIFAR_FINE_NAMES,
  CIFAR_TEST_LABELS,
  CIFAR_TRAIN_LABELS,
  cifarMembers,
  cifarPixel,
  makeCifarArchive,
  cifarLabels,
  makeTempDir,
  removeTempDirs,
  tempFilesUnder,
} from './data-helpers';

afterAll(removeTempDirs);

const archive = await makeCifarArchive();
const archiveMd5 = crypto.createHash('md5').update(archive).digest('hex');

function writeMembers(dir: string, sub = ''): void {
  fs.mkdirSync(path.join(dir, sub), { recursive: true });
  for (const [name, data] of Object.entries(cifarMembers())) fs.writeFileSync(path.join(dir, sub, name), data);
}

describe('CIFAR-100 binary loader', () => {
  it('converts records to NHWC with fine labels and class names', async () => {
    const dir = makeTempDir('cifar');
    writeMembers(dir);
    const ds = await loadCifar100({ dataDir: dir, log: false });
    expect(ds.name).toBe('cifar100');
    expect(ds.classNames).toEqual(CIFAR_FINE_NAMES);
    expect(ds.train.count).toBe(50_000);
    expect(ds.test.count).toBe(10_000);
    expect(Array.from(ds.train.labels)).toEqual(cifarLabels(CIFAR_TRAIN_LABELS, 50_000));
    expect(Array.from(ds.test.labels)).toEqual(cifarLabels(CIFAR_TEST_LABELS, 10_000));
    expect([ds.train.height, ds.train.width, ds.train.channels]).toEqual([32, 32, 3]);
    // Pixel (record r, row y, column x, channel c) = plane c, offset y*32+x of the record.
    for (const [r, y, x, c] of [[0, 0, 0, 0], [1, 5, 7, 1], [11, 31, 31, 2], [4, 16, 3, 0]]) {
      expect(ds.train.images[((r * 32 + y) * 32 + x) * 3 + c]).toBe(cifarPixel(r, c, y * 32 + x));
    }
    // Mean/std from the training pixels on [0, 1].
    let sum = 0;
    let sumSq = 0;
    let n = 0;
    for (let i = 0; i < ds.train.images.length; i += 3) {
      const v = ds.train.images[i] / 255;
      sum += v;
      sumSq += v * v;
      n++;
    }
    expect(ds.mean[0]).toBeCloseTo(sum / n, 10);
    expect(ds.std[0]).toBeCloseTo(Math.sqrt(sumSq / n - (sum / n) ** 2), 10);
  });

  it('keeps only the first classes with classesLimit, in file order, and resizes on request', async () => {
    const dir = makeTempDir('cifar');
    writeMembers(dir, 'cifar-100-binary');
    const ds = await loadCifar100({ dataDir: dir, classesLimit: 3, imageSize: 16, log: false });
    expect(ds.classNames).toEqual(CIFAR_FINE_NAMES.slice(0, 3));
    expect(Array.from(ds.train.labels)).toEqual(cifarLabels(CIFAR_TRAIN_LABELS, 50_000).filter((l) => l < 3));
    expect(ds.train.height).toBe(16);
    expect(ds.train.images.length).toBe(ds.train.count * 16 * 16 * 3);
  });

  it('reads a local archive (MD5-checked) and extracts it next to itself', async () => {
    const dir = makeTempDir('cifar');
    fs.writeFileSync(path.join(dir, 'cifar-100-binary.tar.gz'), archive);
    const ds = await loadCifar100({ dataDir: dir, md5: archiveMd5, log: false });
    expect(ds.train.count).toBe(50_000);
    expect(fs.existsSync(path.join(dir, 'cifar-100-binary', 'train.bin'))).toBe(true);
    expect(tempFilesUnder(dir)).toEqual([]);
  });

  it('rejects a truncated train.bin, naming the file', async () => {
    const dir = makeTempDir('cifar');
    writeMembers(dir);
    const file = path.join(dir, 'train.bin');
    fs.truncateSync(file, 3074 * 5 + 100);
    const err = await loadCifar100({ dataDir: dir, log: false }).catch((e) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/not a whole number of 3074-byte records/);
    expect(err.message).toMatch(/fix: .*cs\.toronto\.edu/);
  });

  it('rejects a train.bin cut at a record boundary: the official counts are checked', async () => {
    const dir = makeTempDir('cifar');
    writeMembers(dir);
    const file = path.join(dir, 'train.bin');
    fs.truncateSync(file, 3074 * 49_999);
    const err = await loadCifar100({ dataDir: dir, log: false }).catch((e) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/train\.bin holds 49999 records; the official file holds 50000/);
  });

  it('names a missing test.bin and downloads nothing into a folder the user named', async () => {
    const dir = makeTempDir('cifar');
    writeMembers(dir);
    fs.rmSync(path.join(dir, 'test.bin'));
    // An unreachable URL: any download attempt would fail differently.
    const err = await loadCifar100({ dataDir: dir, url: 'http://127.0.0.1:9/never', log: false }).catch((e) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toMatch(/Missing file/);
    expect(err.message).toContain(path.join(dir, 'test.bin'));
    const empty = makeTempDir('cifar');
    const none = await loadCifar100({ dataDir: empty, url: 'http://127.0.0.1:9/never', log: false }).catch((e) => e);
    expect(none.message).toMatch(/never downloads into a folder you named/);
    expect(fs.readdirSync(empty)).toEqual([]);
  });

  it('rejects a local archive whose MD5 differs, naming the file and both sums', async () => {
    const dir = makeTempDir('cifar');
    const file = path.join(dir, 'cifar-100-binary.tar.gz');
    fs.writeFileSync(file, archive);
    const err = await loadCifar100({ dataDir: dir, log: false }).catch((e) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toContain(file);
    expect(err.message).toContain(CIFAR100_MD5);
    expect(err.message).toContain(archiveMd5);
    expect(fs.existsSync(path.join(dir, 'cifar-100-binary'))).toBe(false);
  });

  it('says where to get the data when nothing is there and downloads are off', async () => {
    const dir = makeTempDir('cifar');
    const err = await loadCifar100({ dataDir: dir, download: false, log: false }).catch((e) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toContain(dir);
    expect(err.message).toContain('https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz');
    expect(err.message).toContain('KDCL_DATA_DIR');
  });

  it('parses records independently of the loader', () => {
    const bytes = cifarMembers()['test.bin'];
    const parsed = parseCifar100Bin(bytes, 'test.bin');
    expect(parsed.count).toBe(10_000);
    expect(() => parseCifar100Bin(bytes.subarray(0, 3073), 'x.bin')).toThrow(/x\.bin/);
  });
});

describe('CIFAR-100 download', () => {
  let server: http.Server;
  let base = '';
  const hits: string[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      hits.push(req.url ?? '');
      // One request per connection: a reused keep-alive socket can be closed by the server's idle timeout just as
      // the client reuses it ("fetch failed"), now that the archive takes seconds to send.
      res.setHeader('connection', 'close');
      if (req.url === '/cifar-100-binary.tar.gz') {
        res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': archive.length });
        res.end(archive);
      } else {
        res.writeHead(404);
        res.end('not found');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('downloads, verifies and renames the archive atomically, then loads it', async () => {
    // kdcl's own cache folder (<cacheDir>/cifar-100) is where it downloads.
    const cacheDir = makeTempDir('cifar-dl');
    const dir = path.join(cacheDir, 'cifar-100');
    const ds = await loadCifar100({ cacheDir, url: `${base}/cifar-100-binary.tar.gz`, md5: archiveMd5, log: false });
    expect(ds.train.count).toBe(50_000);
    expect(fs.readFileSync(path.join(dir, 'cifar-100-binary.tar.gz')).equals(archive)).toBe(true);
    expect(tempFilesUnder(dir)).toEqual([]);
    // A second load uses the extracted files: no new request.
    const before = hits.length;
    await loadCifar100({ cacheDir, url: `${base}/cifar-100-binary.tar.gz`, md5: archiveMd5, log: false });
    expect(hits.length).toBe(before);
  });

  it('rejects a download with the wrong MD5 and leaves no file behind', async () => {
    const dir = makeTempDir('cifar-dl');
    const url = `${base}/cifar-100-binary.tar.gz`;
    const err = await loadCifar100({ dataDir: dir, download: true, url, log: false }).catch((e) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toContain(url);
    expect(err.message).toContain(`expected MD5 ${CIFAR100_MD5}`);
    expect(err.message).toContain(archiveMd5);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('reports an HTTP error with the URL and leaves no file behind', async () => {
    const dir = makeTempDir('cifar-dl');
    const url = `${base}/missing.tar.gz`;
    const err = await loadCifar100({ dataDir: dir, download: true, url, log: false }).catch((e) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toContain('HTTP 404');
    expect(err.message).toContain(url);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
