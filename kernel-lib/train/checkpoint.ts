/**
 * Checkpoint files: one binary file per completed task, `task-NNN.kdcl`, written atomically (temp file, fsync,
 * rename). Layout:
 *
 *   8 bytes  magic "KDCLCKPT"
 *   4 bytes  format version, uint32 LE (2)
 *   4 bytes  header length H, uint32 LE
 *  32 bytes  SHA-256 of the H header bytes (metrics, completed tasks and every other field are covered)
 *   H bytes  JSON header (UTF-8): the checkpoint's data, with binary values replaced by references to blobs
 *   payload  the blobs, each 8-byte aligned; the header holds the payload's length and SHA-256
 *
 * Values: plain JSON plus typed arrays, tf.Tensors, Maps and non-finite numbers, encoded as tagged objects
 * ({$typed}, {$tensor}, {$map}, {$num}). Anything else (functions, class instances) is refused with its path.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tf } from '../tf';

const MAGIC = 'KDCLCKPT';
const FORMAT_VERSION = 2;
const PREAMBLE = 16;
const DIGEST = 32;

type TypedArray =
  | Float32Array
  | Float64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray;

const TYPED: Record<string, new (buffer: ArrayBuffer) => TypedArray> = {
  Float32Array,
  Float64Array,
  Int32Array,
  Uint32Array,
  Int16Array,
  Uint16Array,
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
};

interface BlobRef {
  offset: number;
  bytes: number;
}

class BlobWriter {
  readonly chunks: Uint8Array[] = [];
  length = 0;
  add(bytes: Uint8Array): BlobRef {
    const pad = (8 - (this.length % 8)) % 8;
    if (pad) {
      this.chunks.push(new Uint8Array(pad));
      this.length += pad;
    }
    const ref = { offset: this.length, bytes: bytes.byteLength };
    this.chunks.push(bytes);
    this.length += bytes.byteLength;
    return ref;
  }
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function encodeValue(value: unknown, blobs: BlobWriter, where: string): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : { $num: String(value) };
  if (typeof value !== 'object') {
    throw new Error(`checkpoint: cannot save ${where}: ${typeof value} values are not serialisable (use plain JSON, typed arrays or tensors)`);
  }
  if (ArrayBuffer.isView(value)) {
    const typed = value as TypedArray;
    const kind = typed.constructor.name;
    if (!(kind in TYPED)) throw new Error(`checkpoint: cannot save ${where}: unsupported array type ${kind}`);
    const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength).slice();
    return { $typed: kind, ...blobs.add(bytes) };
  }
  if (value instanceof tf.Tensor) {
    if (value.isDisposed) throw new Error(`checkpoint: cannot save ${where}: the tensor is disposed`);
    const data = value.dataSync();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    return { $tensor: value.dtype, shape: value.shape, variable: value instanceof tf.Variable, ...blobs.add(bytes) };
  }
  if (value instanceof Map) {
    return { $map: [...value].map(([k, v], i) => [encodeValue(k, blobs, `${where}<key ${i}>`), encodeValue(v, blobs, `${where}.get(${String(k)})`)]) };
  }
  if (Array.isArray(value)) return value.map((v, i) => encodeValue(v, blobs, `${where}[${i}]`));
  if (!isPlainObject(value)) {
    throw new Error(`checkpoint: cannot save ${where}: ${value.constructor?.name ?? 'object'} instances are not serialisable (use plain JSON, typed arrays or tensors)`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (k.startsWith('$')) throw new Error(`checkpoint: cannot save ${where}.${k}: keys starting with '$' are reserved`);
    out[k] = encodeValue(v, blobs, `${where}.${k}`);
  }
  return out;
}

function decodeValue(value: unknown, payload: Uint8Array): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => decodeValue(v, payload));
  const obj = value as Record<string, unknown>;
  const bytesOf = () => {
    const { offset, bytes } = obj as unknown as BlobRef;
    return payload.slice(offset, offset + bytes);
  };
  if (typeof obj.$num === 'string') return Number(obj.$num);
  if (typeof obj.$typed === 'string') return new TYPED[obj.$typed](bytesOf().buffer);
  if (typeof obj.$tensor === 'string') {
    const dtype = obj.$tensor as tf.DataType;
    const raw = bytesOf().buffer;
    const data = dtype === 'int32' ? new Int32Array(raw) : dtype === 'bool' ? new Uint8Array(raw) : new Float32Array(raw);
    const t = tf.tensor(data, obj.shape as number[], dtype);
    if (!obj.variable) return t;
    // The variable takes its own reference to t's data: drop ours, or every restore leaks one tensor per weight.
    const v = tf.variable(t, false);
    t.dispose();
    return v;
  }
  if (Array.isArray(obj.$map)) {
    return new Map((obj.$map as [unknown, unknown][]).map(([k, v]) => [decodeValue(k, payload), decodeValue(v, payload)]));
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = decodeValue(v, payload);
  return out;
}

/** Serialises `data` to the checkpoint byte layout. */
export function encodeCheckpoint(data: Record<string, unknown>): Uint8Array {
  const blobs = new BlobWriter();
  const body = encodeValue(data, blobs, 'checkpoint');
  const payload = Buffer.concat(blobs.chunks);
  const header = Buffer.from(
    JSON.stringify({ payloadBytes: payload.byteLength, payloadSha256: createHash('sha256').update(payload).digest('hex'), body }),
    'utf8',
  );
  const preamble = Buffer.alloc(PREAMBLE);
  preamble.write(MAGIC, 0, 'latin1');
  preamble.writeUInt32LE(FORMAT_VERSION, 8);
  preamble.writeUInt32LE(header.byteLength, 12);
  const digest = createHash('sha256').update(header).digest();
  return Buffer.concat([preamble, digest, header, payload]);
}

