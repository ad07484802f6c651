/**
 * Output-buffer reuse for the 'kdcl-native' backend. A fresh Float32Array costs more than the native kernel
 * that fills it (the OS zeroes and maps every page, and V8 frees it only at a later GC), so buffers the
 * native kernels allocated go back to a pool when tfjs disposes their tensor, and the next kernel that needs
 * the same length reuses one.
 *
 * A buffer is reused only if nothing outside the backend can still see it. It is withheld forever ("escaped")
 * once its values were handed out (dataSync(), data(), bufferSync() and moves to other backends all go through
 * readSync/read) or once a second tensor was written over the same memory (e.g. the cpu backend's slice()
 * returns a view of its input).
 */

/** The MathBackendCPU members the pool hooks into. */
export interface CpuBackendLike {
  data: { get(dataId: object): { values?: unknown } | undefined; has(dataId: object): boolean };
  write(values: unknown, shape: number[], dtype: string): object;
  readSync(dataId: object): unknown;
  read(dataId: object): Promise<unknown>;
  disposeData(dataId: object, force?: boolean): boolean;
}

export class BufferPool {
  /** Pooled arrays by length, most recently released last (reused first: still warm in cache). */
  private readonly free = new Map<number, Float32Array[]>();
  /** Pooled arrays in release order, for evicting the stalest first (may hold arrays already reused). */
  private queue: Float32Array[] = [];
  private readonly pooled = new Set<Float32Array>();
  /** Arrays this pool allocated (only these are ever reused). */
  private readonly owned = new WeakSet<Float32Array>();
  /** Buffers currently backing a tensor. */
  private readonly live = new WeakSet<ArrayBufferLike>();
  private readonly escaped = new WeakSet<ArrayBufferLike>();
  private pooledBytes = 0;
  reused = 0;
  allocated = 0;

  constructor(private readonly maxPooledBytes: number) {}

  /** A Float32Array of `length` elements with arbitrary contents: the caller overwrites all of it. */
  alloc(length: number): Float32Array {
    const recycled = this.free.get(length)?.pop();
    if (recycled) {
      this.pooled.delete(recycled);
      this.pooledBytes -= recycled.byteLength;
      this.reused++;
      return recycled;
    }
    const fresh = new Float32Array(length);
    this.owned.add(fresh);
    this.allocated++;
    return fresh;
  }

  /** Marks values visible outside the backend: their buffer is never reused. */
  escape(values: unknown): void {
    if (ArrayBuffer.isView(values)) this.escaped.add(values.buffer);
  }

  /** Called when a tensor is written: a buffer already backing another tensor is shared from now on. */
  noteWrite(values: unknown): void {
    if (!ArrayBuffer.isView(values)) return;
    if (this.live.has(values.buffer)) this.escaped.add(values.buffer);
    else this.live.add(values.buffer);
  }

  /** Called when a tensor's data is deleted: pool its array if it is ours and was never shared. */
  release(values: unknown): void {
    if (!ArrayBuffer.isView(values)) return;
    this.live.delete(values.buffer);
    if (!(values instanceof Float32Array) || !this.owned.has(values) || this.escaped.has(values.buffer)) return;
    if (values.byteLength > this.maxPooledBytes) return;
    let list = this.free.get(values.length);
    if (!list) this.free.set(values.length, (list = []));
    list.push(values);
    this.pooled.add(values);
    this.queue.push(values);
    this.pooledBytes += values.byteLength;
    this.evict();
  }

  /**
   * Keeps the pool under its byte limit by dropping the arrays released longest ago: sizes a training loop
   * uses every step stay, sizes seen once (an evaluation batch, a grown head) go to the GC.
   */
  private evict(): void {
    let head = 0;
    while (this.pooledBytes > this.maxPooledBytes && head < this.queue.length) {
      const stale = this.queue[head++];
      if (!this.pooled.delete(stale)) continue; // reused since it was queued
      const list = this.free.get(stale.length)!;
      list.splice(list.indexOf(stale), 1);
      if (list.length === 0) this.free.delete(stale.length);
      this.pooledBytes -= stale.byteLength;
    }
    if (head > 0) this.queue = this.queue.slice(head);
    // Entries of reused arrays pile up in the queue: compact it now and then.
    if (this.queue.length > 2 * this.pooled.size + 64) this.queue = this.queue.filter((a) => this.pooled.has(a));
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
    pool.escape(backend.data.get(dataId)?.values);
    return readSync(dataId);
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
