/** A run's method and createRun options at a profile: the experiment's config, the profile's overrides and settings. */
import type { ImageDataset } from '../data/types';
import { createMethod, methodDefaults, methodNames } from '../methods/registry';
import type { Method } from '../methods/types';
import type { RunOptions } from '../train/index';
import { selectRuns, type ExperimentDefinition, type RunSpec } from './experiments';
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

/**
 * The runs of an experiment at a profile: those the filter selects, less the profile's exclusions (unless the
 * caller named those methods). Every method must exist: a missing one is a setup error, not a failed run.
 */
export function experimentRunSpecs(
  experiment: ExperimentDefinition,
  profile: Profile,
  filter: { methods?: string[]; scenarios?: string[] } = {},
): RunSpec[] {
  if (filter.methods && filter.methods.length === 0) throw new Error('no methods selected: the method list is empty (name at least one, or leave it out for all)');
  const selected = selectRuns(experiment, filter);
  const specs = filter.methods ? selected : selected.filter((s) => !profile.excludeMethods.includes(s.method));
  const known = methodNames();
  const unknown = [...new Set(specs.map((s) => s.method))].filter((m) => !known.includes(m));
  if (unknown.length) throw new Error(`unknown method(s) ${unknown.map((m) => `'${m}'`).join(', ')}; valid methods: ${known.join(', ')}`);
  return specs;
}
