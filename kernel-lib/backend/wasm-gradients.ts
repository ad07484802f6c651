/**
 * Training kernels for the tfjs wasm backend.
 *
 * tfjs-backend-wasm 4.22 runs inference well (its Conv2D and plain MatMul are XNNPACK) but training needs kernels
 * it lacks or runs on slow paths:
 * - Conv2DBackpropFilter: missing. Written as one Conv2D where batch and channels swap roles (1x1: a plain matMul).
 * - Conv2DBackpropInput: present, but a naive loop, 4-10x slower than Conv2D on ResNet-32 shapes. Rewritten as Conv2Ds of dy with the
 *   spatially flipped, in/out-transposed filter, one per stride phase (no zeros inserted into dy).
 * - BatchMatMul / _FusedMatMul with transposeA or transposeB (every matMul gradient uses one): about 10x slower
 *   than the plain product on large operands. Rewritten as an explicit Transpose followed by the plain product.
 * - UnsortedSegmentSum (the gradient of gather): missing. Written as a typed-array loop.
 * The tfjs gradient of Relu is dy * step(x), so no ReluGrad kernel is needed. Not covered: depthwise convolution
 * gradients (DepthwiseConv2dNativeBackprop*), which no kdcl model uses.
 *
 * Everything is registered with `tf.registerKernel` for backendName 'wasm' only, so the other backends keep their
 * own kernels. A kernel here calls other wasm kernels' kernelFunc directly and frees every intermediate with
 * `backend.disposeData`, so it leaves no data ids behind.
 */
import { tf } from '../tf';
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

const WASM = 'wasm';

/** Kernels this module replaces, as they were before: their setupFunc still has to run, and BatchMatMul delegates. */
const originals = new Map<string, KernelConfig>();
/** Tags our kernel functions, so that a second copy of this module (e.g. after vi.resetModules) does not wrap them again. */
const OURS = Symbol.for('kdcl.wasmTrainingKernel');

type Pads4 = { top: number; bottom: number; left: number; right: number };

/** Runs wasm kernels and frees their outputs at the end, except the one handed back. */
class Scratch {
  private readonly temps: TensorInfo[] = [];
  constructor(readonly backend: BackendWasm) {}

