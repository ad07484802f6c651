/**
 * Decoded-image cache on disk: one file per entry (typically one class of one split at one image size).
 *
 * Entry file layout:
 *   bytes 0..9    ASCII magic `KDCLCACHE1`
 *   bytes 10..13  uint32 LE length H of the header
 *   H bytes       UTF-8 JSON header: { key, payloadBytes, sha256, meta, metaSha256 }
 *   payloadBytes  the payload (e.g. uint8 NHWC pixels)
 * `key` identifies what the payload was built from (source files, sizes, loader version); a different key means the
 * entry is stale. A wrong file size, or a payload or meta whose sha256 differs from the header's, means the entry is
 * corrupt.
 * Stale and corrupt entries are rebuilt; corrupt ones are reported. Every write is atomic (temp file + rename), so a
 * crash or an error never leaves a partial entry under the entry's name.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DatasetError } from './common';

const MAGIC = Buffer.from('KDCLCACHE1', 'ascii');
const PREFIX_BYTES = MAGIC.length + 4;

export type CacheMeta = Record<string, unknown>;

export type CacheRead =
  | { status: 'hit'; payload: Uint8Array[]; meta: CacheMeta }
  | { status: 'missing' }
  | { status: 'stale' }
  | { status: 'corrupt'; reason: string };

export function sha256Hex(data: Uint8Array | string): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/**
 * Writes `data` to `file` atomically: a uniquely named temp file in the same folder, then rename. The temp file is
 * removed if anything fails.
 */
