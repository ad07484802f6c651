/**
 * Backend selection: kdcl trains on whatever tensor engine loads on this machine.
 *
 * Order tried (first that loads wins): tfjs-node-gpu, tfjs-node, native (kdcl's oneDNN addon),
 * wasm, cpu. webgpu is used only when asked for (KDCL_BACKEND=webgpu or `initBackend({ backend: 'webgpu' })`).
 * `KDCL_BACKEND=<name>` forces one backend; forcing one that does not load is an error, not a silent fallback.
 */
import { tf } from '../tf';
import { repoRequire } from '../paths';
// Static imports of kernel-lib's own modules (cheap: nothing loads until a loader runs). A dynamic import() here
// fails when a tsx script that is an ES module imports kernel-lib (tsx hands CommonJS code a data: URL base).
import { loadNativeBackend, setNativeBf16 } from './native/index';
import { registerWasmGradients } from './wasm-gradients';
import { registerThreadedWasm } from './wasm-threads';
import { loadWebGpuBackend } from './webgpu';
import { BACKEND_NAMES, PRECISIONS, type BackendInfo, type BackendName, type LoadedBackend as Loaded, type Precision } from './types';
import os from 'node:os';
import path from 'node:path';

// Not named `require`: as CommonJS (tslab) that name is the module wrapper's parameter.
const requireFromRepo = repoRequire();

const AUTO_ORDER: BackendName[] = ['tfjs-node-gpu', 'tfjs-node', 'native', 'wasm', 'cpu'];

type Loader = () => Promise<Loaded>;

function defaultThreads(): number {
  const fromEnv = Number(process.env.KDCL_THREADS);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}

