import { describe, expect, it } from 'vitest';
import { makeScenario, relabelDataset } from '../kernel-lib/data/scenario';
import { classOrder } from '../kernel-lib/data/class-orders';
import type { ImageDataset, ImageSplit } from '../kernel-lib/data/types';

function expectContiguous(tasks: { index: number; start: number; end: number }[], numClasses: number): void {
  tasks.forEach((t, i) => {
    expect(t.index).toBe(i);
    expect(t.start).toBe(i === 0 ? 0 : tasks[i - 1].end);
    expect(t.end).toBeGreaterThan(t.start);
  });
  expect(tasks.at(-1)!.end).toBe(numClasses);
}

describe('makeScenario presets', () => {
  it("'b0-10' on CIFAR-100: 10 tasks of 10", () => {
    const s = makeScenario('b0-10', 100);
    expect(s).toMatchObject({ numClasses: 100, initial: 10, increment: 10 });
    expect(s.tasks).toHaveLength(10);
    expect(s.tasks[3]).toEqual({ index: 3, start: 30, end: 40 });
    expectContiguous(s.tasks, 100);
  });

  it("'b50-10' on CIFAR-100: 50 classes, then 10 tasks of 5", () => {
    const s = makeScenario('b50-10', 100);
    expect(s).toMatchObject({ numClasses: 100, initial: 50, increment: 5 });
    expect(s.tasks).toHaveLength(11);
    expect(s.tasks[0]).toEqual({ index: 0, start: 0, end: 50 });
    expect(s.tasks[1]).toEqual({ index: 1, start: 50, end: 55 });
    expect(s.tasks[10]).toEqual({ index: 10, start: 95, end: 100 });
    expectContiguous(s.tasks, 100);
  });

  it.each([[200, 20, 100, 10], [20, 2, 10, 1], [40, 4, 20, 2]])('both presets scale to %i classes', (n, b0, half, step) => {
    expect(makeScenario('b0-10', n)).toMatchObject({ initial: b0, increment: b0 });
    expect(makeScenario('b0-10', n).tasks).toHaveLength(10);
    const b50 = makeScenario('b50-10', n);
    expect(b50).toMatchObject({ initial: half, increment: step });
    expect(b50.tasks).toHaveLength(11);
    expectContiguous(b50.tasks, n);
  });
});

describe('makeScenario with { initial, increment }', () => {
  it('builds the PyCIL B50 5-step split and a single-task (joint) split', () => {
    const s = makeScenario({ initial: 50, increment: 10 }, 100);
    expect(s.tasks.map((t) => [t.start, t.end])).toEqual([[0, 50], [50, 60], [60, 70], [70, 80], [80, 90], [90, 100]]);
    expect(makeScenario({ initial: 100, increment: 10 }, 100).tasks).toEqual([{ index: 0, start: 0, end: 100 }]);
  });

  it('refuses impossible splits, naming the field and the fix', () => {
    expect(() => makeScenario({ initial: 50, increment: 20 }, 100)).toThrow(
      /the 50 classes after the first task \(numClasses 100 - initial 50\) do not split into steps of increment = 20 \(50 \/ 20 = 2\.50\); choose an increment that divides 50 \(1, 2, 5, 10, 25, 50\) or change initial/,
    );
    expect(() => makeScenario({ initial: 150, increment: 10 }, 100)).toThrow(/initial = 150 is more than the 100 classes of the dataset; set initial <= 100/);
    expect(() => makeScenario({ initial: 10, increment: 0 }, 100)).toThrow(/increment \(classes per later task\) must be a positive integer, got 0/);
    expect(() => makeScenario({ initial: 0, increment: 10 }, 100)).toThrow(/initial \(classes of the first task\) must be a positive integer, got 0; for equal tasks from scratch set initial = increment/);
    expect(() => makeScenario({ initial: 2.5, increment: 10 }, 100)).toThrow(/initial .* must be a positive integer, got 2.5/);
    expect(() => makeScenario({ initial: 10, increment: -5 }, 100)).toThrow(/increment/);
    expect(() => makeScenario('b0-10', 25)).toThrow(/'b0-10' splits the classes into 10 equal tasks, but numClasses = 25 is not a multiple of 10/);
    expect(() => makeScenario('b50-10', 30)).toThrow(/'b50-10' .* numClasses must be a multiple of 20, got 30/);
    expect(() => makeScenario('b0-5' as never, 100)).toThrow(/unknown preset 'b0-5'; presets: b0-10, b50-10, or give \{ initial, increment \}/);
    expect(() => makeScenario('b0-10', 0)).toThrow(/numClasses must be a positive integer/);
  });
});