  run(kernelName: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
    const fn = originals.get(kernelName)?.kernelFunc ?? tf.getKernel(kernelName, WASM)?.kernelFunc;
    if (!fn) throw new Error(`wasm-gradients: the wasm backend has no '${kernelName}' kernel`);
    const out = fn({ inputs, backend: this.backend, attrs }) as TensorInfo;
    this.temps.push(out);
    return out;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  /** Slices off negative pads of an NHWC tensor; returns it with the pads that remain (all >= 0). */
  cropNegativePads(x: TensorInfo, pads: Pads4): { x: TensorInfo; pads: Pads4 } {
    const cut = { top: Math.max(0, -pads.top), bottom: Math.max(0, -pads.bottom), left: Math.max(0, -pads.left), right: Math.max(0, -pads.right) };
    const kept = { top: Math.max(0, pads.top), bottom: Math.max(0, pads.bottom), left: Math.max(0, pads.left), right: Math.max(0, pads.right) };
    if (cut.top + cut.bottom + cut.left + cut.right === 0) return { x, pads: kept };
    const [n, h, w, c] = x.shape;
    const sliced = this.run('Slice', { x }, { begin: [0, cut.top, cut.left, 0], size: [n, h - cut.top - cut.bottom, w - cut.left - cut.right, c] });
    return { x: sliced, pads: kept };
  }

  /** A new float32 tensor filled with zeros. */
  zeros(shape: number[]): TensorInfo {
    const out = this.backend.makeOutput(shape, 'float32');
    this.temps.push(out);
    (this.backend.typedArrayFromHeap(out) as Float32Array).fill(0);
    return out;
  }

  /** Heap views of float32 tensors, taken now: any allocation may grow (and move) the wasm heap. */
  views(...ts: TensorInfo[]): Float32Array[] {
    return ts.map((t) => this.backend.typedArrayFromHeap(t) as Float32Array);
  }

  /**
   * Copies pixel (p, q) of NHWC x to (top + p*sh, left + q*sw) of NHWC dst (same n and c), dropping what falls outside.
   * Strided placement in one JS pass: on wasm, PadV2 of rank 6 and StridedSlice are slow generic loops.
   */
  place(dst: TensorInfo, x: TensorInfo, sh: number, sw: number, top: number, left: number): void {
    const [n, h, w, c] = x.shape;
    const [, outH, outW] = dst.shape;
    const [src, out] = this.views(x, dst);
    for (let b = 0; b < n; b++) {
      for (let p = 0; p < h; p++) {
        const row = top + p * sh;
        if (row < 0 || row >= outH) continue;
        for (let q = 0; q < w; q++) {
          const col = left + q * sw;
          if (col < 0 || col >= outW) continue;
          const from = ((b * h + p) * w + q) * c;
          const to = ((b * outH + row) * outW + col) * c;
          for (let k = 0; k < c; k++) out[to + k] = src[from + k];
        }
      }
    }
  }

  /** The inverse of place: pixel (p, q) of the [n, outH, outW, c] result is x at (top + p*sh, left + q*sw), zero outside x. */
  pick(x: TensorInfo, sh: number, sw: number, top: number, left: number, outH: number, outW: number): TensorInfo {
    const [n, h, w, c] = x.shape;
    const result = this.zeros([n, outH, outW, c]);
    const [src, out] = this.views(x, result);
    for (let b = 0; b < n; b++) {
      for (let p = 0; p < outH; p++) {
        const row = top + p * sh;
        if (row < 0 || row >= h) continue;
        for (let q = 0; q < outW; q++) {
          const col = left + q * sw;
          if (col < 0 || col >= w) continue;
          const from = ((b * h + row) * w + col) * c;
          const to = ((b * outH + p) * outW + q) * c;
          for (let k = 0; k < c; k++) out[to + k] = src[from + k];
        }
      }
    }
    return result;
  }

  /**
   * The taps (r + t*s) of a [kh, kw, ci, co] filter along each spatial axis, in reverse order, with in and out channels
   * swapped: [th, tw, co, ci]. With r = 0 and s = 1 it is the whole filter flipped (the transposed convolution's filter).
   */
  phaseFilter(filter: TensorInfo, rh: number, rw: number, sh: number, sw: number): TensorInfo {
    const [kh, kw, ci, co] = filter.shape;
    const th = Math.ceil((kh - rh) / sh);
    const tw = Math.ceil((kw - rw) / sw);
    const result = this.zeros([th, tw, co, ci]);
    const [src, out] = this.views(filter, result);
    for (let u = 0; u < th; u++) {
      for (let v = 0; v < tw; v++) {
        const from = ((rh + (th - 1 - u) * sh) * kw + (rw + (tw - 1 - v) * sw)) * ci * co;
        const to = (u * tw + v) * co * ci;
        for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) out[to + o * ci + i] = src[from + i * co + o];
      }
    }
    return result;
  }

  /** Stride-1 NHWC convolution on XNNPACK with explicit padding. */
  conv2d(x: TensorInfo, filter: TensorInfo, pads: Pads4, dilations: [number, number] = [1, 1]): TensorInfo {
    const cropped = this.cropNegativePads(x, pads);
    const p = cropped.pads;
    return this.run('Conv2D', { x: cropped.x, filter }, {
      strides: [1, 1],
      pad: [[0, 0], [p.top, p.bottom], [p.left, p.right], [0, 0]],
      dataFormat: 'NHWC',
      dilations,
    } as unknown as NamedAttrMap);
  }

  /** Frees every intermediate but `result`. */
  finish(result: TensorInfo): TensorInfo {
    for (const t of this.temps) if (t !== result) this.backend.disposeData(t.dataId);
    this.temps.length = 0;
    return result;
  }

  /** Frees every intermediate (on error). */
  abandon(): void {
    for (const t of this.temps) this.backend.disposeData(t.dataId);
    this.temps.length = 0;
  }
}

function withScratch(backend: BackendWasm, body: (s: Scratch) => TensorInfo): TensorInfo {
  const s = new Scratch(backend);
  try {
    return s.finish(body(s));
  } catch (err) {
    s.abandon();
    throw err;
  }
}

function requireNhwc(kernelName: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`wasm ${kernelName}: dataFormat '${String(dataFormat)}' is not supported; use 'NHWC' (channels last)`);
  }
}

