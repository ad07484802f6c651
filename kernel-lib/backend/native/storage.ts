/**
 * Output-buffer reuse for the 'kdcl-native' backend. A fresh Float32Array costs more than the native kernel
 * that fills it (the OS zeroes and maps every page, and V8 frees it only at a later GC: measured here, fresh
 * allocations took half the CPU time of a small model's training), so the buffers native kernels allocate go
 * back to a pool when tfjs disposes their tensor, and the next kernel that needs about as many floats reuses
 * one. Buffers come in size classes (1/8 apart), and a request takes the smallest pooled buffer of at most twice
 * its size, so that batches of varying size (mixup, the last batch of an epoch) still reuse buffers; a tensor's
 * values are an exact-length view of its buffer.
 *
 * Nothing outside the backend ever sees a pooled buffer: dataSync(), data(), bufferSync() and moves to other
 * backends (all readSync/read) get an exact copy. A buffer that a second tensor shares (the cpu backend's slice()
 * returns a view of its input) is withheld from reuse for good ("escaped").
 */

/** The MathBackendCPU members the pool hooks into. */
export interface CpuBackendLike {
  data: { get(dataId: object): { values?: unknown } | undefined; has(dataId: object): boolean };
  write(values: unknown, shape: number[], dtype: string): object;
  readSync(dataId: object): unknown;
  read(dataId: object): Promise<unknown>;
  disposeData(dataId: object, force?: boolean): boolean;
}

/** Floats in the size class of `length`: multiples of 64 up to 4096, then 8 steps per power of two. */
export function sizeClass(length: number): number {
  if (length <= 4096) return Math.max(64, Math.ceil(length / 64) * 64);
  const step = 2 ** (Math.floor(Math.log2(length)) - 3);
  return Math.ceil(length / step) * step;
}

interface Pooled {
  buffer: ArrayBuffer;
  /** Allocation count when it was released (for age-based eviction). */
  releasedAt: number;
}

export class BufferPool {
  /** Pooled buffers by size class, most recently released last (reused first: still warm in cache). */
  private readonly free = new Map<number, ArrayBuffer[]>();
  /** Pooled buffers in release order, for evicting the stalest first (may hold buffers already reused). */
  private queue: Pooled[] = [];
  private readonly pooled = new Set<ArrayBuffer>();
  /** Buffers this pool allocated (only these are ever reused). */
  private readonly owned = new WeakSet<ArrayBufferLike>();
  /** Buffers currently backing a tensor. */
  private readonly live = new WeakSet<ArrayBufferLike>();
  private readonly escaped = new WeakSet<ArrayBufferLike>();
  private pooledBytes = 0;
  private allocations = 0;
  reused = 0;
  allocated = 0;

  /**
   * @param maxPooledBytes the pool never holds more
   * @param maxAge a pooled buffer not reused within this many allocations is dropped (sizes a training loop
   *   needs every step come back within one step, a few thousand allocations; one-off sizes go to the GC)
   */
  constructor(private readonly maxPooledBytes: number, private readonly maxAge = 5_000) {}

  /** A Float32Array of `length` elements with arbitrary contents: the caller overwrites all of it. */
  alloc(length: number): Float32Array {
    this.allocations++;
    if (length === 0) return new Float32Array(0);
    const cls = sizeClass(length);
    const recycled = this.take(cls, 2 * length);
    if (recycled) {
      this.pooled.delete(recycled);
      this.pooledBytes -= recycled.byteLength;
      this.reused++;
      if (this.allocations % 256 === 0) this.evict();
      return new Float32Array(recycled, 0, length);
    }
    const buffer = new ArrayBuffer(cls * 4);
    this.owned.add(buffer);
    this.allocated++;
    return new Float32Array(buffer, 0, length);
  }

  /** The most recently released buffer of the smallest class from `cls` up to `limit` floats that has one. */
  private take(cls: number, limit: number): ArrayBuffer | undefined {
    for (let c = cls; c <= limit; c = sizeClass(c + 1)) {
      const buffer = this.free.get(c)?.pop();
      if (buffer) return buffer;
    }
    return undefined;
  }

