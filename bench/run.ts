/**
 * `npm run bench`: ResNet-32 training throughput (batch 128, 32x32x3, 100 classes, SGD momentum 0.9) and a
 * distillation step (teacher forward in eval mode, then student forward + backward on CE + KD), for each kdcl
 * backend that loads and for PyTorch CPU on the same model and steps, at 1 and 2 threads.
 *
 *   npm run bench -- [--json out.json] [--rounds 2] [--steps 10] [--warmup 2] [--threads 1,2]
 *                    [--backends native,wasm,cpu] [--precisions fp32,bf16] [--no-torch]
 *
 * bf16 rows: kdcl native with KDCL_PRECISION=bf16 (bf16 convolutions, f32 master weights), and PyTorch with
 * torch.autocast('cpu', bfloat16); a CPU without bf16 gets a 'skipped' row saying why.
 *
 * Each measurement runs in its own process (a process has one active tfjs backend). Throughput is batch /
 * median step time, the best over `rounds` runs: the machine may be shared, and the median and the best of
 * rounds keep other processes' bursts out of the figure. kdcl and PyTorch runs alternate within a round so that
 * both see the same load. The tfjs cpu backend is far too slow for batch 128; it is measured at batch 2 for one
 * step (its time grows linearly with the batch), and marked as such.
 */
