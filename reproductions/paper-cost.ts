/**
 * Expected machine time of the committed `paper` grids (CIFAR-100), scaled from measured throughput, not measured
 * end to end:
 *
 *   row seconds = sum over its training stages of (images per epoch x epochs x cost factor) / R
 *
 * with R = 471.2 img/s, the native backend's measured full-width ResNet-32 training step at batch 128 on this
 * project's 2-core machine (2 threads, fp32; bench/README.md), and cost factors: a step that also runs the old
 * model (every KD task after the first) 471.2 / 358.6 (the bench's KD step); PASS and PRAKA train on 4 rotated
 * copies of each image (x4); IL2A's class mixup adds `mixTimes` mixed batches (x (1 + mixTimes)). Images per epoch
 * come from CIFAR-100's 500 training images per class, the row's scenario and its method's memory (a fixed total
 * or a per-class count; exemplar-free methods replay nothing; joint training retrains on every image seen); SS-IL
 * adds a quarter of replayed images to each batch of new ones; EEIL's balanced fine-tuning trains on the memory
 * plus as many new images again.
 *
 * What the count leaves out (evaluation, herding, BiC's stage 2, batch assembly, a method's own extra passes) is
 * taken from the measured rows of the `standard` grids: for each run, its rows' measured CPU seconds over the same
 * count at the standard profile give its cost per counted image-step, and its ratio to fine-tuning's (whose count is
 * plain training) scales the paper row. A run with no measured row is scaled by its method's mean ratio, or left
 * unscaled (said). The absolute rate stays the bench's, so fine-tuning's own overheads are still not counted.
 *
 *   npx tsx reproductions/paper-cost.ts        prints one table per experiment, core-hours = row seconds x 2 / 3600
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readGrid, type GridRow } from '../kernel-lib/grid/index';
import type { MemoryPolicy } from '../kernel-lib/methods/types';
import { buildMethod } from '../kernel-lib/experiments/runner-options';
import { runSettings } from '../kernel-lib/experiments/settings';
import { backboneFor, getProfile } from '../kernel-lib/experiments/profiles';
import { ROOT } from './notebook-exec';
import { resultsStore, type RunResult } from '../kernel-lib/experiments/results';
import { gridStatus, rowCpuSeconds } from '../kernel-lib/grid/index';
import { mean } from '../kernel-lib/metrics/checks';
import { exemplarsPerClass } from '../kernel-lib/memory/exemplar-memory';

const TRAIN_IMG_PER_S = 471.2;
const KD_FACTOR = 471.2 / 358.6;
const THREADS = 2;
const CLASSES = 100;
/** CIFAR-100's training images per class (the paper profile); the standard profile's come from the profile. */
const CIFAR_PER_CLASS = 500;

/** Classes of each task: b0-10 is 10 tasks of 10, b50-10 a first task of 50 and 10 of 5. */
function taskClasses(scenario: string): number[] {
  if (scenario === 'b0-10') return Array(10).fill(10);
  if (scenario === 'b50-10') return [50, ...Array(10).fill(5)];
  throw new Error(`paper-cost: unknown scenario '${scenario}'`);
}

/** Exemplars held after `seen` classes (the memory's own per-class budget, at most a class's images). */
function memorySize(memory: MemoryPolicy | null | undefined, seen: number, perClass: number): number {
  return memory && seen > 0 ? Math.min(perClass, exemplarsPerClass(memory, seen)) * seen : 0;
}

/** The row's training image-steps, counted as above, with `perClass` training images per class. */
export function rowImageSteps(row: GridRow, perClass: number): number {
  const profile = getProfile(row.spec.profile.name);
  const method = buildMethod(row.spec.run, profile, CLASSES);
  const settings = runSettings(profile, method, backboneFor(profile, row.spec.dataset));
  const config = method.config as Record<string, unknown>;
  const perImage = method.name === 'pass' || method.name === 'praka' ? 4 : method.name === 'il2a' ? 1 + Number(config.mixTimes ?? 0) : 1;
  let imageSteps = 0;
  let seen = 0;
  taskClasses(row.spec.run.scenario).forEach((classes, t) => {
    const fresh = classes * perClass;
    const old = method.name === 'joint' ? seen * perClass : memorySize(method.memory, seen, perClass);
    const perEpoch = method.name === 'ssil' ? fresh * (1 + Number(config.replayBatchRatio ?? 0)) : fresh + old;
    const kd = t > 0 && config.kd !== false && method.name !== 'finetune' && method.name !== 'joint' ? KD_FACTOR : 1;
    imageSteps += perEpoch * (t === 0 ? settings.initEpochs : settings.epochs) * perImage * kd;
    seen += classes;
    if (method.name === 'eeil' && t > 0) imageSteps += 2 * memorySize(method.memory, seen - classes, perClass) * Number(config.balancedEpochs ?? 0) * kd;
  });
  return imageSteps;
}