interface ConvBackpropAttrs {
  strides: number | [number, number];
  pad: 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function convInfo(xShape: number[], filterShape: number[], attrs: ConvBackpropAttrs, kernelName: string) {
  requireNhwc(kernelName, attrs.dataFormat);
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
}

/**
 * dx of y = conv2d(x, w, stride s, padding pt), split by phase: input row i = m*s + r - pt (r < s) receives
 *   dx_r[m] = sum_t dy[m - t] * w[r + t*s],
 * a stride-1 correlation of dy with the taps r, r + s, ... of w in reverse order (channels swapped). Each of the s*s
 * phases is one Conv2D (together they do the forward pass's multiply-adds, with no zeros inserted into dy) whose rows
 * are then placed at stride s. With s = 1 the single phase is the classic "flipped filter" convolution and lands as is.
 */
const conv2dBackpropInput: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as unknown as ConvBackpropAttrs & { inputShape: number[] };
  const { batchSize, inChannels, inHeight, inWidth, outHeight, outWidth, strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, padInfo } =
    convInfo(a.inputShape, filter.shape, a, 'Conv2DBackpropInput');
  /** Along one axis, for phase r: the conv's first output index m0, its padding before dy, and how many rows it yields. */
  const phaseWindow = (r: number, s: number, k: number, pad: number, inSize: number, outSize: number) => {
    const taps = Math.ceil((k - r) / s);
    const first = Math.max(0, Math.ceil((pad - r) / s));
    const count = Math.floor((inSize - 1 + pad - r) / s) - first + 1;
    const before = taps - 1 - first;
    return { taps, first, count, before, after: count + taps - 1 - outSize - before };
  };
  return withScratch(backend as BackendWasm, (s) => {
    const single = sh === 1 && sw === 1;
    const dx = single ? undefined : s.zeros([batchSize, inHeight, inWidth, inChannels]);
    for (let rh = 0; rh < Math.min(sh, kh); rh++) {
      const rows = phaseWindow(rh, sh, kh, padInfo.top, inHeight, outHeight);
      if (rows.count <= 0) continue;
      for (let rw = 0; rw < Math.min(sw, kw); rw++) {
        const cols = phaseWindow(rw, sw, kw, padInfo.left, inWidth, outWidth);
        if (cols.count <= 0) continue;
        const phase = s.conv2d(dy, s.phaseFilter(filter, rh, rw, sh, sw), { top: rows.before, bottom: rows.after, left: cols.before, right: cols.after });
        if (!dx) return phase;
        s.place(dx, phase, sh, sw, rows.first * sh + rh - padInfo.top, cols.first * sw + rw - padInfo.left);
      }
    }
    return dx ?? s.zeros([batchSize, inHeight, inWidth, inChannels]);
  });
};

/**
 * dw of y = conv2d(x, w, stride s): dw[a, b, ci, co] = sum_{n, p, q} x[n, p*s + a - padTop, q*s + b - padLeft, ci] * dy[n, p, q, co],
 * a stride-1 conv2d with dilation s of x as [ci, H, W, n] (channels as batch) by dy as [oh, ow, n, co] (as the filter),
 * giving [ci, kh, kw, co]. For 1x1 filters: the strided rows of x, transposed, times dy (a plain matMul).
 */
const conv2dBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as ConvBackpropAttrs & { filterShape: number[] };
  const { batchSize, inChannels, outChannels, inHeight, inWidth, outHeight, outWidth, strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, padInfo } =
    convInfo(x.shape, a.filterShape, a, 'Conv2DBackpropFilter');
  return withScratch(backend as BackendWasm, (s) => {
    if (kh === 1 && kw === 1) {
      // Output pixel (p, q) saw input pixel (p*s - padTop, q*s - padLeft).
      const seen = sh === 1 && sw === 1 && padInfo.top === 0 && padInfo.left === 0 && outHeight === inHeight && outWidth === inWidth
        ? x
        : s.pick(x, sh, sw, -padInfo.top, -padInfo.left, outHeight, outWidth);
      const pixels = batchSize * outHeight * outWidth;
      const xCols = s.transpose(s.reshape(seen, [pixels, inChannels]), [1, 0]);
      const dw = s.run('BatchMatMul', { a: xCols, b: s.reshape(dy, [pixels, outChannels]) }, { transposeA: false, transposeB: false });
      return s.reshape(dw, [1, 1, inChannels, outChannels]);
    }
    const xT = s.transpose(x, [3, 1, 2, 0]);
    const dyT = s.transpose(dy, [1, 2, 0, 3]);
    const dw = s.conv2d(xT, dyT, {
      top: padInfo.top,
      left: padInfo.left,
      bottom: kh + (outHeight - 1) * sh - inHeight - padInfo.top,
      right: kw + (outWidth - 1) * sw - inWidth - padInfo.left,
    }, [sh, sw]);
    return s.transpose(dw, [1, 2, 0, 3]);
  });
};

