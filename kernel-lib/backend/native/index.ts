import type { BackendInfo } from '../index.ts';

/** Loads kdcl's native (oneDNN) kernels as a tfjs backend. Placeholder until the addon lands. */
export async function loadNativeBackend(
  _threads: number,
): Promise<{ tfBackend: string; version: string; threads: number; details?: BackendInfo['details'] }> {
  throw new Error('native addon not built');
}
