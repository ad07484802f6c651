/**
 * Divergence is caught at the step where the network's state goes bad (a weight or a batch-norm running statistic
 * non-finite or beyond 1e8 in magnitude), even while the loss terms stay finite, and nothing is written from a
 * diverged state: the last good checkpoint stays, and no result is recorded as done.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../kernel-lib/tf';
import { initBackend } from '../kernel-lib/backend/index';
import { createRun, DivergedStateError, type RunOptions } from '../kernel-lib/train/index';
import { firstDivergedVariable } from '../kernel-lib/train/step';
import { classColouredDataset } from './data-helpers';

const dirs: string[] = [];
const tmpDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-diverge-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

let options: (overrides: Partial<RunOptions>) => RunOptions;
beforeAll(async () => {
  await initBackend({ log: false });
  const dataset = classColouredDataset('diverge', { classes: 4, trainPerClass: 12, testPerClass: 4, size: 16 });
  options = (overrides) => ({
    dataset,
    scenario: { initial: 2, increment: 2 },
    method: 'finetune',
    backbone: { kind: 'resnet32', width: 0.25, blocksPerStage: 1 },
    seed: 3,
    optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 },
    schedule: { kind: 'constant' },
    epochs: 2,
    batchSize: 8,
    quiet: true,
    ...overrides,
  });
});

describe('divergence guard', () => {
  it('finds a non-finite or exploded variable and names it', () => {
    const ok = tf.variable(tf.tensor1d([1, -2, 3]));
    const big = tf.variable(tf.tensor1d([1, -3e9]));
    const nan = tf.variable(tf.tensor1d([0, NaN]));
    expect(firstDivergedVariable([['ok', ok]])).toBeNull();
    expect(firstDivergedVariable([['ok', ok], ['big', big]])).toEqual({ name: 'big', value: 3e9 });
    expect(firstDivergedVariable([['nan', nan]])!.name).toBe('nan');
    tf.dispose([ok, big, nan]);
  });

  it('lr 1e6 stops at the first bad step of task 0, and writes no checkpoint', async () => {
    const dir = tmpDir();
    const run = await createRun(options({ optimizer: { kind: 'sgd', lr: 1e6, momentum: 0.9 }, checkpointDir: dir }));
    const failure = await run.trainTask().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DivergedStateError);
    const { location } = failure as DivergedStateError;
    expect([location.task, location.epoch]).toEqual([0, 0]);
    expect((failure as Error).message).toMatch(/diverged at task 0, stage 'train', epoch 0, step \d+: variable '.+'/);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.kdcl'))).toEqual([]);
    run.dispose();
  });

  it('a run that diverges in task 1 keeps task 0\'s checkpoint byte for byte', async () => {
    const dir = tmpDir();
    const run = await createRun(options({ initOptimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 }, optimizer: { kind: 'sgd', lr: 1e6, momentum: 0.9 }, checkpointDir: dir }));
    await run.trainTask();
    const good = fs.readFileSync(path.join(dir, 'task-000.kdcl'));
    await expect(run.trainTask()).rejects.toBeInstanceOf(DivergedStateError);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.kdcl'))).toEqual(['task-000.kdcl']);
    expect(fs.readFileSync(path.join(dir, 'task-000.kdcl')).equals(good)).toBe(true);
    run.dispose();
  });
});
