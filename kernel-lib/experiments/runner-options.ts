/** A run's method and createRun options at a profile: the experiment's config, the profile's overrides and settings. */
import type { ImageDataset } from '../data/types';
import { createMethod, methodDefaults, methodNames } from '../methods/registry';
import type { Method } from '../methods/types';
import type { RunOptions } from '../train/index';
import type { RunSpec } from './experiments';
import { backboneFor, type DatasetName, type Profile } from './profiles';
import { runSettings } from './settings';

/** Multiplies exemplar budgets (per class and total) by `scale`, totals also by classes / 100 below 100 classes. */
export function scaledMemoryOverrides(config: Record<string, unknown>, scale: number, classes: number): Record<string, unknown> {
  const totalScale = scale * Math.min(1, classes / 100);
  const perClass = (n: number) => Math.max(1, Math.round(n * scale));
  const total = (n: number) => Math.max(classes, Math.round(n * totalScale));
  const out: Record<string, unknown> = {};
  if (scale === 1 && totalScale === 1) return out;
  const memory = config.memory as { perClass?: number; total?: number } | null | undefined;
  if (memory && typeof memory === 'object') {
    out.memory = {
      ...memory,
      ...(typeof memory.perClass === 'number' ? { perClass: perClass(memory.perClass) } : {}),
      ...(typeof memory.total === 'number' ? { total: total(memory.total) } : {}),
    };
  }
  if (typeof config.memoryPerClass === 'number') out.memoryPerClass = perClass(config.memoryPerClass);
  if (typeof config.memoryTotal === 'number') out.memoryTotal = total(config.memoryTotal);
  return out;
}

/** The method of a run: its experiment config, the profile's overrides, and the profile's memory scale. */
export function buildMethod(spec: RunSpec, profile: Profile, classes: number): Method {
  if (!methodNames().includes(spec.method)) {
    throw new Error(`unknown method '${spec.method}'; valid methods: ${methodNames().join(', ')}`);
  }
  const overrides = { ...(profile.methodOverrides[spec.method] ?? {}), ...spec.config };
  const memory = scaledMemoryOverrides({ ...methodDefaults(spec.method), ...overrides }, profile.memoryScale, classes);
  return createMethod(spec.method, { ...overrides, ...memory });
}

/** createRun's options for a run (without checkpointing and display): the method and its resolved settings. */
export function runOptionsFor(spec: RunSpec, seed: number, profile: Profile, datasetName: DatasetName, dataset: ImageDataset): RunOptions {
  const method = buildMethod(spec, profile, dataset.classNames.length);
  return { dataset, scenario: spec.scenario, method, seed, ...runSettings(profile, method, backboneFor(profile, datasetName)) };
}
