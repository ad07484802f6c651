/**
 * Bad input across the loaders: each error is a DatasetError that names the file or field and says how to fix it,
 * and nothing partial is left in the cache. (Truncated CIFAR binaries and archive checksum mismatches are covered in
 * data-cifar100.test.ts.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetError, loadDataset } from '../kernel-lib/data/index';
import { parsePack } from '../kernel-lib/data/embedded';
import { buildPack } from '../kernel-lib/data/embedded-build';
import { sha256Hex } from '../kernel-lib/data/cache';
import { JpegEncoder } from '../kernel-lib/data/jpeg';
import { cifarMembers, makeTempDir, patternImage, removeTempDirs, tempFilesUnder, writeJpeg } from './data-helpers';

afterAll(removeTempDirs);

function expectDatasetError(err: unknown, subject: string | RegExp, problem: RegExp): DatasetError {
  expect(err).toBeInstanceOf(DatasetError);
  const e = err as DatasetError;
  if (typeof subject === 'string') expect(e.subject).toContain(subject);
  else expect(e.subject).toMatch(subject);
  expect(e.message).toMatch(problem);
  expect(e.fix.length).toBeGreaterThan(10);
  expect(e.message).toContain(`fix: ${e.fix}`);
  return e;
}

function kdcEntries(cacheDir: string): string[] {
  if (!fs.existsSync(cacheDir)) return [];
  return (fs.readdirSync(cacheDir, { recursive: true }) as string[]).filter((f) => f.endsWith('.kdc'));
}

/** An ImageNet-layout folder with two classes of three 20x20 JPEGs each. */
function imageNetFolder(): { dir: string; classList: string } {
  const dir = makeTempDir('err-in');
  const wnids = ['n00000001', 'n00000002'];
  wnids.forEach((wnid, c) => {
    for (let i = 0; i < 3; i++) writeJpeg(path.join(dir, 'train', wnid, `${wnid}_${i}.JPEG`), 20, 20, c * 3 + i);
    writeJpeg(path.join(dir, 'val', wnid, `val_${c}.JPEG`), 20, 20, 10 + c);
  });
  const classList = path.join(dir, 'classes.txt');
  fs.writeFileSync(classList, wnids.join('\n'));
  return { dir, classList };
}

/** A tiny embedded-format folder: manifest + packs for two classes. */
function embeddedFolder(): string {
  const dir = makeTempDir('err-emb');
  const encoder = new JpegEncoder(90);
  const classes = [0, 1].map((id) => {
    const image = (seed: number) => ({ source: `img_${seed}.JPEG`, jpeg: encoder.encode(patternImage(32, 32, seed)) });
    const pack = buildPack({ classId: id, wnid: `n0000000${id}`, name: `class ${id}` }, [image(id * 10), image(id * 10 + 1)], [image(id * 10 + 2)]);
    const file = `classes/00${id}-n0000000${id}.jpk`;
    fs.mkdirSync(path.join(dir, 'classes'), { recursive: true });
    fs.writeFileSync(path.join(dir, file), pack);
    return { id, wnid: `n0000000${id}`, name: `class ${id}`, file, bytes: pack.length, sha256: sha256Hex(pack), train: 2, test: 1 };
  });
  const manifest = { format: 'kdcl-embedded', version: 1, spec: { classes: 2, imageSize: 32, quality: 90, trainPerClass: 2, testPerClass: 1 }, classes };
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
  return dir;
}