  /** True for values in a buffer of this pool: readers must get a copy. */
  owns(values: unknown): values is Float32Array {
    return values instanceof Float32Array && this.owned.has(values.buffer);
  }

  /** Called when a tensor is written: a buffer already backing another tensor is shared from now on. */
  noteWrite(values: unknown): void {
    if (!ArrayBuffer.isView(values)) return;
    if (this.live.has(values.buffer)) this.escaped.add(values.buffer);
    else this.live.add(values.buffer);
  }

  /** Called when a tensor's data is deleted: pool its buffer if it is ours and was never shared. */
  release(values: unknown): void {
    if (!ArrayBuffer.isView(values)) return;
    const buffer = values.buffer;
    this.live.delete(buffer);
    if (!this.owned.has(buffer) || this.escaped.has(buffer) || this.pooled.has(buffer as ArrayBuffer)) return;
    if (buffer.byteLength > this.maxPooledBytes) return;
    const cls = buffer.byteLength / 4;
    let list = this.free.get(cls);
    if (!list) this.free.set(cls, (list = []));
    list.push(buffer as ArrayBuffer);
    this.pooled.add(buffer as ArrayBuffer);
    this.queue.push({ buffer: buffer as ArrayBuffer, releasedAt: this.allocations });
    this.pooledBytes += buffer.byteLength;
    if (this.pooledBytes > this.maxPooledBytes) this.evict();
  }

  /** Drops the buffers released longest ago while the pool is over its limit or they are older than maxAge. */
  private evict(): void {
    let head = 0;
    for (; head < this.queue.length; head++) {
      const { buffer, releasedAt } = this.queue[head];
      if (!this.pooled.has(buffer)) continue; // reused since it was queued
      if (this.pooledBytes <= this.maxPooledBytes && this.allocations - releasedAt <= this.maxAge) break;
      this.pooled.delete(buffer);
      const list = this.free.get(buffer.byteLength / 4)!;
      list.splice(list.indexOf(buffer), 1);
      this.pooledBytes -= buffer.byteLength;
    }
    if (head > 0) this.queue = this.queue.slice(head);
    // Entries of reused buffers pile up in the queue: compact it now and then.
    if (this.queue.length > 2 * this.pooled.size + 64) this.queue = this.queue.filter((e) => this.pooled.has(e.buffer));
  }

  /** Drops every pooled buffer (GC frees them). */
  clear(): void {
    this.free.clear();
    this.pooled.clear();
    this.queue = [];
    this.pooledBytes = 0;
  }

  get bytes(): number {
    return this.pooledBytes;
  }
}

const pools = new WeakMap<object, BufferPool>();

/** The pool attached to a backend instance, if any. */
export function poolOf(backend: object): BufferPool | undefined {
  return pools.get(backend);
}

/** Hooks `pool` into a cpu backend instance's write/read/dispose. */
export function attachPool(backend: CpuBackendLike, pool: BufferPool): void {
  pools.set(backend, pool);
  const write = backend.write.bind(backend);
  const readSync = backend.readSync.bind(backend);
  const disposeData = backend.disposeData.bind(backend);
  backend.write = (values, shape, dtype) => {
    pool.noteWrite(values);
    return write(values, shape, dtype);
  };
  backend.readSync = (dataId) => {
    const values = backend.data.get(dataId)?.values;
    return pool.owns(values) ? values.slice() : readSync(dataId);
  };
  // MathBackendCPU.read() calls this.readSync(), which is the hook above; hook it anyway in case that changes.
  backend.read = async (dataId) => backend.readSync(dataId);
  backend.disposeData = (dataId, force) => {
    const values = backend.data.has(dataId) ? backend.data.get(dataId)?.values : undefined;
    const released = disposeData(dataId, force);
    if (values !== undefined && !backend.data.has(dataId)) pool.release(values);
    return released;
  };
}
