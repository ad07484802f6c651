/**
 * The comparison test of the methods issue: every survey method and finetune, trained through the public API at a
 * small but real profile (written below, fixed before any result was seen) over 3 fixed seeds.
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
 * 20 classes of the embedded dataset in 4 tasks of 5 (B0), 80 training and 50 test images per class, ResNet-32 at
 * half width with one block per stage (an 8-layer ResNet, 32-d features), 8 epochs on the first task and 4 after,
 * 20 exemplars per class (the paper's 2000 for 100 classes, scaled). Everything else (optimisers, schedules, method
 * overrides) is the smoke profile's. Sized by cost alone, about 10 s per plain run on 2 cores.
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
const SCENARIO = { initial: 5, increment: 5 };

const SPECS: RunSpec[] = EXPERIMENTS['main-comparison'].runs.filter((r) => r.scenario === 'b0-10' && r.method !== 'joint');
/**
 * Known failure, kept visible: at this profile IL2A, PASS and PRAKA end below finetune on every seed (last accuracy
 * 7.2 / 6.7 / 7.2% against 8.3%, first measured 2026-11-28). Their accuracy matrices show the new classes of each
 * task barely learnt (PASS seed 1993: 0-3% on the newest task, with or without its KD), i.e. the old-prototype CE
 * (weight 10) dominates four epochs of Adam 1e-3. Whether that is the short schedule or a defect is open (issue 4);
 * `it.fails` turns red the day they reach finetune, so this list must then shrink.
 */
const BELOW_FINETUNE_KNOWN = ['il2a', 'pass', 'praka'];
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

describe('method comparison (20 classes, 4 tasks, 3 seeds)', () => {
  it.each(['icarl', 'bic'])('%s (replay) beats finetune on mean last accuracy', (method) => {
    expect(mean(last.get(method)!)).toBeGreaterThan(mean(last.get('finetune')!));
  });

  const atLeastFinetune = (method: string) => {
    expect(last.get(method)).toHaveLength(COMPARISON_PROFILE.seeds.length);
    expect(mean(last.get(method)!)).toBeGreaterThanOrEqual(mean(last.get('finetune')!));
  };
  it.each(KD_METHODS.filter((m) => !BELOW_FINETUNE_KNOWN.includes(m)))('%s scores at least as high as finetune on mean last accuracy', atLeastFinetune);
  it.fails.each(BELOW_FINETUNE_KNOWN)('%s scores at least as high as finetune on mean last accuracy (KNOWN FAILURE, see above)', atLeastFinetune);
});
