/**
 * No silent wrong configs: every public config is checked by its schema (kernel-lib/schema.ts, zod). A typo'd key
 * is an error with a "did you mean" hint; a wrong value is an error naming the field. Each case below used to be
 * accepted and to change the experiment without a word.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../kernel-lib/backend/index';
import { createMethod } from '../kernel-lib/methods/registry';
import { createRun, type RunOptions } from '../kernel-lib/train/index';
import { closestKey } from '../kernel-lib/schema';
import { validateProfile, PROFILES, type Profile } from '../kernel-lib/experiments/index';
import { classColouredDataset } from './data-helpers';

let base: RunOptions;
beforeAll(async () => {
  await initBackend({ log: false });
  base = {
    dataset: classColouredDataset('config', { classes: 4, trainPerClass: 4, testPerClass: 2, size: 8 }),
    scenario: { initial: 2, increment: 2 },
    method: 'finetune',
    backbone: { kind: 'resnet32', width: 0.25, blocksPerStage: 1 },
    seed: 1,
    epochs: 1,
    quiet: true,
  };
});

/** createRun with `patch` merged into the base options (typed loosely: these are the mistakes a user makes). */
const attempt = (patch: Record<string, unknown>) => createRun({ ...base, ...patch } as RunOptions);

describe('createRun options', () => {
  it('refuses typo\'d keys with a hint', async () => {
    await expect(attempt({ epoch: 3 })).rejects.toThrow(/createRun: unknown key 'epoch' \(did you mean 'epochs'\?\)/);
    await expect(attempt({ lr: 0.1 })).rejects.toThrow(/createRun: unknown key 'lr'/);
    await expect(attempt({ optimizer: { kind: 'sgd', lr: 0.1, weight_decay: 5e-4 } })).rejects.toThrow(
      /unknown key 'weight_decay' in 'optimizer' \(did you mean 'weightDecay'\?\)/,
    );
    await expect(attempt({ schedule: { kind: 'cosine', t_max: 10 } })).rejects.toThrow(/unknown key 't_max' in 'schedule' \(did you mean 'tMax'\?\)/);
    await expect(attempt({ backbone: { kind: 'resnet32', widht: 0.25 } })).rejects.toThrow(/unknown key 'widht' in 'backbone' \(did you mean 'width'\?\)/);
  });

  it('refuses wrong values, naming the field', async () => {
    await expect(attempt({ optimizer: { kind: 'sgd', lr: 0.1, clipGradNorm: -1 } })).rejects.toThrow(/createRun: optimizer\.clipGradNorm: .*got -1/);
    await expect(attempt({ optimizer: { kind: 'sgd', lr: 0.1, clipGradNorm: 0 } })).rejects.toThrow(/optimizer\.clipGradNorm: /);
    await expect(attempt({ optimizer: { kind: 'adam', lr: 0.001, beta1: 1.5 } })).rejects.toThrow(/optimizer\.beta1: .*got 1\.5/);
    await expect(attempt({ augment: 'no' })).rejects.toThrow(/augment: .*got "no"/);
    await expect(attempt({ keepCheckpoints: 'none' })).rejects.toThrow(/keepCheckpoints: .*got "none"/);
    await expect(attempt({ optimizer: { kind: 'sgd', lr: 0.1, momentum: '0.9' } })).rejects.toThrow(/optimizer\.momentum: .*got "0\.9"/);
    await expect(attempt({ epochs: 0 })).rejects.toThrow(/epochs: /);
    await expect(attempt({ seed: 1.5 })).rejects.toThrow(/seed: /);
  });

  it('accepts what it always accepted', async () => {
    const run = await attempt({ optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 5e-4, clipGradNorm: 10 }, schedule: { kind: 'multistep', milestones: [1], gamma: 0.5 } });
    run.dispose();
  });
});

describe('method configs, profiles and hints', () => {
  it('method configs refuse typo\'d keys with a hint', () => {
    expect(() => createMethod('lwf', { lamda: 3 })).toThrow(/lwf: unknown config key 'lamda' \(did you mean 'lamb'\?\)/);
    expect(() => createMethod('bic', { validation_ratio: 0.2 })).toThrow(/did you mean 'validationRatio'/);
  });

  it('profiles refuse typo\'d keys and wrong values', () => {
    const typo = { ...PROFILES.smoke, epoch: 3 } as unknown as Profile;
    expect(validateProfile(typo).join('\n')).toMatch(/unknown key 'epoch' \(did you mean 'epochs'\?\)/);
    const negative = { ...PROFILES.smoke, optimizer: { kind: 'sgd', lr: -1 } } as unknown as Profile;
    expect(validateProfile(negative).join('\n')).toMatch(/optimizer\.lr: /);
    expect(validateProfile(PROFILES.smoke)).toEqual([]);
  });

  it('closestKey suggests only near misses', () => {
    expect(closestKey('epoch', ['epochs', 'seed'])).toBe('epochs');
    expect(closestKey('weight_decay', ['weightDecay', 'lr'])).toBe('weightDecay');
    expect(closestKey('zzzzzz', ['epochs', 'seed'])).toBeNull();
  });
});