describe('bad input', () => {
  it('unknown dataset name: lists the valid names', async () => {
    const err = await loadDataset('mnist' as never).catch((e) => e);
    expectDatasetError(err, 'name', /Unknown dataset 'mnist'/);
    expect((err as DatasetError).fix).toBe('use one of: embedded, cifar100, tiny-imagenet, imagenet100');
  });

  it('bad option values name the option', async () => {
    const dir = embeddedFolder();
    expectDatasetError(await loadDataset('embedded', { dataDir: dir, classesLimit: 3, log: false }).catch((e) => e), 'classesLimit', /\[1, 2\]/);
    expectDatasetError(await loadDataset('embedded', { dataDir: dir, imageSize: 0, log: false }).catch((e) => e), 'imageSize', /imageSize/);
  });

  it('missing file: the embedded manifest', async () => {
    const dir = makeTempDir('err-emb');
    const err = await loadDataset('embedded', { dataDir: dir, log: false }).catch((e) => e);
    const e = expectDatasetError(err, path.join(dir, 'manifest.json'), /Missing file/);
    expect(e.fix).toMatch(/git checkout|build-embedded/);
  });

  it('missing file: an embedded pack listed in the manifest', async () => {
    const dir = embeddedFolder();
    const cacheDir = makeTempDir('err-cache');
    fs.rmSync(path.join(dir, 'classes', '001-n00000001.jpk'));
    const err = await loadDataset('embedded', { dataDir: dir, cacheDir, log: false }).catch((e) => e);
    expectDatasetError(err, path.join(dir, 'classes', '001-n00000001.jpk'), /Missing file/);
    expect(tempFilesUnder(cacheDir)).toEqual([]);
  });

  it('missing file: Tiny ImageNet words.txt', async () => {
    const root = makeTempDir('err-tiny');
    fs.writeFileSync(path.join(root, 'wnids.txt'), 'n00000001\n');
    fs.mkdirSync(path.join(root, 'train', 'n00000001', 'images'), { recursive: true });
    const err = await loadDataset('tiny-imagenet', { dataDir: root, log: false }).catch((e) => e);
    expectDatasetError(err, path.join(root, 'words.txt'), /Missing file/);
  });

  it('missing file: CIFAR-100 fine_label_names.txt next to the .bin files', async () => {
    const dir = makeTempDir('err-cifar');
    const members = cifarMembers();
    fs.writeFileSync(path.join(dir, 'train.bin'), members['train.bin']);
    fs.writeFileSync(path.join(dir, 'test.bin'), members['test.bin']);
    const err = await loadDataset('cifar100', { dataDir: dir, log: false }).catch((e) => e);
    expectDatasetError(err, path.join(dir, 'fine_label_names.txt'), /Missing file/);
  });

  it('corrupt JPEG: names the file; finished classes stay valid, nothing partial is cached', async () => {
    const { dir, classList } = imageNetFolder();
    const cacheDir = makeTempDir('err-cache');
    const broken = path.join(dir, 'train', 'n00000002', 'n00000002_1.JPEG');
    const bytes = fs.readFileSync(broken);
    fs.writeFileSync(broken, bytes.subarray(0, bytes.length >> 1));
    const err = await loadDataset('imagenet100', { dataDir: dir, classListFile: classList, imageSize: 16, cacheDir, log: false }).catch((e) => e);
    expectDatasetError(err, broken, /Corrupt or unsupported JPEG/);
    expect(kdcEntries(cacheDir)).toEqual([path.join('decoded', 'imagenet100', 'train', 'n00000001-18-16c.kdc')]);
    expect(tempFilesUnder(cacheDir)).toEqual([]);
  });

  it('corrupt JPEG inside an embedded pack: names the pack and the source image', async () => {
    const dir = embeddedFolder();
    const cacheDir = makeTempDir('err-cache');
    const manifestFile = path.join(dir, 'manifest.json');
    const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
    const packFile = path.join(dir, manifest.classes[1].file);
    const pack = fs.readFileSync(packFile);
    const { header } = parsePack(pack, packFile);
    // Damage the end of the pack's last image (its one test image): scan data and EOI become invalid markers.
    pack.fill(0xff, pack.length - 6);
    pack[pack.length - 1] = 0x01;
    fs.writeFileSync(packFile, pack);
    manifest.classes[1].sha256 = sha256Hex(pack);
    fs.writeFileSync(manifestFile, JSON.stringify(manifest));
    const err = await loadDataset('embedded', { dataDir: dir, cacheDir, log: false }).catch((e) => e);
    expectDatasetError(err, new RegExp(`${packFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(image 2, from ${header.test.sources[0]}\\)`), /Corrupt or unsupported JPEG/);
    expect(kdcEntries(cacheDir).length).toBe(1);
    expect(tempFilesUnder(cacheDir)).toEqual([]);
  });

  it('checksum mismatch: an embedded pack that differs from the manifest', async () => {
    const dir = embeddedFolder();
    const cacheDir = makeTempDir('err-cache');
    const packFile = path.join(dir, 'classes', '000-n00000000.jpk');
    const pack = fs.readFileSync(packFile);
    pack[pack.length - 10] ^= 1;
    fs.writeFileSync(packFile, pack);
    const err = await loadDataset('embedded', { dataDir: dir, cacheDir, log: false }).catch((e) => e);
    const e = expectDatasetError(err, packFile, /Checksum mismatch: manifest says sha256 [0-9a-f]{64}, file has [0-9a-f]{64}/);
    expect(e.fix).toMatch(/git checkout/);
    expect(kdcEntries(cacheDir)).toEqual([]);
    expect(tempFilesUnder(cacheDir)).toEqual([]);
  });

  it('class-list entry absent from the data: names the wnid, the folder and the list, before decoding anything', async () => {
    const { dir } = imageNetFolder();
    const cacheDir = makeTempDir('err-cache');
    const classList = path.join(dir, 'list.txt');
    fs.writeFileSync(classList, 'n00000001\nn00000009\nn00000002\n');
    const err = await loadDataset('imagenet100', { dataDir: dir, classListFile: classList, imageSize: 16, cacheDir, log: false }).catch((e) => e);
    const e = expectDatasetError(err, path.join(dir, 'train', 'n00000009'), /Class n00000009 from the class list has no images in train\//);
    expect(e.subject).toContain(classList);
    expect(e.fix).toMatch(/classListFile/);
    expect(kdcEntries(cacheDir)).toEqual([]);
  });

  it('a malformed class list names the line', async () => {
    const { dir } = imageNetFolder();
    const classList = path.join(dir, 'list.txt');
    fs.writeFileSync(classList, 'n00000001\ngoldfish\n');
    const err = await loadDataset('imagenet100', { dataDir: dir, classListFile: classList, log: false }).catch((e) => e);
    expectDatasetError(err, classList, /Line 2 is not a wnid/);
  });
});