import { execFile } from 'node:child_process';
import { writeFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { WorkerResult } from './worker';

// bench/ is CommonJS (bench/package.json), like kernel-lib, so that it can import kernel-lib's modules by name.
const here = __dirname;
const root = path.resolve(here, '..');

const { values } = parseArgs({
  options: {
    json: { type: 'string' },
    rounds: { type: 'string', default: '2' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    threads: { type: 'string', default: '1,2' },
    backends: { type: 'string', default: 'native,wasm,cpu' },
    precisions: { type: 'string', default: 'fp32,bf16' },
    torch: { type: 'boolean', default: true },
    'no-torch': { type: 'boolean', default: false },
  },
});

const rounds = Number(values.rounds);
const threadCounts = values.threads!.split(',').map(Number);
const backends = values.backends!.split(',').map((b) => b.trim()).filter(Boolean);
const precisions = values.precisions!.split(',').map((p) => p.trim()).filter(Boolean);
for (const p of precisions) if (p !== 'fp32' && p !== 'bf16') throw new Error(`--precisions: '${p}' is not fp32 or bf16`);
const runTorch = values.torch && !values['no-torch'];
const PYTHON = '/usr/bin/python3';
/** Same OpenMP wait policy for both engines (kdcl's native backend defaults to PASSIVE: see native/index.ts). */
const OMP_WAIT_POLICY = process.env.OMP_WAIT_POLICY ?? 'PASSIVE';

interface Measurement {
  engine: string;
  threads: number;
  trainImgPerSec: number;
  kdImgPerSec: number;
  peakRssMiB: number;
  batch: number;
  /** Lowest median CPU time per step over rounds (ms, all threads), scaled to batch 128. */
  trainCpuMs: number;
  kdCpuMs: number;
  /** Per-round figures (img/s) behind the best, to show the noise. */
  trainRounds: number[];
  kdRounds: number[];
  note?: string;
}

interface Row extends Measurement {
  trainVsTorch?: number;
  kdVsTorch?: number;
}

interface Failure {
  engine: string;
  threads?: number;
  reason: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: root, env: { ...process.env, ...env }, maxBuffer: 64 * 2 ** 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${(stderr || err.message).trim().split('\n').slice(-3).join(' | ')}`));
      else resolve(stdout);
    });
  });
}

function lastJsonLine<T>(stdout: string): T {
  const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (!line) throw new Error(`no JSON result in output: ${stdout.slice(-300)}`);
  return JSON.parse(line) as T;
}

async function kdclWorker(backend: string, threads: number, steps: number, warmup: number, batch: number,
  precision = 'fp32'): Promise<WorkerResult> {
  const tsx = path.join(root, 'node_modules', '.bin', 'tsx');
  const out = await run(tsx, [path.join(here, 'worker.ts'), '--steps', String(steps), '--warmup', String(warmup), '--batch', String(batch)], {
    KDCL_BACKEND: backend,
    KDCL_THREADS: String(threads),
    OMP_NUM_THREADS: String(threads),
    OMP_WAIT_POLICY,
    KDCL_PRECISION: precision,
  });
  const result = lastJsonLine<WorkerResult>(out);
  if (result.tensorLeak !== null && result.tensorLeak !== 0) {
    throw new Error(`${backend}: ${result.tensorLeak} tensors leaked per measurement`);
  }
  return result;
}

interface TorchResult {
  trainImgPerSec: number;
  kdImgPerSec: number;
  trainCpuMsPerStep: number;
  kdCpuMsPerStep: number;
  peakRssMiB: number;
  torch: string;
}


async function torchAvailable(): Promise<string | undefined> {
  try {
    await run(PYTHON, ['-c', 'import torch'], {});
    return undefined;
  } catch (err) {
    return `${PYTHON} -c 'import torch' failed (${(err as Error).message.slice(0, 120)}); apt-get install python3-torch`;
  }
}

async function torchWorker(threads: number, steps: number, warmup: number, precision: string): Promise<TorchResult> {
  const out = await run(PYTHON, [path.join(here, 'torch_resnet32.py'), '--threads', String(threads), '--steps', String(steps),
    '--warmup', String(warmup), ...(precision === 'bf16' ? ['--bf16'] : [])], { OMP_NUM_THREADS: String(threads), OMP_WAIT_POLICY });
  return lastJsonLine<TorchResult>(out);
}

function accumulate(into: Map<string, Measurement>, key: string, m: Omit<Measurement, 'trainRounds' | 'kdRounds'>): void {
  const prev = into.get(key);
  if (!prev) {
    into.set(key, { ...m, trainRounds: [m.trainImgPerSec], kdRounds: [m.kdImgPerSec] });
    return;
  }
  prev.trainRounds.push(m.trainImgPerSec);
  prev.kdRounds.push(m.kdImgPerSec);
  prev.trainImgPerSec = Math.max(prev.trainImgPerSec, m.trainImgPerSec);
  prev.kdImgPerSec = Math.max(prev.kdImgPerSec, m.kdImgPerSec);
  prev.peakRssMiB = Math.max(prev.peakRssMiB, m.peakRssMiB);
  prev.trainCpuMs = Math.min(prev.trainCpuMs, m.trainCpuMs);
  prev.kdCpuMs = Math.min(prev.kdCpuMs, m.kdCpuMs);
}

const fmt = (x: number | undefined, digits = 1) => (x === undefined ? '–' : x < 1 ? x.toPrecision(2) : x.toFixed(digits));

function markdown(rows: Row[], failures: Failure[], meta: Record<string, unknown>): string {
  const lines = [
    `ResNet-32 training, batch 128, 32x32x3, 100 classes, SGD momentum 0.9; KD step = teacher forward (eval) + student step on CE + KL (T=2).`,
    `img/s = batch / median step time, best of ${meta.rounds} round(s) (all rounds in brackets). CPU: ${meta.cpu}; ` +
      `load average at start ${meta.loadStart}, end ${meta.loadEnd}; OMP_WAIT_POLICY=${meta.ompWaitPolicy} for both engines.`,
    '',
    '| engine | threads | train img/s | KD step img/s | train / PyTorch fp32 | KD / PyTorch fp32 | CPU ms/step train, KD | peak RSS MiB |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const rounds = (xs: number[]) => (xs.length > 1 ? ` (${xs.map((x) => fmt(x)).join(', ')})` : '');
    lines.push(`| ${r.engine}${r.note ? ` (${r.note})` : ''} | ${r.threads} | ${fmt(r.trainImgPerSec)}${rounds(r.trainRounds)} | ` +
      `${fmt(r.kdImgPerSec)}${rounds(r.kdRounds)} | ${r.trainVsTorch === undefined ? '–' : r.trainVsTorch.toFixed(2) + 'x'} | ` +
      `${r.kdVsTorch === undefined ? '–' : r.kdVsTorch.toFixed(2) + 'x'} | ${r.trainCpuMs.toFixed(0)}, ${r.kdCpuMs.toFixed(0)} | ` +
      `${r.peakRssMiB.toFixed(0)} |`);
  }
  for (const f of failures) lines.push(`| ${f.engine} | ${f.threads ?? '–'} | skipped: ${f.reason} | | | | | |`);
  lines.push('', 'CPU ms/step: median CPU time of the process per step, all threads (batch 128; the cpu estimate scaled ' +
    'from its batch). Less sensitive than img/s to other processes on a shared machine.');
  return lines.join('\n');
}

async function main(): Promise<void> {
  const steps = Number(values.steps), warmup = Number(values.warmup);
  const loadStart = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  const measurements = new Map<string, Measurement>();
  const failures: Failure[] = [];
  const failed = new Set<string>();
  const torchSkip = runTorch ? await torchAvailable() : 'disabled (--no-torch)';
  if (torchSkip) failures.push({ engine: 'PyTorch CPU', reason: torchSkip });

  const attempt = async (key: string, engine: string, threads: number, fn: () => Promise<void>) => {
    if (failed.has(key)) return;
    try {
      await fn();
    } catch (err) {
      failed.add(key);
      failures.push({ engine, threads, reason: (err as Error).message.split('\n')[0].slice(0, 200) });
    }
  };

  for (let round = 1; round <= rounds; round++) {
    for (const threads of threadCounts) {
      for (const backend of backends) {
        // cpu has no threads: one row. wasm runs its threaded SIMD build above 1 thread (backend/wasm-threads.ts).
        if (backend === 'cpu' && threads !== threadCounts[0]) continue;
        // The cpu backend takes ~30 s per image: one small step, in the first round only.
        if (backend === 'cpu' && round > 1) continue;
        const cpu = backend === 'cpu';
        const slow = backend === 'wasm';
        // bf16 is the native backend's (setPrecision): the others are measured in fp32 only.
        for (const precision of backend === 'native' ? precisions : ['fp32']) {
          const key = `kdcl ${backend} ${precision} ${threads}`;
          await attempt(key, `kdcl ${backend} ${precision}`, threads, async () => {
            const r = await kdclWorker(backend, threads, cpu ? 1 : slow ? Math.min(steps, 3) : steps, cpu ? 0 : slow ? 1 : warmup,
              cpu ? 2 : 128, precision);
            const label = `kdcl ${r.backend} ${r.precision}${r.details?.isa ? ` [${r.version}, ${r.details.isa}]` : ` [${r.tfBackend} ${r.version}]`}`;
            accumulate(measurements, key, {
              engine: label,
              threads: r.threads,
              trainImgPerSec: r.trainImgPerSec,
              kdImgPerSec: r.kdImgPerSec,
              peakRssMiB: r.peakRssMiB,
              batch: r.batch,
              trainCpuMs: (r.trainCpuMsPerStep * 128) / r.batch,
              kdCpuMs: (r.kdCpuMsPerStep * 128) / r.batch,
              note: cpu ? 'estimate: batch 2, 1 step' : undefined,
            });
          });
          process.stderr.write(`[bench] round ${round}, ${backend} ${precision} x${threads} done\n`);
        }
      }
      if (!torchSkip) {
        for (const precision of precisions) {
          const key = `torch ${precision} ${threads}`;
          await attempt(key, `PyTorch CPU ${precision}`, threads, async () => {
            const r = await torchWorker(threads, steps, warmup, precision);
            accumulate(measurements, key, {
              engine: `PyTorch CPU ${r.torch} ${precision === 'bf16' ? 'bf16 autocast' : 'fp32'}`,
              threads,
              trainImgPerSec: r.trainImgPerSec,
              kdImgPerSec: r.kdImgPerSec,
              peakRssMiB: r.peakRssMiB,
              batch: 128,
              trainCpuMs: r.trainCpuMsPerStep,
              kdCpuMs: r.kdCpuMsPerStep,
            });
          });
          process.stderr.write(`[bench] round ${round}, torch ${precision} x${threads} done\n`);
        }
      }
    }
  }

  // Every row against PyTorch fp32 at the same thread count (the baseline a user would otherwise run).
  const rows: Row[] = [];
  for (const threads of threadCounts) {
    const torch = measurements.get(`torch fp32 ${threads}`);
    const versus = (m: Measurement): Row => ({
      ...m,
      trainVsTorch: torch && m.threads === threads ? m.trainImgPerSec / torch.trainImgPerSec : undefined,
      kdVsTorch: torch && m.threads === threads ? m.kdImgPerSec / torch.kdImgPerSec : undefined,
    });
    for (const backend of backends) {
      for (const precision of precisions) {
        const m = measurements.get(`kdcl ${backend} ${precision} ${threads}`);
        if (m) rows.push(versus(m));
      }
    }
    for (const precision of precisions) {
      const m = measurements.get(`torch ${precision} ${threads}`);
      if (m) rows.push(precision === 'fp32' ? m : versus(m));
    }
  }
  const meta = {
    rounds,
    steps,
    warmup,
    cpu: `${os.cpus()[0]?.model ?? 'unknown'} x${os.availableParallelism?.() ?? os.cpus().length}`,
    loadStart,
    loadEnd: os.loadavg().map((l) => l.toFixed(2)).join(' '),
    ompWaitPolicy: OMP_WAIT_POLICY,
    date: new Date().toISOString(),
  };
  console.log(markdown(rows, failures, meta));
  if (values.json) {
    const tmp = `${values.json}.tmp`;
    writeFileSync(tmp, JSON.stringify({ meta, rows, skipped: failures }, null, 2) + '\n');
    renameSync(tmp, values.json);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
