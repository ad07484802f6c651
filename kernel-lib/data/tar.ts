/**
 * A small streaming reader (and a writer, for tests and fixtures) of POSIX tar archives, optionally gzipped.
 *
 * Covers what dataset archives use: ustar headers with the name prefix field, GNU long names (type 'L'), pax
 * extended headers (type 'x', `path` and `size` keys), base-256 sizes. Each entry's bytes are buffered in memory,
 * which suits archives of many small images or a few data files of a few hundred MB.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { DatasetError } from './common';

const BLOCK = 512;

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'other';

export interface TarEntry {
  /** Path inside the archive, '/'-separated, without a trailing slash. */
  name: string;
  type: TarEntryType;
  size: number;
  mode: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** The entry's bytes (empty for anything but files). */
  data: Buffer;
}

/** FIFO of byte chunks that hands out exact-length slices without copying when one chunk suffices. */
class ByteQueue {
  private chunks: Buffer[] = [];
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  take(n: number): Buffer {
    if (n > this.length) throw new Error(`ByteQueue.take(${n}) with only ${this.length} bytes queued`);
    this.length -= n;
    const first = this.chunks[0];
    if (first && first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0];
      const want = n - filled;
      if (chunk.length <= want) {
        chunk.copy(out, filled);
        filled += chunk.length;
        this.chunks.shift();
      } else {
        chunk.copy(out, filled, 0, want);
        this.chunks[0] = chunk.subarray(want);
        filled += want;
      }
    }
    return out;
  }
}

function cString(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

function parseNumber(block: Buffer, start: number, length: number): number {
  const field = block.subarray(start, start + length);
  if (field[0] & 0x80) {
    // GNU base-256: big-endian two's complement in the remaining bits.
    let value = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i];
    return value;
  }
  const text = cString(block, start, length).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function headerChecksumOk(block: Buffer): boolean {
  const stored = parseNumber(block, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  return sum === stored;
}

function parsePax(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space === -1) break;
    const length = parseInt(data.subarray(at, space).toString('ascii'), 10);
    if (!Number.isFinite(length) || length <= 0) break;
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) records.set(record.slice(0, eq), record.slice(eq + 1));
    at += length;
  }
  return records;
}

function entryType(flag: string): TarEntryType {
  if (flag === '0' || flag === '\0' || flag === '' || flag === '7') return 'file';
  if (flag === '5') return 'directory';
  if (flag === '2') return 'symlink';
  return 'other';
}

/**
 * Entries of an uncompressed tar byte stream, in archive order. `archiveLabel` names the archive in errors.
 */
export async function* readTarStream(input: AsyncIterable<Buffer>, archiveLabel: string): AsyncGenerator<TarEntry> {
  const queue = new ByteQueue();
  let header: Buffer | null = null;
  let longName: string | null = null;
  let pax: Map<string, string> | null = null;
  let ended = false;
  const corrupt = (what: string) =>
    new DatasetError(`Corrupt tar archive: ${what}`, archiveLabel, 'download the archive again (its checksum should match the published one)');

  for await (const chunk of input) {
    if (ended) continue;
    queue.push(chunk);
    for (;;) {
      if (header === null) {
        if (queue.length < BLOCK) break;
        const block = queue.take(BLOCK);
        if (block.every((b) => b === 0)) {
          // The first zero block marks the end; whatever follows is padding.
          ended = true;
          break;
        }
        if (!headerChecksumOk(block)) throw corrupt('bad header checksum');
        header = Buffer.from(block);
      }
      const size = pax?.has('size') ? Number(pax.get('size')) : parseNumber(header, 124, 12);
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      if (queue.length < padded) break;
      const data = queue.take(padded).subarray(0, size);
      const flag = String.fromCharCode(header[156]);
      const current = header;
      header = null;
      if (flag === 'L') {
        longName = cString(data, 0, data.length);
        continue;
      }
      if (flag === 'x') {
        pax = parsePax(data);
        continue;
      }
      if (flag === 'g') continue;
      const prefix = cString(current, 257, 6).startsWith('ustar') ? cString(current, 345, 155) : '';
      const baseName = cString(current, 0, 100);
      let name = pax?.get('path') ?? longName ?? (prefix ? `${prefix}/${baseName}` : baseName);
      name = name.replace(/\/+$/, '');
      longName = null;
      pax = null;
      const type = entryType(flag);
      yield {
        name,
        type,
        size,
        mode: parseNumber(current, 100, 8),
        mtime: parseNumber(current, 136, 12),
        data: type === 'file' ? data : Buffer.alloc(0),
      };
    }
  }
  if (!ended && (header !== null || queue.length > 0)) throw corrupt('it ends in the middle of an entry (truncated file?)');
}

