/**
 * One bench measurement in its own process (a process has one active tfjs backend): picks the backend from
 * KDCL_BACKEND / KDCL_THREADS, times the train and KD steps, and prints one JSON line (WorkerResult).
 *
 *   tsx bench/worker.ts --steps 10 --warmup 2 --batch 128 [--profile]
 */
import { parseArgs } from 'node:util';
import { tf } from '../kernel-lib/tf';
import { initBackend } from '../kernel-lib/backend/index';
import { BENCH_CLASSES, createBenchModel } from './model';
import { instrumentKernels, type KernelTime } from './profile';

export interface WorkerResult {
  backend: string;
  tfBackend: string;
  version: string;
  threads: number;
  details?: Record<string, string | number | boolean>;
  batch: number;
  steps: number;
  /** batch / median step time (robust to other processes on a shared machine). */
  trainImgPerSec: number;
  kdImgPerSec: number;
  /** batch * steps / total time. */
  trainImgPerSecMean: number;
  kdImgPerSecMean: number;
  /** Tensors alive after the timed steps minus before: must be 0. */
  tensorLeak: number;
  peakRssMiB: number;
  profile?: { train: KernelTime[]; kd: KernelTime[] };
}

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    batch: { type: 'string', default: '128' },
    profile: { type: 'boolean', default: false },
  },
});
const steps = Number(values.steps), warmup = Number(values.warmup), batch = Number(values.batch);

interface Timing {
  /** Images per second from the median step time. */
  median: number;
  /** Images per second from the total time. */
  mean: number;
  leak: number;
  profile?: KernelTime[];
}

async function main(): Promise<void> {
  const info = await initBackend({ log: false });
  const model = createBenchModel(1);
  const x = tf.randomNormal([batch, 32, 32, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => (i * 37) % BENCH_CLASSES), 'int32');
  const profiler = values.profile ? instrumentKernels() : undefined;

  function timeSteps(step: (x: tf.Tensor4D, y: tf.Tensor1D) => void): Timing {
    for (let i = 0; i < warmup; i++) step(x, y);
    profiler?.reset();
    const tensorsBefore = tf.memory().numTensors;
    const seconds: number[] = [];
    for (let i = 0; i < steps; i++) {
      const start = performance.now();
      step(x, y);
      seconds.push((performance.now() - start) / 1000);
    }
    const sorted = [...seconds].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    const total = seconds.reduce((a, b) => a + b, 0);
    return {
      median: batch / median,
      mean: (batch * steps) / total,
      leak: tf.memory().numTensors - tensorsBefore,
      profile: profiler?.report(),
    };
  }

  const train = timeSteps((a, b) => model.trainStep(a, b));
  const kd = timeSteps((a, b) => model.kdStep(a, b));
  const result: WorkerResult = {
    backend: info.name,
    tfBackend: info.tfBackend,
    version: info.version,
    threads: info.threads,
    details: info.details,
    batch,
    steps,
    trainImgPerSec: train.median,
    kdImgPerSec: kd.median,
    trainImgPerSecMean: train.mean,
    kdImgPerSecMean: kd.mean,
    tensorLeak: Math.max(train.leak, kd.leak),
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    ...(profiler ? { profile: { train: train.profile!, kd: kd.profile! } } : {}),
  };
  model.dispose();
  console.log(JSON.stringify(result));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