export function writeFileAtomic(file: string, data: Uint8Array | Uint8Array[]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temp = tempPathFor(file);
  try {
    const fd = fs.openSync(temp, 'w');
    try {
      for (const part of Array.isArray(data) ? data : [data]) fs.writeSync(fd, part);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
}

/** A unique sibling path for temporary output (same folder, so rename is atomic). Marked `.tmp-` for cleanup checks. */
export function tempPathFor(file: string): string {
  return `${file}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
}

class CorruptEntry extends Error {}

/** Fills `target` from `fd` at `position`, or throws CorruptEntry if the file ends first. */
function readExactly(fd: number, target: Uint8Array, position: number): void {
  let done = 0;
  while (done < target.length) {
    const n = fs.readSync(fd, target, done, Math.min(target.length - done, 1 << 30), position + done);
    if (n === 0) throw new CorruptEntry('file ended early');
    done += n;
  }
}

/**
 * Reads and verifies an entry. The payload is read straight into `into` (views whose lengths add up to the payload
 * size, e.g. a class's slots in the final train and test arrays: no intermediate buffer, no copy) or into a new array.
 * An entry of the right key but another payload size reads as stale. The key is checked before the payload is read
 * and hashed: an entry that will be replaced anyway is not verified.
 */
export function readCacheEntry(file: string, key: string, into?: Uint8Array[]): CacheRead {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return { status: 'missing' };
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size < PREFIX_BYTES) return { status: 'corrupt', reason: `wrong size: ${size} bytes, shorter than the prefix` };
    const prefix = Buffer.alloc(PREFIX_BYTES);
    readExactly(fd, prefix, 0);
    if (!prefix.subarray(0, MAGIC.length).equals(MAGIC)) return { status: 'corrupt', reason: 'bad magic bytes' };
    const headerBytes = prefix.readUInt32LE(MAGIC.length);
    if (PREFIX_BYTES + headerBytes > size) return { status: 'corrupt', reason: 'header longer than the file' };
    const headerBuffer = Buffer.alloc(headerBytes);
    readExactly(fd, headerBuffer, PREFIX_BYTES);
    let header: { key?: unknown; payloadBytes?: unknown; sha256?: unknown; meta?: unknown; metaSha256?: unknown };
    try {
      header = JSON.parse(headerBuffer.toString('utf8'));
    } catch {
      return { status: 'corrupt', reason: 'unreadable header' };
    }
    if (typeof header.payloadBytes !== 'number' || typeof header.sha256 !== 'string') {
      return { status: 'corrupt', reason: 'header lacks payloadBytes or sha256' };
    }
    const expectedSize = PREFIX_BYTES + headerBytes + header.payloadBytes;
    if (size !== expectedSize) return { status: 'corrupt', reason: `wrong size: ${size} bytes, header says ${expectedSize}` };
    const meta = header.meta ?? {};
    // Entries written before meta was checksummed are rebuilt quietly, like any entry from an older loader.
    if (header.metaSha256 === undefined) return { status: 'stale' };
    if (sha256Hex(JSON.stringify(meta)) !== header.metaSha256) return { status: 'corrupt', reason: "meta sha256 differs from the header's" };
    if (header.key !== key) return { status: 'stale' };
    const views = into ?? [new Uint8Array(header.payloadBytes)];
    if (views.reduce((n, v) => n + v.length, 0) !== header.payloadBytes) return { status: 'stale' };
    const hash = crypto.createHash('sha256');
    let position = PREFIX_BYTES + headerBytes;
    for (const view of views) {
      readExactly(fd, view, position);
      hash.update(view);
      position += view.length;
    }
    const actual = hash.digest('hex');
    if (actual !== header.sha256) return { status: 'corrupt', reason: `payload sha256 ${actual} differs from header's ${header.sha256}` };
    return { status: 'hit', payload: views, meta: meta as CacheMeta };
  } catch (err) {
    if (err instanceof CorruptEntry) return { status: 'corrupt', reason: err.message };
    throw err;
  } finally {
    fs.closeSync(fd);
  }
}

export function writeCacheEntry(file: string, key: string, payload: Uint8Array, meta: CacheMeta = {}): void {
  const metaSha256 = sha256Hex(JSON.stringify(meta));
  const header = Buffer.from(JSON.stringify({ key, payloadBytes: payload.length, sha256: sha256Hex(payload), meta, metaSha256 }), 'utf8');
  const prefix = Buffer.alloc(PREFIX_BYTES);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt32LE(header.length, MAGIC.length);
  writeFileAtomic(file, [prefix, header, payload]);
}

export interface CachedOptions {
  /** Where corrupt entries are reported. */
  warn?: (line: string) => void;
  /** Skip the cache entirely (neither read nor write). */
  disabled?: boolean;
  /** Destination views for the payload (see readCacheEntry); a built payload is copied into them. */
  into?: Uint8Array[];
}

/**
 * The payload stored under `file` for `key`, or `build()`'s result, which is then stored. A corrupt entry is
 * reported through `warn` and rebuilt; a stale one is rebuilt silently. If `build` throws, nothing is written.
 * The payload comes back as `into` when given, else as one array.
 */
export async function cached(
  file: string,
  key: string,
  build: () => Promise<{ payload: Uint8Array; meta?: CacheMeta }> | { payload: Uint8Array; meta?: CacheMeta },
  options: CachedOptions = {},
): Promise<{ payload: Uint8Array[]; meta: CacheMeta; fromCache: boolean }> {
  if (!options.disabled) {
    const read = readCacheEntry(file, key, options.into);
    if (read.status === 'hit') return { payload: read.payload, meta: read.meta, fromCache: true };
    if (read.status === 'corrupt') (options.warn ?? console.warn)(`corrupt cache entry ${file} (${read.reason}); rebuilding it`);
  }
  const built = await build();
  const meta = built.meta ?? {};
  if (!options.disabled) writeCacheEntry(file, key, built.payload, meta);
  if (!options.into) return { payload: [built.payload], meta, fromCache: false };
  const total = options.into.reduce((n, v) => n + v.length, 0);
  if (total !== built.payload.length) throw new Error(`cache entry ${file}: built ${built.payload.length} bytes for ${total} bytes of destination`);
  let at = 0;
  for (const view of options.into) {
    if (view.buffer !== built.payload.buffer || view.byteOffset !== built.payload.byteOffset + at) view.set(built.payload.subarray(at, at + view.length));
    at += view.length;
  }
  return { payload: options.into, meta, fromCache: false };
}

/** A short, stable cache key from any JSON-able description of an entry's inputs. */
export function cacheKey(description: unknown): string {
  return sha256Hex(JSON.stringify(description));
}

/** Size and modification time of each file, for keys that notice when sources change. */
export function fileFingerprints(files: string[]): [string, number, number][] {
  return files.map((file) => {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      throw new DatasetError('Missing file', file, 'restore it from the original dataset archive (or re-extract the archive)');
    }
    return [path.basename(file), stat.size, Math.round(stat.mtimeMs)];
  });
}