/** Parses checkpoint bytes; `file` names the source in errors. */
export function decodeCheckpoint(bytes: Uint8Array, file: string): Record<string, unknown> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const corrupt = (why: string) =>
    new Error(
      `checkpoint ${file} is unreadable: ${why}. Delete it and run again: a run keeps only its latest checkpoint ` +
        `(keepCheckpoints: 'last'), so it starts over from task 0; with keepCheckpoints: 'all' it would resume from the task before.`,
    );
  if (buf.byteLength < PREAMBLE || buf.toString('latin1', 0, 8) !== MAGIC) throw corrupt('not a kdcl checkpoint (bad magic bytes)');
  const version = buf.readUInt32LE(8);
  if (version === 1) throw corrupt('format version 1, written by an earlier kdcl whose header had no checksum (this kdcl reads version 2)');
  if (version !== FORMAT_VERSION) throw corrupt(`format version ${version}, this kdcl reads version ${FORMAT_VERSION}`);
  const headerBytes = buf.readUInt32LE(12);
  const start = PREAMBLE + DIGEST;
  if (start + headerBytes > buf.byteLength) throw corrupt(`truncated header (needs ${headerBytes} bytes)`);
  const headerRaw = buf.subarray(start, start + headerBytes);
  if (!createHash('sha256').update(headerRaw).digest().equals(buf.subarray(PREAMBLE, start))) {
    throw corrupt('header checksum mismatch (the metrics or settings in it were changed or damaged)');
  }
  let header: { payloadBytes: number; payloadSha256: string; body: unknown };
  try {
    header = JSON.parse(headerRaw.toString('utf8'));
  } catch (err) {
    throw corrupt(`header is not valid JSON (${(err as Error).message})`);
  }
  const payload = buf.subarray(start + headerBytes);
  if (payload.byteLength !== header.payloadBytes) {
    throw corrupt(`payload is ${payload.byteLength} bytes, the header says ${header.payloadBytes} (truncated or appended to)`);
  }
  if (createHash('sha256').update(payload).digest('hex') !== header.payloadSha256) throw corrupt('payload checksum mismatch');
  return decodeValue(header.body, new Uint8Array(payload)) as Record<string, unknown>;
}

/** Writes `bytes` to `file` atomically: a temp file in the same folder, fsynced, then renamed over `file`. */
export function writeFileAtomic(file: string, bytes: Uint8Array): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${os.hostname()}-${process.pid}-${Date.now()}`);
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, bytes);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  try {
    const dirFd = fs.openSync(dir, 'r');
    fs.fsyncSync(dirFd);
    fs.closeSync(dirFd);
  } catch {
    // Directory fsync is not supported everywhere (e.g. Windows); the rename itself is still atomic.
  }
}

const CHECKPOINT_NAME = /^task-(\d{3,})\.kdcl$/;

export function checkpointFileName(task: number): string {
  return `task-${String(task).padStart(3, '0')}.kdcl`;
}

/** Removes the temp files of writes killed before their rename, where the writer is known to be dead (see below). */
export function removeStaleTempFiles(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const name of fs.readdirSync(dir)) {
    if (isDeadOwnersTempFile(name)) fs.rmSync(path.join(dir, name), { force: true });
  }
}

/**
 * A temp file of writeFileAtomic (`.<name>.tmp-<host>-<pid>-<time>`) whose writer is known to be dead: written on
 * this host by a process that no longer exists. Another host's temp files, or a live process's, are left alone.
 */
export function isDeadOwnersTempFile(name: string): boolean {
  const m = /^\..+\.tmp-(.+)-(\d+)-\d+$/.exec(name);
  if (!m || m[1] !== os.hostname()) return false;
  const pid = Number(m[2]);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Completed-task checkpoints in a folder, sorted by task. */
export function listCheckpoints(dir: string): { task: number; file: string }[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .map((name) => ({ name, match: CHECKPOINT_NAME.exec(name) }))
    .filter((e) => e.match)
    .map((e) => ({ task: Number(e.match![1]), file: path.join(dir, e.name) }))
    .sort((a, b) => a.task - b.task);
}

/**
 * The checkpoint file to resume from: `from` itself if it is a file, else the latest task checkpoint in that
 * folder. Returns null for a folder with no checkpoints (nothing to resume: the run starts from task 0).
 */
export function resolveCheckpoint(from: string): string | null {
  if (!fs.existsSync(from)) return null;
  if (fs.statSync(from).isFile()) return from;
  const all = listCheckpoints(from);
  return all.length ? all[all.length - 1].file : null;
}

export function readCheckpointFile(file: string): Record<string, unknown> {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new Error(`checkpoint ${file} cannot be read: ${(err as Error).message}`);
  }
  return decodeCheckpoint(bytes, file);
}

/** SHA-256 of a value's canonical JSON (object keys sorted), for config hashes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]));
    }
    return v;
  });
}

export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}
