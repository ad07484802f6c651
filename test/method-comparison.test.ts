/**
 * The comparison test of the methods issue: every survey method and finetune, trained through the public API at a
 * small but real profile (written below; its scenario was changed once, see COMPARISON_PROFILE) over 3 fixed seeds.
 *
 *   - a replay method beats finetune on last accuracy (iCaRL and BiC are each checked);
 *   - every method with KD scores at least as high as finetune on last accuracy.
 *
 * Both compare means over the 3 seeds with no margin either way: nothing here is tuned to a seed. The per-seed
 * table is printed for the record.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../kernel-lib/backend/index';
import { createRun } from '../kernel-lib/train/index';
import {
  EXPERIMENTS, PROFILES, loadExperimentDataset, runOptionsFor, type Profile, type RunSpec,
} from '../kernel-lib/experiments/index';
import type { ImageDataset } from '../kernel-lib/data/types';

/**
 * 20 classes of the embedded dataset: a base task of 10, then 5 tasks of 2 (the survey's B50 shape, and PASS / IL2A /
 * PRAKA's "50 + 5 x 10" protocol, scaled to 20 classes), 80 training and 50 test images per class, ResNet-32 at half
 * width with one block per stage (an 8-layer ResNet, 32-d features), 8 epochs on the first task and 4 after,
 * 20 exemplars per class (the paper's 2000 for 100 classes, scaled). Everything else (optimisers, schedules, method
 * overrides) is the smoke profile's. Sized by cost alone, about 14 s per plain run on 2 cores.
 *
 * Why a base task (changed once, 2026-12-03, after a B0 result; what the test now checks is the first run of it):
 * with B0 (4 tasks of 5) at this size, IL2A, PASS and PRAKA ended below finetune on every seed (last accuracy
 * 7.2 / 6.7 / 7.2% against 8.3%), learning 0-3% of each newest task. An independent PyTorch PASS trained on the
 * same images does the same (`npm run reference:pass`, reproductions/reference/README.md: 7.1% against its
 * finetune's 8.8%, newest task 0%), and the engine matches PyTorch gradient for gradient (torch-reference.test.ts).
 * So B0 at this size tests the prototype methods' objective on a first task of 5 classes learnt to ~30% (their
 * prototype CE at weight 10 claims the new classes' feature region), not kdcl; they are designed for a base task.
 */
const COMPARISON_PROFILE: Profile = {
  ...PROFILES.smoke,
  description: 'method-comparison test profile',
  classes: 20,
  trainPerClass: 80,
  testPerClass: 50,
  backbone: { kind: 'resnet32', width: 0.5, blocksPerStage: 1 },
  initEpochs: 8,
  epochs: 4,
  batchSize: 32,
  memoryScale: 1,
  seeds: [1993, 1, 2],
};
const SCENARIO = { initial: 10, increment: 2 };

// One spec per method (its b0-10 entry); the runs below use SCENARIO instead of the spec's scenario.
const SPECS: RunSpec[] = EXPERIMENTS['main-comparison'].runs.filter((r) => r.scenario === 'b0-10' && r.method !== 'joint');
const KD_METHODS = SPECS.filter((r) => r.method !== 'finetune').map((r) => r.method);

/** Last accuracy per method, one entry per seed. */
const last = new Map<string, number[]>();
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

let dataset: ImageDataset;

beforeAll(async () => {
  await initBackend({ log: false });
  dataset = await loadExperimentDataset('embedded', COMPARISON_PROFILE);
  for (const seed of COMPARISON_PROFILE.seeds) {
    for (const spec of SPECS) {
      const run = await createRun({
        ...runOptionsFor(spec, seed, COMPARISON_PROFILE, 'embedded', dataset),
        scenario: SCENARIO,
        quiet: true,
      });
      try {
        const metrics = await run.runAll();
        last.set(spec.method, [...(last.get(spec.method) ?? []), metrics.last]);
      } finally {
        run.dispose();
      }
    }
  }
  const rows = [...last].map(([method, xs]) => `${method.padEnd(9)} ${xs.map((x) => (100 * x).toFixed(1).padStart(5)).join(' ')}   mean ${(100 * mean(xs)).toFixed(1)}`);
  console.log(`last accuracy (%) per seed ${COMPARISON_PROFILE.seeds.join(', ')}:\n${rows.join('\n')}`);
}, 30 * 60_000);

describe('method comparison (20 classes, 10 + 5 x 2, 3 seeds)', () => {
  it.each(['icarl', 'bic'])('%s (replay) beats finetune on mean last accuracy', (method) => {
    expect(mean(last.get(method)!)).toBeGreaterThan(mean(last.get('finetune')!));
  });

  const atLeastFinetune = (method: string) => {
    expect(last.get(method)).toHaveLength(COMPARISON_PROFILE.seeds.length);
    expect(mean(last.get(method)!)).toBeGreaterThanOrEqual(mean(last.get('finetune')!));
  };
  it.each(KD_METHODS)('%s scores at least as high as finetune on mean last accuracy', atLeastFinetune);
});
