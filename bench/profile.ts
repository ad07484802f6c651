/**
 * Per-kernel wall time of the active tfjs backend: wraps every registered kernel with a timer. Synchronous
 * backends (cpu, wasm, kdcl-native) finish their work inside the kernel call, so the times are exact.
 */
import type { KernelFunc } from '@tensorflow/tfjs-core';
import { tf } from '../kernel-lib/tf';

export interface KernelTime {
  kernel: string;
  calls: number;
  ms: number;
}

export function instrumentKernels(): { report(): KernelTime[]; reset(): void } {
  const backendName = tf.getBackend();
  const times = new Map<string, KernelTime>();
  for (const config of tf.getKernelsForBackend(backendName)) {
    const inner = config.kernelFunc;
    const entry: KernelTime = { kernel: config.kernelName, calls: 0, ms: 0 };
    times.set(config.kernelName, entry);
    tf.unregisterKernel(config.kernelName, backendName);
    tf.registerKernel({
      ...config,
      kernelFunc: ((args: Parameters<KernelFunc>[0]) => {
        const start = performance.now();
        const out = inner(args);
        entry.ms += performance.now() - start;
        entry.calls++;
        return out;
      }) as KernelFunc,
    });
  }
  return {
    report: () => [...times.values()].filter((t) => t.calls > 0).map((t) => ({ ...t })).sort((a, b) => b.ms - a.ms),
    reset: () => times.forEach((t) => ((t.calls = 0), (t.ms = 0))),
  };
}
