/**
 * iCaRL: trains 3 tasks through createRun with herding memory and no tensor leak; the NME class means are the
 * re-normalised means of the exemplars' normalised features, and the evaluation's predictions are the nearest class
 * mean (CNN accuracy reported beside them); the BCE split is exactly the original loss; kd: false zeroes 'kd', keeps
 * 'cls' bit-identical and moves the old-class outputs to one-hot targets ('clsOld').
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../kernel-lib/tf';
import { initBackend } from '../kernel-lib/backend/index';
import { createMethod } from '../kernel-lib/methods/registry';
import { methodResultsVersion } from '../kernel-lib/methods/results-versions';
import { planRun } from '../kernel-lib/train/plan';
import { createIcarl, icarlClassMeans, type IcarlConfig } from '../kernel-lib/methods/icarl';
import { bceWithLogits, icarlTargets } from '../kernel-lib/losses/index';
import type { ImageDataset, ImageSplit } from '../kernel-lib/data/types';
import {
  CLASSES, TASKS, expectExactKdRemoval, networksForTask1, randomBatch, runOptions, stepContext, tinyEmbedded,
  taskContext, trainAllWithoutLeak, withKdProbe,
} from './methods-kd-fixture';

let dataset: ImageDataset;

beforeAll(async () => {
  await initBackend({ log: false });
  dataset = await tinyEmbedded();
});

/** Un-augmented, normalised images of `indices`, as the trainer's evaluation and feature extraction build them. */
function images(split: ImageSplit, indices: Int32Array): tf.Tensor4D {
  const { height: h, width: w } = split;
  const pixel = h * w * 3;
  const x = new Float32Array(indices.length * pixel);
  indices.forEach((i, b) => {
    for (let p = 0; p < pixel; p++) x[b * pixel + p] = (split.images[i * pixel + p] / 255 - dataset.mean[p % 3]) / dataset.std[p % 3];
  });
  return tf.tensor4d(x, [indices.length, h, w, 3]);
}

