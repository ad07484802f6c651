import type { BackendInfo } from './index';

/**
 * WebGPU through Dawn's `webgpu` npm package (GPU machines only). navigator.gpu must exist before the
 * tfjs webgpu backend is imported.
 */
export async function loadWebGpuBackend(): Promise<{ tfBackend: string; version: string; threads: number; details?: BackendInfo['details'] }> {
  const dawn: any = await import('webgpu' as string).catch((err) => {
    throw new Error(`the 'webgpu' package (Dawn) is not installed: npm install webgpu @tensorflow/tfjs-backend-webgpu (${err.message})`);
  });
  Object.assign(globalThis, dawn.globals ?? {});
  if (!(globalThis as any).navigator) (globalThis as any).navigator = {};
  (globalThis as any).navigator.gpu ??= dawn.create([]);
  const backend: any = await import('@tensorflow/tfjs-backend-webgpu' as string);
  const tf = await import('@tensorflow/tfjs-core');
  const ok = await tf.setBackend('webgpu');
  if (!ok) throw new Error("tf.setBackend('webgpu') failed: no adapter");
  await tf.ready();
  return { tfBackend: 'webgpu', version: backend.version_webgpu ?? 'unknown', threads: 1 };
}
