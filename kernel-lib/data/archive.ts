/**
 * Tar archives (optionally gzipped) through tar-stream: the dataset loaders read entries as a stream, and tests
 * and fixtures write small archives. tar-stream handles ustar name prefixes, GNU long names and pax headers.
 * Errors are DatasetErrors that name the archive (and the entry, where one is at fault).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import * as tarStream from 'tar-stream';
import { DatasetError } from './common';

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

function entryType(type: tarStream.Headers['type']): TarEntryType {
  if (type === 'file' || type === 'contiguous-file') return 'file';
  if (type === 'directory') return 'directory';
  if (type === 'symlink') return 'symlink';
  return 'other';
}

function corrupt(archiveLabel: string, what: string): DatasetError {
  return new DatasetError(`Corrupt tar archive: ${what}`, archiveLabel, 'download the archive again (its checksum should match the published one)');
}

/** Entries of an uncompressed tar byte stream, in archive order. `archiveLabel` names the archive in errors. */
export async function* readTarStream(input: AsyncIterable<Buffer>, archiveLabel: string): AsyncGenerator<TarEntry> {
  const extract = tarStream.extract();
  const source = Readable.from(input);
  source.on('error', (err) => extract.destroy(err));
  source.pipe(extract);
  try {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry as unknown as AsyncIterable<Buffer>) chunks.push(chunk);
      const header = entry.header;
      const type = entryType(header.type);
      yield {
        name: header.name.replace(/\/+$/, ''),
        type,
        size: header.size ?? 0,
        mode: header.mode ?? 0,
        mtime: Math.round((header.mtime?.getTime() ?? 0) / 1000),
        data: type === 'file' ? Buffer.concat(chunks) : Buffer.alloc(0),
      };
    }
  } catch (err) {
    if (err instanceof DatasetError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    if (/unexpected end of data/i.test(message)) throw corrupt(archiveLabel, 'it ends in the middle of an entry (truncated file?)');
    if (/checksum|header/i.test(message)) throw corrupt(archiveLabel, `bad header checksum or format (${message})`);
    throw err;
  } finally {
    source.unpipe(extract);
    source.destroy();
    extract.destroy();
  }
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

/** An uncompressed tar archive of the given entries (long names as tar-stream writes them). */
export async function createTar(entries: TarInput[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const collected = new Promise<Buffer>((resolve, reject) => {
    pack.on('data', (chunk: Buffer) => chunks.push(chunk));
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
  });
  for (const entry of entries) {
    const isDir = entry.type === 'directory';
    const header: tarStream.Headers = {
      name: entry.name.replace(/\/+$/, ''),
      type: isDir ? 'directory' : 'file',
      mode: isDir ? 0o755 : 0o644,
      mtime: new Date((entry.mtime ?? 0) * 1000),
    };
    await new Promise<void>((resolve, reject) => {
      pack.entry(header, isDir ? undefined : Buffer.from(entry.data ?? new Uint8Array(0)), (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  return collected;
}
