/** tar reader/writer, JPEG decode/encode and the area resize. */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import jpeg from 'jpeg-js';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetError } from '../kernel-lib/data/common';
import { JpegEncoder, decodeJpeg, decodeJpegs, jpegHeaderLength } from '../kernel-lib/data/jpeg';
import { centerCrop, crop, resizeArea, resizeShorterSide } from '../kernel-lib/data/resize';
import { createTar, extractTarFile, readTarFile, readTarStream } from '../kernel-lib/data/archive';
import { makeTempDir, patternImage, removeTempDirs } from './data-helpers';

afterAll(removeTempDirs);

async function* chunked(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

describe('tar', () => {
  const longName = `deep/${'x'.repeat(90)}/${'y'.repeat(60)}.bin`;
  const entries = [
    { name: 'top', type: 'directory' as const },
    { name: 'top/a.txt', data: Buffer.from('hello') },
    { name: 'top/empty', data: Buffer.alloc(0) },
    { name: 'top/block.bin', data: Buffer.alloc(512, 7) },
    { name: longName, data: Buffer.alloc(1000, 3) },
  ];

  it('round-trips files, folders and long (prefix-split) names, whatever the chunking', async () => {
    const tar = await createTar(entries);
    for (const chunkSize of [1, 100, 512, 1 << 20]) {
      const got = [];
      for await (const e of readTarStream(chunked(tar, chunkSize), 'mem.tar')) got.push(e);
      expect(got.map((e) => [e.name, e.type, e.size])).toEqual([
        ['top', 'directory', 0],
        ['top/a.txt', 'file', 5],
        ['top/empty', 'file', 0],
        ['top/block.bin', 'file', 512],
        [longName, 'file', 1000],
      ]);
      expect(got[1].data.toString()).toBe('hello');
      expect(got[4].data.equals(Buffer.alloc(1000, 3))).toBe(true);
    }
  });

  it('extracts a .tar.gz and refuses entries that escape the folder', async () => {
    const dir = makeTempDir('tar');
    const archive = path.join(dir, 'a.tar.gz');
    fs.writeFileSync(archive, zlib.gzipSync(await createTar(entries)));
    const out = path.join(dir, 'out');
    expect(await extractTarFile(archive, out)).toBe(4);
    expect(fs.readFileSync(path.join(out, 'top', 'a.txt'), 'utf8')).toBe('hello');
    expect(fs.statSync(path.join(out, longName)).size).toBe(1000);

    const evil = path.join(dir, 'evil.tar.gz');
    fs.writeFileSync(evil, zlib.gzipSync(await createTar([{ name: '../escape.txt', data: Buffer.from('x') }])));
    const err = await extractTarFile(evil, path.join(dir, 'out2')).catch((e) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toContain(evil);
    expect(fs.existsSync(path.join(dir, 'escape.txt'))).toBe(false);
  });

  it('reports truncated and corrupt archives with the file name', async () => {
    const dir = makeTempDir('tar');
    const tar = await createTar(entries);
    const truncated = path.join(dir, 'truncated.tar');
    fs.writeFileSync(truncated, tar.subarray(0, 1500));
    const drain = async (file: string) => {
      for await (const _ of readTarFile(file)) void _;
    };
    await expect(drain(truncated)).rejects.toThrow(/truncated[\s\S]*truncated\.tar/);
    const badGzip = path.join(dir, 'bad.tar.gz');
    fs.writeFileSync(badGzip, zlib.gzipSync(tar).subarray(0, 100));
    await expect(drain(badGzip)).rejects.toThrow(/bad\.tar\.gz/);
    const badHeader = Buffer.from(tar);
    badHeader[600] ^= 0xff;
    const badHeaderFile = path.join(dir, 'badheader.tar');
    fs.writeFileSync(badHeaderFile, badHeader);
    await expect(drain(badHeaderFile)).rejects.toThrow(/bad header checksum[\s\S]*badheader\.tar/);
  });
});

describe('jpeg', () => {
  it('the reusable encoder gives the same bytes as jpeg-js encode()', () => {
    const image = patternImage(40, 24, 3);
    const rgba = new Uint8Array(40 * 24 * 4);
    for (let p = 0; p < 40 * 24; p++) {
      rgba.set(image.data.subarray(p * 3, p * 3 + 3), p * 4);
      rgba[p * 4 + 3] = 255;
    }
    const reference = jpeg.encode({ data: rgba, width: 40, height: 24 }, 90).data;
    const encoder = new JpegEncoder(90);
    encoder.encode(patternImage(8, 8, 1)); // state from an earlier image must not leak into the next
    expect(Buffer.from(encoder.encode(image)).equals(reference)).toBe(true);
  });

  it('decodes to RGB close to the original, and names the source of a corrupt file', () => {
    const image = patternImage(32, 32, 5);
    const bytes = new JpegEncoder(95).encode(image);
    const decoded = decodeJpeg(bytes, 'x.jpg');
    expect([decoded.width, decoded.height, decoded.data.length]).toEqual([32, 32, 32 * 32 * 3]);
    let maxDiff = 0;
    for (let i = 0; i < decoded.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(decoded.data[i] - image.data[i]));
    expect(maxDiff).toBeLessThan(24);
    for (const bad of [bytes.subarray(0, bytes.length >> 1), Buffer.from('not a jpeg'), new Uint8Array(0)]) {
      expect(() => decodeJpeg(bad, 'some/dir/broken.JPEG')).toThrow(/Corrupt or unsupported JPEG[\s\S]*some\/dir\/broken\.JPEG[\s\S]*fix:/);
    }
  });

  it('images of one size and quality share their header up to SOS', () => {
    const encoder = new JpegEncoder(90);
    const a = encoder.encode(patternImage(32, 32, 1));
    const b = encoder.encode(patternImage(32, 32, 2));
    const n = jpegHeaderLength(a);
    expect(jpegHeaderLength(b)).toBe(n);
    expect(Buffer.from(a.subarray(0, n)).equals(Buffer.from(b.subarray(0, n)))).toBe(true);
    // Shared header + one image's entropy data decodes to that image.
    const spliced = Buffer.concat([a.subarray(0, n), b.subarray(n)]);
    expect(Buffer.from(decodeJpeg(spliced, 'b').data).equals(Buffer.from(decodeJpeg(b, 'b').data))).toBe(true);
  });
  it('the decode worker pool gives the same pixels, order and first error as decoding one by one', async () => {
    const encoder = new JpegEncoder(85);
    const items = Array.from({ length: 150 }, (_, i) => ({ bytes: encoder.encode(patternImage(16 + (i % 5), 12, i)), source: `img-${i}.jpg` }));
    const saved = process.env.KDCL_DECODE_THREADS;
    process.env.KDCL_DECODE_THREADS = '3';
    try {
      const parallel = await decodeJpegs(items);
      expect(parallel.length).toBe(items.length);
      parallel.forEach((image, i) => {
        const one = decodeJpeg(items[i].bytes, items[i].source);
        expect([image.width, image.height]).toEqual([one.width, one.height]);
        expect(Buffer.from(image.data).equals(Buffer.from(one.data))).toBe(true);
      });
      const broken = items.map((item, i) => (i === 70 || i === 120 ? { ...item, bytes: item.bytes.subarray(0, 40) } : item));
      await expect(decodeJpegs(broken)).rejects.toThrow(/Corrupt or unsupported JPEG[\s\S]*img-70\.jpg/);
    } finally {
      if (saved === undefined) delete process.env.KDCL_DECODE_THREADS;
      else process.env.KDCL_DECODE_THREADS = saved;
    }
  });
});

describe('resize', () => {
  const img = (width: number, height: number, values: number[]) => ({ width, height, data: Uint8Array.from(values) });

  it('halves by exact 2x2 means, rounded half up', () => {
    // 2x2 RGB image -> 1x1: channel means of (0, 1, 2, 3) = 1.5 -> 2, (10, 10, 10, 11) = 10.25 -> 10, (255 x4) -> 255.
    const src = img(2, 2, [0, 10, 255, 1, 10, 255, 2, 10, 255, 3, 11, 255]);
    expect(Array.from(resizeArea(src, 1, 1).data)).toEqual([2, 10, 255]);
  });

  it('weights partially covered pixels by their covered fraction', () => {
    // 3 pixels wide -> 2: output 0 covers pixel 0 fully and half of pixel 1.
    const src = img(3, 1, [0, 0, 0, 90, 90, 90, 180, 180, 180]);
    const out = resizeArea(src, 2, 1).data;
    expect(out[0]).toBe(30); // (0 + 0.5 * 90) / 1.5
    expect(out[3]).toBe(150); // (0.5 * 90 + 180) / 1.5
  });

  it('keeps a constant image constant at any size, and crops where asked', () => {
    const src = { width: 37, height: 23, data: new Uint8Array(37 * 23 * 3).fill(77) };
    for (const [w, h] of [[16, 16], [5, 9], [64, 40]]) expect(new Set(resizeArea(src, w, h).data)).toEqual(new Set([77]));
    const ramp = { width: 4, height: 3, data: Uint8Array.from({ length: 36 }, (_, i) => i) };
    expect(Array.from(crop(ramp, 1, 1, 2, 1).data)).toEqual([15, 16, 17, 18, 19, 20]);
    const shorter = resizeShorterSide({ width: 300, height: 200, data: new Uint8Array(300 * 200 * 3) }, 100);
    expect([shorter.width, shorter.height]).toEqual([150, 100]);
    const centred = centerCrop({ width: 6, height: 4, data: Uint8Array.from({ length: 72 }, (_, i) => i) }, 2);
    expect(Array.from(centred.data.subarray(0, 3))).toEqual([(1 * 6 + 2) * 3, (1 * 6 + 2) * 3 + 1, (1 * 6 + 2) * 3 + 2]);
  });
});