function split(labels: number[], pixel = (i: number) => i): ImageSplit {
  const images = new Uint8Array(labels.length * 2 * 2 * 3);
  labels.forEach((_, i) => images.fill(pixel(i), i * 12, (i + 1) * 12));
  return { images, labels: Int32Array.from(labels), count: labels.length, height: 2, width: 2, channels: 3 };
}

function dataset(trainLabels: number[], testLabels: number[], classNames = ['apple', 'bear', 'cloud', 'dolphin']): ImageDataset {
  return { name: 'toy', train: split(trainLabels), test: split(testLabels), classNames, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
}

describe('relabelDataset', () => {
  const ds = dataset([0, 1, 2, 3, 3, 2, 1, 0, 2], [3, 2, 1, 0]);

  it('maps original class ids to arrival order in both splits and reorders classNames', () => {
    const order = [2, 0, 3, 1];
    const out = relabelDataset(ds, order);
    // label k = the k-th class of the order: 2 -> 0, 0 -> 1, 3 -> 2, 1 -> 3
    expect(Array.from(out.train.labels)).toEqual([1, 3, 0, 2, 2, 0, 3, 1, 0]);
    expect(Array.from(out.test.labels)).toEqual([2, 0, 3, 1]);
    expect(out.classNames).toEqual(['cloud', 'apple', 'dolphin', 'bear']);
    for (let i = 0; i < ds.train.count; i++) expect(out.classNames[out.train.labels[i]]).toBe(ds.classNames[ds.train.labels[i]]);
    // Images are shared, the input is untouched.
    expect(out.train.images).toBe(ds.train.images);
    expect(Array.from(ds.train.labels)).toEqual([0, 1, 2, 3, 3, 2, 1, 0, 2]);
    expect(out).toMatchObject({ name: 'toy', mean: ds.mean, std: ds.std });
  });

  it('the identity order changes nothing, and class orders compose with it', () => {
    const out = relabelDataset(ds, [0, 1, 2, 3]);
    expect(Array.from(out.train.labels)).toEqual(Array.from(ds.train.labels));
    const seeded = relabelDataset(ds, classOrder({ seed: 3 }, 4));
    expect(seeded.classNames.slice().sort()).toEqual(ds.classNames.slice().sort());
  });

  it('refuses an order that is not a permutation of the dataset classes, naming the entry', () => {
    expect(() => relabelDataset(ds, [0, 1, 2, 7])).toThrow(/class order entry 3 is 7, which is not a class of dataset 'toy' \(class ids 0..3\)/);
    expect(() => relabelDataset(ds, [0, 1, 1, 3])).toThrow(/class 1 \('bear'\) appears twice in the class order \(entries 1 and 2\)/);
    expect(() => relabelDataset(ds, [0, 2, 3])).toThrow(/has 3 entries but dataset 'toy' has 4 classes; missing: 1 \('bear'\)/);
    expect(() => relabelDataset(ds, [0, 1, 2.5, 3])).toThrow(/entry 2 is 2.5/);
  });

  it('refuses a class-list entry absent from the data, naming it', () => {
    const noDolphins = dataset([0, 1, 2, 2], [0, 1, 2, 3]);
    expect(() => relabelDataset(noDolphins, [0, 1, 2, 3])).toThrow(/class 3 \('dolphin'\) of the class order has no train images in dataset 'toy'/);
    const noTestBears = dataset([0, 1, 2, 3], [0, 2, 3]);
    expect(() => relabelDataset(noTestBears, [3, 2, 1, 0])).toThrow(/class 1 \('bear'\) of the class order has no test images/);
    const badLabel = dataset([0, 1, 2, 3, 9], [0, 1, 2, 3]);
    expect(() => relabelDataset(badLabel, [0, 1, 2, 3])).toThrow(/train image 4 has label 9, outside the dataset's 4 classes/);
  });
});
