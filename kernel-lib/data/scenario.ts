/**
 * Class-incremental scenarios: how a dataset's classes are split into tasks, and the relabelling that puts the classes
 * in arrival order (incremental label k = the k-th class of the class order), so that task t owns labels
 * [tasks[t].start, tasks[t].end).
 *
 * Splits are { initial, increment }: the first task has `initial` classes, every later task `increment` (PyCIL's
 * init_cls / increment). Presets, for any class count that allows them:
 * - 'b0-10': 10 equal tasks (CIFAR-100: 10 x 10).
 * - 'b50-10': half the classes first, then the rest in 10 equal steps (CIFAR-100: 50 + 10 x 5).
 */
import type { TaskSpec } from '../methods/types';
import type { ImageDataset, ImageSplit } from './types';

export type ScenarioPreset = 'b0-10' | 'b50-10';
export type ScenarioSpec = ScenarioPreset | { initial: number; increment: number };

export interface Scenario {
  numClasses: number;
  /** Classes of the first task. */
  initial: number;
  /** Classes of every later task. */
  increment: number;
  tasks: TaskSpec[];
}

export const SCENARIO_PRESETS: readonly ScenarioPreset[] = ['b0-10', 'b50-10'];

function divisors(n: number): number[] {
  const found: number[] = [];
  for (let d = 1; d <= n; d++) if (n % d === 0) found.push(d);
  return found;
}

/** The { initial, increment } of a preset for numClasses, or an error saying which class counts it fits. */
function presetSplit(preset: ScenarioPreset, numClasses: number): { initial: number; increment: number } {
  if (preset === 'b0-10') {
    if (numClasses % 10 !== 0) {
      throw new Error(
        `makeScenario: 'b0-10' splits the classes into 10 equal tasks, but numClasses = ${numClasses} is not a multiple of 10; ` +
          `use a multiple of 10 classes or give { initial, increment } explicitly`,
      );
    }
    return { initial: numClasses / 10, increment: numClasses / 10 };
  }
  if (numClasses % 20 !== 0) {
    throw new Error(
      `makeScenario: 'b50-10' trains half the classes first and the other half in 10 equal steps, so numClasses must be a ` +
        `multiple of 20, got ${numClasses}; use a multiple of 20 classes or give { initial, increment } explicitly`,
    );
  }
  return { initial: numClasses / 2, increment: numClasses / 20 };
}

/** Builds the task list of a split; refuses splits that cannot be made, naming the field and how to fix it. */
export function makeScenario(spec: ScenarioSpec, numClasses: number): Scenario {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new Error(`makeScenario: numClasses must be a positive integer (the dataset's class count), got ${numClasses}`);
  }
  let split: { initial: number; increment: number };
  if (typeof spec === 'string') {
    if (!SCENARIO_PRESETS.includes(spec)) {
      throw new Error(`makeScenario: unknown preset '${spec}'; presets: ${SCENARIO_PRESETS.join(', ')}, or give { initial, increment }`);
    }
    split = presetSplit(spec, numClasses);
  } else if (spec && typeof spec === 'object') {
    split = { initial: spec.initial, increment: spec.increment };
  } else {
    throw new Error(`makeScenario: spec must be 'b0-10', 'b50-10' or { initial, increment }, got ${JSON.stringify(spec)}`);
  }
  const { initial, increment } = split;
  if (!Number.isInteger(initial) || initial < 1) {
    throw new Error(
      `makeScenario: initial (classes of the first task) must be a positive integer, got ${initial}; ` +
        `for equal tasks from scratch set initial = increment`,
    );
  }
  if (initial > numClasses) {
    throw new Error(`makeScenario: initial = ${initial} is more than the ${numClasses} classes of the dataset; set initial <= ${numClasses}`);
  }
  if (!Number.isInteger(increment) || increment < 1) {
    throw new Error(`makeScenario: increment (classes per later task) must be a positive integer, got ${increment}`);
  }
  const rest = numClasses - initial;
  if (rest % increment !== 0) {
    const fits = divisors(rest).join(', ');
    throw new Error(
      `makeScenario: the ${rest} classes after the first task (numClasses ${numClasses} - initial ${initial}) do not split ` +
        `into steps of increment = ${increment} (${rest} / ${increment} = ${(rest / increment).toFixed(2)}); ` +
        `choose an increment that divides ${rest} (${fits}) or change initial`,
    );
  }
  const tasks: TaskSpec[] = [{ index: 0, start: 0, end: initial }];
  for (let start = initial; start < numClasses; start += increment) tasks.push({ index: tasks.length, start, end: start + increment });
  return { numClasses, initial, increment, tasks };
}