function normalised(row: ArrayLike<number>): number[] {
  const v = Array.from(row);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

describe('iCaRL', () => {
  it('is registered with its typed defaults and checks its memory config', () => {
    expect(createMethod('icarl').config).toEqual({ kd: true, memory: { selection: 'herding', total: 2000 } });
    expect(createMethod('icarl').memory).toEqual({ selection: 'herding', total: 2000 });
    expect(() => createIcarl({ memory: { selection: 'herding', total: 20, perClass: 2 } })).toThrow(/memory must be \{ selection/);
    expect(() => createIcarl({ memory: { selection: 'best' as 'random', perClass: 2 } })).toThrow(/memory must be/);
  });

  it('trains 3 tasks with herding memory, NME predictions = nearest exemplar class mean, CNN accuracy beside, exact KD removal', async () => {
    const config: Partial<IcarlConfig> = { memory: { selection: 'herding', perClass: 4 } };
    const { method, probe } = withKdProbe(createIcarl(config), createIcarl({ ...config, kd: false }));
    const { run, metrics, dispose } = await trainAllWithoutLeak(runOptions(dataset, method));
    try {
      expect(metrics.map((m) => m.memorySize)).toEqual([8, 16, 24]);
      expect(metrics.map((m) => m.replayImages)).toEqual([0, 8, 16]);
      for (const m of metrics) {
        expect(m.fromMethod).toBe(true);
        expect(m.accuracy).toBe(m.primary.accuracy);
        expect(m.cnn.accuracy).toBeGreaterThanOrEqual(0);
      }

      // Class means: re-normalised mean of the normalised eval-mode features of each class's exemplars.
      const net = run.state.net;
      const means = icarlClassMeans(run.state.methodState)!;
      expect([means.rows, means.dim]).toEqual([CLASSES, net.featureDim]);
      for (let c = 0; c < CLASSES; c++) {
        const exemplars = run.state.memory.get(c)!;
        expect(exemplars.length).toBe(4);
        const feats = tf.tidy(() => net.forward(images(run.state.dataset.train, exemplars), { training: false }).features.arraySync());
        const sum = new Array(net.featureDim).fill(0);
        for (const f of feats) normalised(f).forEach((x, d) => (sum[d] += x));
        const expected = normalised(sum);
        const got = means.data.subarray(c * means.dim, (c + 1) * means.dim);
        expected.forEach((x, d) => expect(got[d]).toBeCloseTo(x, 4));
      }

      // The last evaluation's predictions: the nearest mean (Euclidean, normalised feature) of each test image.
      const evaluation = run.state.evaluations[2];
      const feats = tf.tidy(() => net.forward(images(run.state.dataset.test, evaluation.indices), { training: false }).features.arraySync());
      const nearest = feats.map((f) => {
        const g = normalised(f);
        let best = -1;
        let bestDistance = Infinity;
        for (let c = 0; c < CLASSES; c++) {
          const distance = g.reduce((sum, x, d) => sum + (x - means.data[c * means.dim + d]) ** 2, 0);
          if (distance < bestDistance) [best, bestDistance] = [c, distance];
        }
        return best;
      });
      expect(Array.from(evaluation.predictions)).toEqual(nearest);

      expectExactKdRemoval(probe, ['kd'], ['clsOld']);
      for (const { on, off } of probe.steps) {
        expect(on.clsOld).toBe(0);
        expect(off.clsOld).toBeGreaterThan(0);
      }
    } finally {
      dispose();
    }
  });

  it('cls + kd is the original single BCE, a mean over all the scenario\'s output units; without KD the old outputs get one-hot targets', () => {
    const on = createIcarl();
    const off = createIcarl({ kd: false });
    const { net, teacher, state } = networksForTask1(on);
    const batch = randomBatch(TASKS[1]);
    try {
      tf.tidy(() => {
        const step = stepContext(taskContext(on, net, teacher, TASKS[1], state), batch);
        const withKd = on.lossTerms(step);
        const withoutKd = off.lossTerms({ ...step, kd: false });
        const logits = step.student().logits;
        // The original's mean is over all CLASSES output units (unseen ones have target 0 and are not materialised
        // here): the mean over the 4 seen columns, times 4 / CLASSES.
        expect(step.seenClasses).toBe(4);
        const share = 4 / CLASSES;
        expect(share).toBeLessThan(1);
        const original = share * bceWithLogits(logits, icarlTargets(batch.y, step.teacherOut().logits, 4)).dataSync()[0];
        const oneHot = share * bceWithLogits(logits, icarlTargets(batch.y, null, 4)).dataSync()[0];
        const value = (t: tf.Scalar) => t.dataSync()[0];
        expect(value(withKd.cls) + value(withKd.kd)).toBeCloseTo(original, 6);
        expect(value(withKd.kd)).toBeGreaterThan(0);
        expect(value(withKd.clsOld)).toBe(0);
        expect(value(withoutKd.kd)).toBe(0);
        expect(value(withoutKd.cls)).toBe(value(withKd.cls));
        expect(value(withoutKd.cls) + value(withoutKd.clsOld)).toBeCloseTo(oneHot, 6);
      });
    } finally {
      tf.dispose([batch.x, batch.y, batch.replay]);
      net.dispose();
      teacher.dispose();
    }
  });
});

describe('method results versions in a run identity', () => {
  it('records a version above 1 (iCaRL\'s fixed loss scale), so an earlier version\'s checkpoint is another config; version-1 methods are unchanged', () => {
    expect(methodResultsVersion('icarl')).toBeGreaterThan(1);
    expect(methodResultsVersion('finetune')).toBe(1);
    const icarl = planRun(runOptions(dataset, createIcarl()));
    expect((icarl.identity.method as Record<string, unknown>).resultsVersion).toBe(methodResultsVersion('icarl'));
    const finetune = planRun(runOptions(dataset, createMethod('finetune')));
    expect(Object.keys(finetune.identity.method as object).sort()).toEqual(['config', 'name']);
  });
});