/** Wraps a matmul kernel so that transposed operands are transposed explicitly, then multiplied plainly. */
function plainMatMul(kernelName: string): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    const original = originals.get(kernelName)!.kernelFunc;
    if (!transposeA && !transposeB) return original(args);
    return withScratch(backend as BackendWasm, (s) => {
      const swapLast = (t: TensorInfo): TensorInfo => {
        const perm = t.shape.map((_, i) => i);
        const r = perm.length;
        [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
        return s.transpose(t, perm);
      };
      const a = transposeA ? swapLast(inputs.a as TensorInfo) : inputs.a;
      const b = transposeB ? swapLast(inputs.b as TensorInfo) : inputs.b;
      return original({ inputs: { ...inputs, a, b }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } }) as TensorInfo;
    });
  };
}

/** out[id] = sum of x's rows with that segment id (ids outside [0, numSegments) are dropped, as on cpu). */
const unsortedSegmentSum: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = attrs as { numSegments: number };
  const wasm = backend as BackendWasm;
  const innerShape = x.shape.slice(segmentIds.shape.length);
  const inner = tf.util.sizeFromShape(innerShape);
  const out = wasm.makeOutput([numSegments, ...innerShape], x.dtype);
  // Heap views are taken after makeOutput: allocating may grow (and move) the wasm heap.
  const xs = wasm.typedArrayFromHeap(x) as Float32Array | Int32Array;
  const ids = wasm.typedArrayFromHeap(segmentIds) as Int32Array;
  const sums = wasm.typedArrayFromHeap(out) as Float32Array | Int32Array;
  sums.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id < 0 || id >= numSegments) continue;
    const src = i * inner;
    const dst = id * inner;
    for (let j = 0; j < inner; j++) sums[dst + j] += xs[src + j];
  }
  return out;
};

function tagged(kernelFunc: KernelFunc): KernelFunc {
  return Object.assign(kernelFunc, { [OURS]: true });
}

function isOurs(kernelFunc: KernelFunc | undefined): boolean {
  return (kernelFunc as { [OURS]?: boolean } | undefined)?.[OURS] === true;
}

function replaceKernel(kernelName: string, kernelFunc: KernelFunc): void {
  const existing = tf.getKernel(kernelName, WASM);
  if (!existing) throw new Error(`wasm-gradients: '${kernelName}' is not registered for wasm; import @tensorflow/tfjs-backend-wasm first`);
  if (isOurs(existing.kernelFunc)) return;
  originals.set(kernelName, existing);
  tf.unregisterKernel(kernelName, WASM);
  // The original's setupFunc binds its wasm function when the backend starts: keep it.
  tf.registerKernel({ kernelName, backendName: WASM, setupFunc: existing.setupFunc, disposeFunc: existing.disposeFunc, kernelFunc: tagged(kernelFunc) });
}

function addKernel(kernelName: string, kernelFunc: KernelFunc): void {
  if (tf.getKernel(kernelName, WASM)) tf.unregisterKernel(kernelName, WASM);
  tf.registerKernel({ kernelName, backendName: WASM, kernelFunc: tagged(kernelFunc) });
}

/** Names of the wasm kernels this module adds or replaces. */
export const WASM_TRAINING_KERNELS = ['Conv2DBackpropInput', 'Conv2DBackpropFilter', 'BatchMatMul', '_FusedMatMul', 'UnsortedSegmentSum'] as const;

/** Whether the wasm training kernels are registered. */
export function wasmGradientsRegistered(): boolean {
  return WASM_TRAINING_KERNELS.every((name) => isOurs(tf.getKernel(name, WASM)?.kernelFunc));
}

/** Registers the wasm training kernels (idempotent). Call after importing @tensorflow/tfjs-backend-wasm. */
export function registerWasmGradients(): void {
  if (wasmGradientsRegistered()) return;
  replaceKernel('Conv2DBackpropInput', conv2dBackpropInput);
  replaceKernel('BatchMatMul', plainMatMul('BatchMatMul'));
  replaceKernel('_FusedMatMul', plainMatMul('_FusedMatMul'));
  addKernel('Conv2DBackpropFilter', conv2dBackpropFilter);
  addKernel('UnsortedSegmentSum', unsortedSegmentSum);
}
