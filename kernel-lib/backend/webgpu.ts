import type { LoadedBackend } from './types';
import { tf } from '../tf';
import { repoRequire } from '../paths';

/**
 * WebGPU through Dawn's `webgpu` npm package (GPU machines only). navigator.gpu must exist before the
 * tfjs webgpu backend is imported.
 */
export async function loadWebGpuBackend(): Promise<LoadedBackend> {
  const requireFromRepo = repoRequire();
  let dawn: any;
  try {
    dawn = requireFromRepo('webgpu');
  } catch (err) {
    throw new Error(`the 'webgpu' package (Dawn) is not installed: npm install webgpu @tensorflow/tfjs-backend-webgpu (${(err as Error).message})`);
  }
  Object.assign(globalThis, dawn.globals ?? {});
  if (!(globalThis as any).navigator) (globalThis as any).navigator = {};
  (globalThis as any).navigator.gpu ??= dawn.create([]);
  // Loaded only now: the backend reads navigator.gpu when it loads.
  const backend: any = requireFromRepo('@tensorflow/tfjs-backend-webgpu');
  const ok = await tf.setBackend('webgpu');
  if (!ok) throw new Error("tf.setBackend('webgpu') failed: no adapter");
  await tf.ready();
  return { tfBackend: 'webgpu', version: backend.version_webgpu ?? 'unknown', threads: 1 };
}