/** Checks that order is a permutation of the dataset's class ids; errors name the offending entry. */
function checkOrder(ds: ImageDataset, order: readonly number[]): void {
  const numClasses = ds.classNames.length;
  const seen = new Int32Array(numClasses).fill(-1);
  order.forEach((id, position) => {
    if (!Number.isInteger(id) || id < 0 || id >= numClasses) {
      throw new Error(
        `relabelDataset: class order entry ${position} is ${id}, which is not a class of dataset '${ds.name}' ` +
          `(class ids 0..${numClasses - 1}); build the order for this dataset's ${numClasses} classes`,
      );
    }
    if (seen[id] >= 0) {
      throw new Error(`relabelDataset: class ${id} ('${ds.classNames[id]}') appears twice in the class order (entries ${seen[id]} and ${position}); an order lists each class once`);
    }
    seen[id] = position;
  });
  if (order.length !== numClasses) {
    const missing = [...seen.keys()].filter((id) => seen[id] < 0);
    throw new Error(
      `relabelDataset: the class order has ${order.length} entries but dataset '${ds.name}' has ${numClasses} classes; ` +
        `missing: ${missing.slice(0, 10).map((id) => `${id} ('${ds.classNames[id]}')`).join(', ')}${missing.length > 10 ? ', ...' : ''}`,
    );
  }
}

/** Per-class image counts of a split; errors on labels outside [0, numClasses). */
function classCounts(split: ImageSplit, numClasses: number, where: string): Int32Array {
  const counts = new Int32Array(numClasses);
  for (let i = 0; i < split.count; i++) {
    const label = split.labels[i];
    if (!(label >= 0 && label < numClasses)) {
      throw new Error(`relabelDataset: ${where} image ${i} has label ${label}, outside the dataset's ${numClasses} classes`);
    }
    counts[label]++;
  }
  return counts;
}

function relabelSplit(split: ImageSplit, newLabelOf: Int32Array): ImageSplit {
  const labels = new Int32Array(split.count);
  for (let i = 0; i < split.count; i++) labels[i] = newLabelOf[split.labels[i]];
  return { ...split, labels };
}

/**
 * The dataset with classes in arrival order: incremental label k = original class order[k], for both splits, and
 * classNames reordered the same way. Images are shared, not copied. Every class of the order must have training
 * images (and test images, when the test split is not empty).
 */
export function relabelDataset(ds: ImageDataset, order: readonly number[]): ImageDataset {
  checkOrder(ds, order);
  const numClasses = ds.classNames.length;
  for (const [where, split] of [['train', ds.train], ['test', ds.test]] as const) {
    if (where === 'test' && split.count === 0) continue;
    const counts = classCounts(split, numClasses, where);
    const absent = order.find((id) => counts[id] === 0);
    if (absent !== undefined) {
      throw new Error(
        `relabelDataset: class ${absent} ('${ds.classNames[absent]}') of the class order has no ${where} images in dataset '${ds.name}'; ` +
          `remove it from the class list or load a dataset that contains it`,
      );
    }
  }
  const newLabelOf = new Int32Array(numClasses);
  order.forEach((id, k) => (newLabelOf[id] = k));
  return {
    ...ds,
    train: relabelSplit(ds.train, newLabelOf),
    test: relabelSplit(ds.test, newLabelOf),
    classNames: order.map((id) => ds.classNames[id]),
  };
}
