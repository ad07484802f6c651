/**
 * One bench measurement in its own process (a process has one active tfjs backend): picks the backend from
 * KDCL_BACKEND / KDCL_THREADS, times the train and KD steps, and prints one JSON line (WorkerResult).
 *
 *   tsx bench/worker.ts --steps 10 --warmup 2 --batch 128 [--profile]
 */
import { parseArgs } from 'node:util';
import { tf } from '../kernel-lib/tf';
import { currentPrecision, defaultPrecision, initBackend, setPrecision } from '../kernel-lib/backend/index';
import { BENCH_CLASSES, createBenchModel } from './model';
import { instrumentKernels, type KernelTime } from './profile';

export interface WorkerResult {
  backend: string;
  tfBackend: string;
  version: string;
  threads: number;
  precision: string;
  details?: Record<string, string | number | boolean>;
  batch: number;
  steps: number;
  /** batch / median step time (robust to other processes on a shared machine). */
  trainImgPerSec: number;
  kdImgPerSec: number;
  /** batch * steps / total time. */
  trainImgPerSecMean: number;
  kdImgPerSecMean: number;
  /** Median CPU time per step (ms, all threads). */
  trainCpuMsPerStep: number;
  kdCpuMsPerStep: number;
  /** Tensors alive after the timed steps minus before: must be 0 (null: a single step, nothing to compare). */
  tensorLeak: number | null;
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
  /** Median CPU time of the process per step (all threads): less sensitive to other processes than wall time. */
  cpuMsPerStep: number;
  /** null when one step gave nothing to compare. */
  leak: number | null;
  profile?: KernelTime[];
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main(): Promise<void> {
  const info = await initBackend({ log: false });
  setPrecision(defaultPrecision()); // KDCL_PRECISION: bf16 where the CPU lacks it fails here, naming the ISA
  const model = createBenchModel(1);
  const x = tf.randomNormal([batch, 32, 32, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => (i * 37) % BENCH_CLASSES), 'int32');
  const profiler = values.profile ? instrumentKernels() : undefined;

  function timeSteps(step: (x: tf.Tensor4D, y: tf.Tensor1D) => void): Timing {
    for (let i = 0; i < warmup; i++) step(x, y);
    profiler?.reset();
    // The first step creates the optimizer's slots (momentum): count tensors from after a step has run.
    let tensorsBefore = warmup > 0 ? tf.memory().numTensors : undefined;
    const seconds: number[] = [], cpuMs: number[] = [];
    for (let i = 0; i < steps; i++) {
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      step(x, y);
      seconds.push((performance.now() - start) / 1000);
      const cpu = process.cpuUsage(cpuStart);
      cpuMs.push((cpu.user + cpu.system) / 1000);
      tensorsBefore ??= tf.memory().numTensors;
    }
    const total = seconds.reduce((a, b) => a + b, 0);
    return {
      median: batch / median(seconds),
      mean: (batch * steps) / total,
      cpuMsPerStep: median(cpuMs),
      leak: warmup > 0 || steps > 1 ? tf.memory().numTensors - tensorsBefore! : null,
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
    precision: currentPrecision(),
    details: info.details,
    batch,
    steps,
    trainImgPerSec: train.median,
    kdImgPerSec: kd.median,
    trainImgPerSecMean: train.mean,
    kdImgPerSecMean: kd.mean,
    trainCpuMsPerStep: train.cpuMsPerStep,
    kdCpuMsPerStep: kd.cpuMsPerStep,
    tensorLeak: train.leak === null || kd.leak === null ? null : Math.max(train.leak, kd.leak),
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