async function activate(name: string): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tf.setBackend('${name}') returned false`);
  await tf.ready();
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0].slice(0, 300);
}

const loaders: Record<BackendName, Loader> = {
  'tfjs-node-gpu': async () => {
    requireFromRepo('@tensorflow/tfjs-node-gpu');
    await activate('tensorflow');
    return { tfBackend: 'tensorflow', version: requireFromRepo('@tensorflow/tfjs-node-gpu/package.json').version, threads: defaultThreads() };
  },
  'tfjs-node': async () => {
    requireFromRepo('@tensorflow/tfjs-node');
    await activate('tensorflow');
    return { tfBackend: 'tensorflow', version: requireFromRepo('@tensorflow/tfjs-node/package.json').version, threads: defaultThreads() };
  },
  native: async () => {
    return loadNativeBackend(defaultThreads());
  },
  wasm: async () => {
    const wasm = requireFromRepo('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
    registerWasmGradients();
    const threads = defaultThreads();
    let threadedError = '';
    if (threads > 1) {
      // The threaded SIMD build, started with files Node can load (wasm-threads.ts); tfjs's own loader cannot.
      try {
        const got = await registerThreadedWasm(threads);
        return { tfBackend: 'wasm', version: wasm.version_wasm, threads: got, details: { build: 'threaded-simd' } };
      } catch (err) {
        threadedError = firstLine(err);
      }
    }
    const distDir = path.dirname(requireFromRepo.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    wasm.setWasmPaths(distDir + path.sep);
    wasm.setThreadsCount(1);
    await activate('wasm');
    // A threaded start that failed is said, never a silent 1-thread engine.
    const details: Record<string, string> = { build: 'simd' };
    if (threadedError) details.threadedFailed = threadedError;
    return { tfBackend: 'wasm', version: wasm.version_wasm, threads: 1, details };
  },
  cpu: async () => {
    await activate('cpu');
    return { tfBackend: 'cpu', version: tf.version_core, threads: 1 };
  },
  webgpu: async () => {
    return loadWebGpuBackend();
  },
};

// One selection per process, shared through globalThis: tsx can load this file twice in one process (an ES-module
// script and the CommonJS modules it imports each get an instance), and both must see the same engine.
interface Selection {
  current?: BackendInfo;
  pending?: Promise<BackendInfo>;
}
const SELECTION_KEY = Symbol.for('kdcl.backend.selection');
const shared = globalThis as Record<symbol, Selection | undefined>;
const selection: Selection = (shared[SELECTION_KEY] ??= {});

export interface InitBackendOptions {
  /** Force one backend; defaults to KDCL_BACKEND, else the first that loads. */
  backend?: BackendName;
  /** Print the one-line summary (default: true, once per process). */
  log?: boolean;
}

/** Picks and activates the backend (idempotent: later calls return the first result). */
export function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  if (selection.current) return Promise.resolve(selection.current);
  selection.pending ??= select(options).then((info) => {
    selection.current = info;
    if (options.log ?? true) console.log(describeBackend(info));
    return info;
  }).finally(() => {
    selection.pending = undefined;
  });
  return selection.pending;
}

async function select(options: InitBackendOptions): Promise<BackendInfo> {
  const forced = options.backend ?? (process.env.KDCL_BACKEND as BackendName | undefined);
  const skipped: BackendInfo['skipped'] = {};
  if (forced) {
    if (!BACKEND_NAMES.includes(forced)) {
      throw new Error(`KDCL_BACKEND='${forced}' is not a backend; valid names: ${BACKEND_NAMES.join(', ')}`);
    }
    for (const other of BACKEND_NAMES) if (other !== forced) skipped[other] = `not tried: KDCL_BACKEND=${forced}`;
    try {
      const loaded = await loaders[forced]();
      return { name: forced, ...loaded, skipped };
    } catch (err) {
      throw new Error(`backend '${forced}' was forced (KDCL_BACKEND) but did not load: ${firstLine(err)}`);
    }
  }
  skipped.webgpu = 'used only when asked for (KDCL_BACKEND=webgpu)';
  for (const name of AUTO_ORDER) {
    try {
      const loaded = await loaders[name]();
      for (const later of AUTO_ORDER.slice(AUTO_ORDER.indexOf(name) + 1)) skipped[later] = `lower priority than ${name}`;
      return { name, ...loaded, skipped };
    } catch (err) {
      skipped[name] = firstLine(err);
    }
  }
  throw new Error(`no tensor backend loaded: ${JSON.stringify(skipped)}`);
}

/** The active backend's description; throws if initBackend() has not run. */
export function backendInfo(): BackendInfo {
  if (!selection.current) throw new Error('backendInfo(): call `await initBackend()` first');
  return selection.current;
}

/**
 * Arithmetic precision of the engine. 'bf16' is mixed precision on the native backend: the convolutions' forward
 * and input-gradient passes read bf16 inputs and filters and write f32 (oneDNN accumulates in f32); the filter
 * gradient, master weights, batch norm, softmax, losses and the optimiser stay f32 (kernels.cc says why). The
 * fully connected layer stays f32 (under 1% of ResNet-32's FLOPs).
 */
const PRECISION_KEY = Symbol.for('kdcl.backend.precision');
const precisionState = globalThis as Record<symbol, Precision | undefined>;

/** Sets the precision for what runs next; bf16 where it cannot run is an error naming why, never a silent fp32. */
export function setPrecision(precision: Precision): void {
  if (!PRECISIONS.includes(precision)) {
    throw new Error(`precision '${String(precision)}' is not one of ${PRECISIONS.join(', ')}`);
  }
  const active = selection.current?.name;
  if (active === 'native') setNativeBf16(precision === 'bf16');
  else if (precision === 'bf16') {
    throw new Error(`bf16 precision runs on the native backend only; the active backend is ${active ?? 'none (call initBackend first)'}`);
  }
  precisionState[PRECISION_KEY] = precision;
}

/** The precision a run uses when its options name none: KDCL_PRECISION (like KDCL_THREADS), else fp32. */
export function defaultPrecision(): Precision {
  const fromEnv = process.env.KDCL_PRECISION;
  if (fromEnv === undefined || fromEnv === '') return 'fp32';
  if (!PRECISIONS.includes(fromEnv as Precision)) {
    throw new Error(`KDCL_PRECISION='${fromEnv}' is not a precision; valid: ${PRECISIONS.join(', ')}`);
  }
  return fromEnv as Precision;
}

/** The precision in effect ('fp32' unless setPrecision changed it). */
export function currentPrecision(): Precision {
  return precisionState[PRECISION_KEY] ?? 'fp32';
}

export function describeBackend(info: BackendInfo): string {
  const skipped = Object.entries(info.skipped)
    .map(([name, why]) => `${name}: ${why}`)
    .join('; ');
  const details = info.details ? ' ' + Object.entries(info.details).map(([k, v]) => `${k}=${v}`).join(' ') : '';
  return `[kdcl] backend ${info.name} (tfjs '${info.tfBackend}', v${info.version}, ${info.threads} thread(s))${details}` +
    (skipped ? ` | skipped: ${skipped}` : '');
}

export { tf };
export { BACKEND_NAMES, PRECISIONS, type BackendInfo, type BackendName, type LoadedBackend, type Precision } from './types';
