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
 * plus as many new images again. Left out: evaluation, herding, BiC's stage 2 (on cached logits), batch assembly:
 * read these as lower bounds.
 *
 *   npx tsx reproductions/paper-cost.ts        prints one table per experiment, core-hours = row seconds x 2 / 3600
 */
import path from 'node:path';
import { readGrid, type GridRow } from '../kernel-lib/grid/index';
import type { MemoryPolicy } from '../kernel-lib/methods/types';
import { buildMethod } from '../kernel-lib/experiments/runner-options';
import { runSettings } from '../kernel-lib/experiments/settings';
import { backboneFor, getProfile } from '../kernel-lib/experiments/profiles';
import { ROOT } from './notebook-exec';
import { resultsStore } from '../kernel-lib/experiments/results';
import { exemplarsPerClass } from '../kernel-lib/memory/exemplar-memory';

const TRAIN_IMG_PER_S = 471.2;
const KD_FACTOR = 471.2 / 358.6;
const THREADS = 2;
const CLASSES = 100;
const PER_CLASS = 500;

/** Classes of each task: b0-10 is 10 tasks of 10, b50-10 a first task of 50 and 10 of 5. */
function taskClasses(scenario: string): number[] {
  if (scenario === 'b0-10') return Array(10).fill(10);
  if (scenario === 'b50-10') return [50, ...Array(10).fill(5)];
  throw new Error(`paper-cost: unknown scenario '${scenario}'`);
}

/** Exemplars held after `seen` classes (the memory's own per-class budget, at most a class's images). */
function memorySize(memory: MemoryPolicy | null | undefined, seen: number): number {
  return memory && seen > 0 ? Math.min(PER_CLASS, exemplarsPerClass(memory, seen)) * seen : 0;
}

export function rowSeconds(row: GridRow): number {
  const profile = getProfile(row.spec.profile.name);
  const method = buildMethod(row.spec.run, profile, CLASSES);
  const settings = runSettings(profile, method, backboneFor(profile, row.spec.dataset));
  const config = method.config as Record<string, unknown>;
  const perImage = method.name === 'pass' || method.name === 'praka' ? 4 : method.name === 'il2a' ? 1 + Number(config.mixTimes ?? 0) : 1;
  let imageSteps = 0;
  let seen = 0;
  taskClasses(row.spec.run.scenario).forEach((classes, t) => {
    const fresh = classes * PER_CLASS;
    const old = method.name === 'joint' ? seen * PER_CLASS : memorySize(method.memory, seen);
    const perEpoch = method.name === 'ssil' ? fresh * (1 + Number(config.replayBatchRatio ?? 0)) : fresh + old;
    const kd = t > 0 && config.kd !== false && method.name !== 'finetune' && method.name !== 'joint' ? KD_FACTOR : 1;
    imageSteps += perEpoch * (t === 0 ? settings.initEpochs : settings.epochs) * perImage * kd;
    seen += classes;
    if (method.name === 'eeil' && t > 0) imageSteps += 2 * memorySize(method.memory, seen - classes) * Number(config.balancedEpochs ?? 0) * kd;
  });
  return imageSteps / TRAIN_IMG_PER_S;
}

for (const experiment of ['main-comparison', 'kd-removal', 'standalone-kd', 'replay-softmax']) {
  const grid = readGrid(path.join(ROOT, resultsStore(experiment, 'paper', 'cifar100'), 'grid.json'));
  const byRun = new Map<string, { rows: number; seconds: number }>();
  for (const row of grid.rows) {
    const entry = byRun.get(row.spec.run.id) ?? { rows: 0, seconds: 0 };
    entry.rows++;
    entry.seconds += rowSeconds(row);
    byRun.set(row.spec.run.id, entry);
  }
  const total = [...byRun.values()].reduce((s, e) => s + e.seconds, 0);
  console.log(`\n${experiment}: ${grid.rows.length} rows, about ${((total * THREADS) / 3600).toFixed(0)} core-hours (${(total / 3600).toFixed(0)} h on one 2-core machine)\n`);
  console.log('| run | rows | core-hours per row |');
  console.log('| --- | ---: | ---: |');
  for (const [id, e] of byRun) console.log(`| ${id} | ${e.rows} | ${((e.seconds / e.rows) * THREADS / 3600).toFixed(1)} |`);
}