/**
 * Each run's measured cost per counted image-step relative to fine-tuning's, from the standard grids' finished rows
 * (rows recorded from another experiment's run counted once); by run id, and by method as a fallback.
 */
export function measuredOverheads(): { byRun: Map<string, number>; byMethod: Map<string, number>; rows: number } {
  const perStep = new Map<string, { method: string; values: number[] }>();
  let rows = 0;
  for (const experiment of EXPERIMENT_NAMES) {
    const grid = readGrid(path.join(ROOT, resultsStore(experiment, 'standard', 'embedded'), 'grid.json'));
    const perClass = grid.rows[0]?.spec.profile.trainPerClass ?? 0;
    for (const { row, status } of gridStatus(grid)) {
      if (status.state !== 'done') continue;
      const result: RunResult = status.result;
      const cpu = rowCpuSeconds(result);
      if (!cpu || result.provenance?.sameRunAs) continue; // a resumed row whose earlier CPU is unknown does not scale
      const entry = perStep.get(row.spec.run.id) ?? { method: row.spec.run.method, values: [] };
      entry.values.push(cpu / rowImageSteps(row, perClass));
      perStep.set(row.spec.run.id, entry);
      rows++;
    }
  }
  const finetune = [...perStep].filter(([id]) => id.startsWith('finetune_')).flatMap(([, e]) => e.values);
  if (!finetune.length) throw new Error('paper-cost: no finished fine-tuning row in the standard grids to scale from');
  const base = mean(finetune);
  const byRun = new Map([...perStep].map(([id, e]) => [id, mean(e.values) / base]));
  const byMethod = new Map<string, number>();
  for (const method of new Set([...perStep.values()].map((e) => e.method))) {
    byMethod.set(method, mean([...perStep.values()].filter((e) => e.method === method).flatMap((e) => e.values)) / base);
  }
  return { byRun, byMethod, rows };
}

const EXPERIMENT_NAMES = ['main-comparison', 'kd-removal', 'standalone-kd', 'replay-softmax'];

/** The paper row's seconds on one 2-core machine: counted image-steps over the bench's rate, times its overhead. */
export function rowSeconds(row: GridRow, overhead = 1): number {
  return (rowImageSteps(row, CIFAR_PER_CLASS) / TRAIN_IMG_PER_S) * overhead;
}

function main(): void {
  const overheads = measuredOverheads();
  console.log(`overheads from ${overheads.rows} measured standard rows (cost per counted image-step, fine-tuning = 1)`);
  for (const experiment of EXPERIMENT_NAMES) {
    const grid = readGrid(path.join(ROOT, resultsStore(experiment, 'paper', 'cifar100'), 'grid.json'));
    const byRun = new Map<string, { rows: number; seconds: number; counted: number; overhead: number | null }>();
    for (const row of grid.rows) {
      const { id, method } = row.spec.run;
      const overhead = overheads.byRun.get(id) ?? overheads.byMethod.get(method) ?? null;
      const entry = byRun.get(id) ?? { rows: 0, seconds: 0, counted: 0, overhead };
      entry.rows++;
      entry.counted += rowSeconds(row);
      entry.seconds += rowSeconds(row, overhead ?? 1);
      byRun.set(id, entry);
    }
    const total = [...byRun.values()].reduce((s, e) => s + e.seconds, 0);
    const counted = [...byRun.values()].reduce((s, e) => s + e.counted, 0);
    const hours = (seconds: number) => ((seconds * THREADS) / 3600).toFixed(0);
    console.log(`\n${experiment}: ${grid.rows.length} rows, about ${hours(total)} core-hours (${(total / 3600).toFixed(0)} h on one 2-core machine); ${hours(counted)} from the count alone\n`);
    console.log('| run | rows | overhead (measured at standard) | core-hours per row |');
    console.log('| --- | ---: | ---: | ---: |');
    for (const [id, e] of byRun) {
      const overhead = e.overhead === null ? 'none measured (unscaled)' : `${e.overhead.toFixed(2)}${overheads.byRun.has(id) ? '' : ' (method mean)'}`;
      console.log(`| ${id} | ${e.rows} | ${overhead} | ${((e.seconds / e.rows) * THREADS / 3600).toFixed(1)} |`);
    }
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
