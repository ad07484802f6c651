/**
 * kdcl's native backend: tfjs backend 'kdcl-native' = the cpu backend's storage (tensors are plain JS typed
 * arrays) and kernels, with the hot ones (conv, matmul, batch norm, elementwise, reductions) replaced by an
 * N-API addon on oneDNN that works on those arrays in place. Build the addon with `npm run build:native`.
 */
import { existsSync } from 'node:fs';
import type { LoadedBackend } from '../types';
import { tf } from '../../tf';
import { ADDON_PATH } from './build';
import { repoRequire } from '../../paths';
import { nativeKernelConfigs, nativeKernelNames, type NativeAddon } from './kernels';
import { attachPool, BufferPool, type CpuBackendLike } from './storage';
import os from 'node:os';

export const NATIVE_BACKEND_NAME = 'kdcl-native';

// Not named `require`: as CommonJS (tslab) that name is the module wrapper's parameter.
const requireFromRepo = repoRequire();

let addon: NativeAddon | undefined;

/** Loads the compiled addon, or throws an Error saying why it is not available. */
export function loadAddon(): NativeAddon {
  if (addon) return addon;
  if (!existsSync(ADDON_PATH)) {
    throw new Error('native addon not built: run `npm run build:native` (needs g++ and libdnnl-dev)');
  }
  // OpenMP threads that spin while waiting for work (libgomp's default) slow everything down tenfold when the
  // cores are shared with other processes (measured here: 7 s vs 0.6 s per ResNet-32 step on 2 busy cores);
  // sleeping costs little when they are not. libgomp reads this when the addon loads it; a user's setting wins.
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  try {
    addon = requireFromRepo(ADDON_PATH) as NativeAddon;
  } catch (err) {
    const why = (err as Error).message.split('\n')[0];
    throw new Error(`native addon failed to load (${why}): rebuild with \`npm run build:native\` (needs libdnnl-dev)`);
  }
  return addon;
}

/**
 * Upper bound on the bytes of freed output buffers kept for reuse: KDCL_NATIVE_POOL_MB, else a quarter of RAM, at
 * most 4 GiB. Full-width ResNet-32 at batch 128 reuses about 1.5 GB per step; buffers not reused within a few
 * thousand allocations are dropped whatever the bound (storage.ts).
 */
function poolLimitBytes(): number {
  const mb = Number(process.env.KDCL_NATIVE_POOL_MB);
  if (Number.isFinite(mb) && mb >= 0 && process.env.KDCL_NATIVE_POOL_MB !== '') return mb * 2 ** 20;
  return Math.min(os.totalmem() / 4, 4 * 2 ** 30);
}

function registerNativeBackend(native: NativeAddon): void {
  if (tf.findBackendFactory(NATIVE_BACKEND_NAME)) return;
  const cpuFactory = tf.findBackendFactory('cpu');
  if (!cpuFactory) throw new Error("kdcl-native needs tfjs's cpu backend, which is not registered");
  tf.registerBackend(NATIVE_BACKEND_NAME, () => {
    const backend = cpuFactory() as tf.KernelBackend & CpuBackendLike & { firstUse?: boolean };
    // The cpu backend's first write prints an 'install tfjs-node' hint meant for the plain cpu backend.
    backend.firstUse = false;
    attachPool(backend, new BufferPool(poolLimitBytes()));
    return backend;
  }, /* priority below cpu: only used when selected */ 0);
  for (const config of nativeKernelConfigs(native, NATIVE_BACKEND_NAME)) tf.registerKernel(config);
}

/**
 * Loads the addon, registers the 'kdcl-native' backend and makes it the active tfjs backend, with `threads`
 * OpenMP threads for oneDNN and the addon's loops.
 */
export async function loadNativeBackend(
  threads: number,
): Promise<LoadedBackend> {
  const native = loadAddon();
  const info = native.init(threads);
  registerNativeBackend(native);
  const ok = await tf.setBackend(NATIVE_BACKEND_NAME);
  if (!ok) throw new Error(`tf.setBackend('${NATIVE_BACKEND_NAME}') returned false`);
  await tf.ready();
  return {
    tfBackend: NATIVE_BACKEND_NAME,
    version: `oneDNN ${info.onednn}`,
    threads: info.threads,
    details: { library: `oneDNN ${info.onednn}`, isa: info.isa, loops: info.loops, nativeKernels: nativeKernelNames(native).length, bf16: info.bf16 },
  };
}

/** Switches the addon's convolutions between fp32 and bf16 (bf16 throws, naming the ISA, where the CPU lacks it). */
export function setNativeBf16(on: boolean): void {
  loadAddon().setBf16(on);
}
