/**
 * EEIL: trains 3 tasks through createRun with no tensor leak; from the second task on, a balanced fine-tuning
 * stage runs through services.trainLoop on the old exemplars plus an equal-count random subset of each new class,
 * before the new exemplars are selected (paper, FACIL), at the lower learning rate, with the new classes distilled too; the old-class KD is per old task block; kd: false zeroes
 * 'kd' and 'kdNew' and leaves CE bit-identical, in both stages.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../kernel-lib/tf';
import { initBackend } from '../kernel-lib/backend/index';
import type { ImageDataset } from '../kernel-lib/data/types';
import { createMethod } from '../kernel-lib/methods/registry';
import { createEeil, type EeilConfig } from '../kernel-lib/methods/eeil';
import { softTargetCE } from '../kernel-lib/losses/index';
import type { Method, StepContext, TaskContext, TrainLoopOptions } from '../kernel-lib/methods/types';
import {
  TASKS, expectExactKdRemoval, networksForTask1, randomBatch, runOptions, stepContext, tinyEmbedded, taskContext,
  trainAllWithoutLeak, withKdProbe,
} from './methods-kd-fixture';

let dataset: ImageDataset;

beforeAll(async () => {
  await initBackend({ log: false });
  dataset = await tinyEmbedded();
});

describe('EEIL', () => {
  it('is registered with its typed defaults', () => {
    expect(createMethod('eeil').config).toEqual({
      kd: true,
      lamb: 1,
      temperature: 2,
      kdBlocks: 'per-task',
      memory: { selection: 'herding', total: 2000 },
      balancedEpochs: 40,
      balancedLearningRate: 0.01,
      balancedDecayEvery: 10,
    });
    expect(createMethod('eeil').kdTerms).toEqual(['kd', 'kdNew']);
    expect(() => createEeil({ balancedEpochs: 1.5 })).toThrow(/eeil: balancedEpochs: .*expected int.*\(got 1\.5\)/);
  });

  it('trains 3 tasks; balanced fine-tuning on old exemplars + a same-size new subset, before exemplar selection, at the lower rate; exact KD removal in both stages', async () => {
    const config: Partial<EeilConfig> = { memory: { selection: 'herding', total: 12 }, balancedEpochs: 2, balancedLearningRate: 0.005 };
    const { method: probed, probe } = withKdProbe(createEeil(config), createEeil({ ...config, kd: false }));
    const stages: { task: number; options: TrainLoopOptions; memorySize: number; memoryClasses: number[] }[] = [];
    const values = (terms: Record<string, tf.Scalar>) => Object.fromEntries(Object.entries(terms).map(([k, v]) => [k, v.dataSync()[0]]));
    const method: Method<EeilConfig> = {
      ...probed,
      afterTask(ctx: TaskContext) {
        const services = {
          ...ctx.services,
          trainLoop: (options: TrainLoopOptions) => {
            const memory = ctx.services.memory();
            stages.push({ task: ctx.task.index, options, memorySize: [...memory.values()].reduce((n, m) => n + m.length, 0), memoryClasses: [...memory.keys()] });
            // The balanced stage's kd-off terms: the same loss on the same step with kd: false (KD reads step.kd).
            const lossTerms = (step: StepContext) => {
              const on = options.lossTerms(step);
              probe.steps.push({ task: step.task.index, stage: options.stage, on: values(on), off: values(options.lossTerms({ ...step, kd: false })) });
              return on;
            };
            return ctx.services.trainLoop({ ...options, lossTerms });
          },
        };
        return probed.afterTask!({ ...ctx, services });
      },
    };
    const { run, metrics, dispose } = await trainAllWithoutLeak(runOptions(dataset, method));
    try {
      expect(stages.map((s) => s.task)).toEqual([1, 2]);
      const labels = run.state.dataset.train.labels;
      for (const { task, options, memorySize, memoryClasses } of stages) {
        const { start, end } = TASKS[task];
        expect(options.stage).toBe('eeil-balanced');
        expect(options.epochs).toBe(2);
        expect(options.learningRate).toBe(0.005);
        const counts = new Map<number, number>();
        for (const i of [...options.data.newIndices, ...options.data.replayIndices]) counts.set(labels[i], (counts.get(labels[i]) ?? 0) + 1);
        // The stage runs before this task's exemplars are selected: the memory holds the old classes only.
        expect(Math.max(...memoryClasses)).toBe(start - 1);
        // Every seen class with as many images as the memory holds per old class, floor(12 / old): the old
        // exemplars as they are, a random subset of each new class's data.
        expect([...counts.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: end }, (_, c) => c));
        expect(new Set(counts.values())).toEqual(new Set([Math.floor(12 / start)]));
        expect(options.data.replayIndices.length).toBe(memorySize);
        expect([...options.data.newIndices].every((i) => labels[i] >= start && labels[i] < end)).toBe(true);
        expect([...options.data.replayIndices].every((i) => labels[i] < start)).toBe(true);
      }
      // ... and after it, the memory covers every class seen.
      expect(Math.max(...run.state.memory.classes())).toBe(TASKS[2].end - 1);
      expect(metrics[0].stages.map((s) => s.stage)).toEqual(['train']);
      for (const m of metrics.slice(1)) {
        const balanced = m.stages.find((s) => s.stage === 'eeil-balanced')!;
        expect(balanced.epochs).toBe(2);
        expect(balanced.lr).toBe(0.005);
        expect(Object.keys(balanced.terms).sort()).toEqual(['ce', 'kd', 'kdNew']);
        expect(balanced.terms.kdNew).toBeGreaterThan(0);
      }
      expect(new Set(probe.steps.map((s) => s.stage))).toEqual(new Set(['train', 'eeil-balanced']));
      expectExactKdRemoval(probe, ['kd', 'kdNew']);
    } finally {
      dispose();
    }
  });

  it("distils the old classes per old task's block (paper, FACIL) or over all old classes at once", () => {
    const state: Record<string, unknown> = {};
    const perTask = createEeil({ lamb: 0.5 });
    const { net, teacher: first, state: s } = networksForTask1(perTask, state);
    const teacher = net.clone(false);
    first.dispose();
    perTask.beforeTask!(taskContext(perTask, net, teacher, TASKS[2], s));
    const batch = randomBatch(TASKS[2]);
    try {
      tf.tidy(() => {
        const ctx = taskContext(perTask, net, teacher, TASKS[2], s);
        const step = stepContext(ctx, batch);
        const z = step.student().logits;
        const t = step.teacherOut().logits;
        const block = (a: number, b: number) => softTargetCE(z.slice([0, a], [-1, b - a]), t.slice([0, a], [-1, b - a]), 2).dataSync()[0];
        expect(perTask.lossTerms(step).kd.dataSync()[0]).toBeCloseTo(0.5 * (block(0, 2) + block(2, 4)), 6);
        const allOld = createEeil({ lamb: 0.5, kdBlocks: 'old-classes' });
        expect(allOld.lossTerms(step).kd.dataSync()[0]).toBeCloseTo(0.5 * softTargetCE(z.slice([0, 0], [-1, 4]), t, 2).dataSync()[0], 6);
      });
    } finally {
      tf.dispose([batch.x, batch.y, batch.replay]);
      net.dispose();
      teacher.dispose();
    }
  });
});

describe('eeil balanced-stage schedule', () => {
  it('starts at the balanced rate and divides it by 10 every 10 epochs (paper Sec. 4.3)', async () => {
    const { balancedSchedule } = await import('../kernel-lib/methods/eeil');
    const { learningRateAt } = await import('../kernel-lib/train/optim');
    const schedule = balancedSchedule(40, 10);
    expect(schedule.milestones).toEqual([10, 20, 30]);
    const rates = [0, 9, 10, 19, 20, 30, 39].map((e) => learningRateAt(schedule, 0.01, e, 40));
    [0.01, 0.01, 0.001, 0.001, 0.0001, 0.00001, 0.00001].forEach((want, i) => expect(rates[i]).toBeCloseTo(want, 12));
    expect(balancedSchedule(6, 2).milestones).toEqual([2, 4]);
  });
});
