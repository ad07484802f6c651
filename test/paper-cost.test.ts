import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readGrid } from '../kernel-lib/grid/index';
import { measuredOverheads, rowImageSteps, rowSeconds } from '../reproductions/paper-cost';
import { ROOT } from './helpers/grid-cli';

const paperRow = (id: string) => {
  const grid = readGrid(path.join(ROOT, 'reproductions', 'results', 'paper', 'cifar100', 'main-comparison', 'grid.json'));
  return grid.rows.find((r) => r.spec.run.id === id)!;
};

describe('the paper grid cost', () => {
  it('counts training image-steps from the recipe, the memory and the KD forward, with hand values', () => {
    // Fine-tuning, PyCIL's recipe: 10 tasks of 500 images x 10 classes, 200 epochs, then 80: 5000 x (200 + 9 x 80).
    expect(rowImageSteps(paperRow('finetune_b0-10'), 500)).toBe(5000 * (200 + 9 * 80));
    // iCaRL: 70 epochs each; 2,000 exemplars as floor(2000 / seen) per class (2000, 2000, 1980, 2000, 2000, 1980,
    // 1960, 2000, 1980 after 10..90 classes); each later task also runs the old model (x 471.2 / 358.6).
    const memory = 2000 + 2000 + 1980 + 2000 + 2000 + 1980 + 1960 + 2000 + 1980;
    expect(rowImageSteps(paperRow('icarl_b0-10'), 500)).toBeCloseTo(5000 * 70 + (9 * 5000 + memory) * 70 * (471.2 / 358.6), 3);
    expect(rowSeconds(paperRow('finetune_b0-10'), 2)).toBeCloseTo((2 * 4_600_000) / 471.2, 6);
  });

  it("scales each run by its measured standard rows' cost per counted step, relative to fine-tuning's", () => {
    const { byRun, byMethod, rows } = measuredOverheads();
    expect(rows).toBeGreaterThan(0);
    // Fine-tuning's runs average to 1 by construction (its rows weigh equally in the base).
    const finetune = [...byRun].filter(([id]) => id.startsWith('finetune_')).map(([, v]) => v);
    expect(finetune.length).toBeGreaterThan(0);
    for (const v of byRun.values()) expect(v).toBeGreaterThan(0);
    expect(byMethod.get('finetune')).toBeCloseTo(1, 10);
  });
});