/** Entries of a `.tar.gz` (or plain `.tar`) file. Closes the file when the consumer stops early. */
export async function* readTarFile(file: string): AsyncGenerator<TarEntry> {
  const source = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  const gzipped = /\.(tgz|gz)$/i.test(file);
  const stream = gzipped ? source.pipe(zlib.createGunzip({ chunkSize: 1 << 20 })) : source;
  if (gzipped) source.on('error', (err) => stream.destroy(err));
  try {
    yield* readTarStream(wrapErrors(stream as AsyncIterable<Buffer>, file), file);
  } finally {
    source.destroy();
    stream.destroy();
  }
}

async function* wrapErrors(stream: AsyncIterable<Buffer>, file: string): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of stream) yield chunk;
  } catch (err) {
    if (err instanceof DatasetError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new DatasetError(`Cannot read archive (${message})`, file, 'check that the file exists and is a complete .tar.gz; download it again if not');
  }
}

/** A path inside an archive that stays inside the extraction folder, or a DatasetError. */
export function safeRelativePath(name: string, archiveLabel: string): string {
  const normalised = path.posix.normalize(name);
  if (normalised.startsWith('/') || normalised === '..' || normalised.startsWith('../') || /^[A-Za-z]:/.test(normalised)) {
    throw new DatasetError(`Archive entry points outside the extraction folder: ${name}`, archiveLabel, 'use the official archive; this one is not safe to extract');
  }
  return normalised;
}

/**
 * Extracts the regular files (and folders) of a tar(.gz) archive under `destDir`. `filter` sees each entry's archive
 * path and may skip it. Returns the number of files written.
 */
export async function extractTarFile(archive: string, destDir: string, filter?: (name: string) => boolean): Promise<number> {
  const made = new Set<string>();
  const ensureDir = (dir: string) => {
    if (made.has(dir)) return;
    fs.mkdirSync(dir, { recursive: true });
    made.add(dir);
  };
  let files = 0;
  for await (const entry of readTarFile(archive)) {
    if (entry.type !== 'file' && entry.type !== 'directory') continue;
    if (filter && !filter(entry.name)) continue;
    const target = path.join(destDir, safeRelativePath(entry.name, archive));
    if (entry.type === 'directory') {
      ensureDir(target);
      continue;
    }
    ensureDir(path.dirname(target));
    fs.writeFileSync(target, entry.data);
    files++;
  }
  return files;
}

export interface TarInput {
  name: string;
  data?: Uint8Array;
  type?: 'file' | 'directory';
  /** Seconds since the epoch (default 0, so archives are reproducible). */
  mtime?: number;
}

function writeOctal(block: Buffer, value: number, start: number, length: number): void {
  block.write(value.toString(8).padStart(length - 1, '0') + '\0', start, length, 'ascii');
}

/** An uncompressed ustar archive of the given entries (names up to 255 bytes via the prefix field). */
export function createTar(entries: TarInput[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const isDir = entry.type === 'directory';
    const data = isDir ? Buffer.alloc(0) : Buffer.from(entry.data ?? new Uint8Array(0));
    let name = entry.name.replace(/\/+$/, '') + (isDir ? '/' : '');
    let prefix = '';
    if (Buffer.byteLength(name) > 100) {
      const cut = name.lastIndexOf('/', name.length - 2);
      prefix = name.slice(0, cut);
      name = name.slice(cut + 1);
      if (Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) throw new Error(`createTar: name too long: ${entry.name}`);
    }
    const header = Buffer.alloc(BLOCK);
    header.write(name, 0, 100, 'utf8');
    writeOctal(header, isDir ? 0o755 : 0o644, 100, 8);
    writeOctal(header, 0, 108, 8);
    writeOctal(header, 0, 116, 8);
    writeOctal(header, data.length, 124, 12);
    writeOctal(header, entry.mtime ?? 0, 136, 12);
    header.fill(0x20, 148, 156);
    header.write(isDir ? '5' : '0', 156, 1, 'ascii');
    header.write('ustar\0', 257, 6, 'ascii');
    header.write('00', 263, 2, 'ascii');
    header.write(prefix, 345, 155, 'utf8');
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += header[i];
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
    parts.push(header, data);
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}
