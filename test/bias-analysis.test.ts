/**
 * Bias analysis (kernel-lib/analysis/bias) on hand-made inputs: the four views of a 2-task, 4-class model whose
 * predictions and logits are chosen so every number can be counted by hand; kdcl's heads' weights; BiC's corrected
 * classifier and logits on a small untrained network; JSON round trip; the vega-lite charts (compile, render to
 * SVG, task dropdown, panels); the quickstart's accuracy-matrix and forgetting views; and a tiny bias study (two
 * runs of two tasks, then reloaded from its cache).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as vegaLite from 'vega-lite';
import { tf } from '../kernel-lib/tf';
import { initBackend } from '../kernel-lib/backend/index';
import { CosineHead, LinearHead, TaskHeads } from '../kernel-lib/models/heads';
import { Network } from '../kernel-lib/models/network';
import { createBackbone } from '../kernel-lib/models/resnet';
import { applyCorrections, type BiasCorrection } from '../kernel-lib/methods/bic';
import type { TaskSpec } from '../kernel-lib/methods/types';
import type { RunState } from '../kernel-lib/train/run';
import type { ImageDataset } from '../kernel-lib/data/types';
import {
  analyseRun,
  argMaxRows,
  bicBeforeAfter,
  biasViews,
  classifierWeights,
  correctedClassifier,
  testScores,
  type BiasViews,
  type ClassifierWeights,
} from '../kernel-lib/analysis/bias';
import { biasSummary, biasViewsFromJSON, biasViewsToJSON, compareBias, describeBias } from '../kernel-lib/analysis/bias-summary';
import {
  biasCharts,
  biasSummaryTable,
  classifierChart,
  classifierRows,
  confusionChart,
  confusionRows,
  meanLogitRows,
  taskHistogramChart,
  taskHistogramRows,
} from '../kernel-lib/viz/bias-charts';
import { renderSvg } from '../kernel-lib/viz/charts';
import {
  accuracyCurvesChart,
  accuracyMatrixChart,
  accuracyMatrixTable,
  forgettingChart,
  forgettingRows,
  forgettingTable,
  summaryTable,
} from '../kernel-lib/analysis/progress';
import type { RunMetrics } from '../kernel-lib/train/metrics';
import { BIAS_STUDY_PRESETS, biasStudySettings, runBiasStudy } from '../kernel-lib/analysis/bias-study';

beforeAll(async () => {
  await initBackend({ log: false });
});

const TASKS: TaskSpec[] = [
  { index: 0, start: 0, end: 2 },
  { index: 1, start: 2, end: 4 },
];
// Two test samples per class; predictions chosen by hand (label -> prediction):
// 0->0, 0->2, 1->3, 1->1, 2->2, 2->2, 3->3, 3->0.
const LABELS = Int32Array.from([0, 0, 1, 1, 2, 2, 3, 3]);
const PREDICTED = [0, 2, 3, 1, 2, 2, 3, 0];
/** Logits: 3 for the predicted class, 1 elsewhere. */
const LOGITS = Float32Array.from(PREDICTED.flatMap((p) => [0, 1, 2, 3].map((c) => (c === p ? 3 : 1))));
/** Weights [featureDim 2, classes 4]: class norms 5, 1, 1, 2. */
const CLASSIFIER: ClassifierWeights = {
  head: 'linear',
  weights: Float32Array.from([3, 0, 1, 2, 4, 1, 0, 0]),
  shape: [2, 4],
  biases: Float32Array.from([0.1, 0.2, 0.5, 0.7]),
};

const handMade = (): BiasViews => biasViews({ tasks: TASKS, logits: LOGITS, labels: LABELS, classifier: CLASSIFIER }, { model: 'toy', variant: 'raw logits' });

describe('biasViews on a hand-made 2-task model', () => {
  it('predicts the arg-max and counts accuracies', () => {
    expect(Array.from(argMaxRows(LOGITS, [8, 4]))).toEqual(PREDICTED);
    expect(Array.from(argMaxRows(Float32Array.from([1, 1, 0]), [1, 3]))).toEqual([0]); // first on ties
    const v = handMade();
    expect(v.task).toBe(1);
    expect(v.seenClasses).toBe(4);
    expect(v.metrics.accuracy).toBeCloseTo(5 / 8);
    expect(v.metrics.old).toBeCloseTo(2 / 4);
    expect(v.metrics.new).toBeCloseTo(3 / 4);
    expect(v.metrics.perTask).toEqual([0.5, 0.75]);
  });

  it('builds the arrival-ordered confusion matrix and the task-prediction histogram', () => {
    const v = handMade();
    expect(v.confusion.classes).toBe(4);
    // rows: true class, columns: predicted class
    expect(Array.from(v.confusion.counts)).toEqual([
      1, 0, 1, 0,
      0, 1, 0, 1,
      0, 0, 2, 0,
      1, 0, 0, 1,
    ]);
    // task 0's samples: predicted 0 (t0), 2 (t1), 3 (t1), 1 (t0); task 1's: 2, 2, 3 (t1), 0 (t0)
    expect(v.taskHistogram).toEqual([
      [2, 2],
      [1, 3],
    ]);
    expect(v.newPredictionShare).toBeCloseTo(5 / 8);
  });

  it('computes mean old and new logits', () => {
    // column sums = 8 + 2 * (#predicted as that class) = 12, 10, 14, 12 over 8 samples
    const v = handMade();
    expect(v.meanLogits.old).toBeCloseTo((12 + 10) / 16);
    expect(v.meanLogits.new).toBeCloseTo((14 + 12) / 16);
    expect(v.meanLogits.perTask[0]).toBeCloseTo(1.375);
    expect(v.meanLogits.perTask[1]).toBeCloseTo(1.625);
  });

  it('computes per-class weight norms and biases with per-task means', () => {
    const v = handMade();
    expect(Array.from(v.classifier!.weightNorms)).toEqual([5, 1, 1, 2]);
    expect(Array.from(v.classifier!.biases!)).toEqual(Array.from(Float32Array.from([0.1, 0.2, 0.5, 0.7])));
    expect(v.classifierPerTask!.weightNorm).toEqual([3, 1.5]);
    expect(v.classifierPerTask!.bias![0]).toBeCloseTo(0.15);
    expect(v.classifierPerTask!.bias![1]).toBeCloseTo(0.6);
  });

  it('keeps only the seen classes of a head built for more classes', () => {
    const wide: ClassifierWeights = { head: 'linear', weights: Float32Array.from([3, 0, 1, 2, 9, 4, 1, 0, 0, 9]), shape: [2, 5], biases: Float32Array.from([0.1, 0.2, 0.5, 0.7, 5]) };
    const v = biasViews({ tasks: TASKS, logits: LOGITS, labels: LABELS, classifier: wide });
    expect(Array.from(v.classifier!.weightNorms)).toEqual([5, 1, 1, 2]);
    expect(v.classifier!.biases!.length).toBe(4);
  });

  it('summarises the views in one row', () => {
    const row = biasSummary(handMade());
    expect(row).toMatchObject({ model: 'toy', variant: 'raw logits', task: 1, meanOldWeightNorm: 3, meanNewWeightNorm: 1.5 });
    expect(row.newSampleShare).toBeCloseTo(0.5);
    expect(row.newPredictionShare).toBeCloseTo(5 / 8);
    expect(row.meanOldBias).toBeCloseTo(0.15);
    expect(row.meanNewBias).toBeCloseTo(0.6);
    expect(row.meanNewLogit - row.meanOldLogit).toBeCloseTo(0.25);
  });

  it('on the first task: no old classes (NaN), everything predicted is new', () => {
    const first = [TASKS[0]];
    const labels = Int32Array.from([0, 1]);
    const logits = Float32Array.from([2, 1, 0, 5]);
    const v = biasViews({ tasks: first, logits, labels });
    expect(v.metrics.accuracy).toBe(1);
    expect(Number.isNaN(v.metrics.old)).toBe(true);
    expect(Number.isNaN(v.meanLogits.old)).toBe(true);
    expect(v.meanLogits.new).toBeCloseTo(2);
    expect(v.newPredictionShare).toBe(1);
    expect(v.classifier).toBeNull();
  });

  it('refuses inputs that do not fit, naming the field', () => {
    expect(() => biasViews({ tasks: TASKS, logits: LOGITS.slice(1), labels: LABELS })).toThrow(/logits has 31 values, expected samples \* seenClasses = 8 \* 4/);
    expect(() => biasViews({ tasks: TASKS, logits: LOGITS, labels: Int32Array.from([0, 0, 1, 1, 2, 2, 3, 4]) })).toThrow(/labels\[7\] = 4 is not a seen class/);
    expect(() => biasViews({ tasks: [], logits: LOGITS, labels: LABELS })).toThrow(/tasks is empty/);
    expect(() => biasViews({ tasks: TASKS, logits: LOGITS, labels: LABELS, classifier: { ...CLASSIFIER, shape: [4, 2] } })).toThrow(/2 classes but 4 were seen/);
  });

  it('round-trips through JSON, NaN included', () => {
    const first = biasViews({ tasks: [TASKS[0]], logits: Float32Array.from([2, 1, 0, 5]), labels: Int32Array.from([0, 1]) });
    for (const v of [handMade(), first]) {
      const back = biasViewsFromJSON(JSON.parse(JSON.stringify(biasViewsToJSON(v))));
      expect(back).toEqual(v);
      expect(back.confusion.counts).toBeInstanceOf(Int32Array);
    }
  });
});

describe('BiC bias correction', () => {
  it('scales the corrected classes weights by alpha and maps biases to alpha * b + beta', () => {
    const corrected = correctedClassifier(CLASSIFIER, [{ start: 2, end: 4, alpha: 0.5, beta: -0.2 }]);
    const v = biasViews({ tasks: TASKS, logits: LOGITS, labels: LABELS, classifier: corrected });
    const norms = Array.from(v.classifier!.weightNorms);
    expect(norms[0]).toBeCloseTo(5);
    expect(norms[2]).toBeCloseTo(0.5);
    expect(norms[3]).toBeCloseTo(1);
    expect(v.classifier!.biases![2]).toBeCloseTo(0.05);
    expect(v.classifier!.biases![3]).toBeCloseTo(0.15);
    expect(Array.from(CLASSIFIER.weights)).toEqual([3, 0, 1, 2, 4, 1, 0, 0]); // input untouched
    expect(() => correctedClassifier(CLASSIFIER, [{ start: 2, end: 6, alpha: 1, beta: 0 }])).toThrow(/outside the 4 classes/);
  });
});

describe("kdcl's heads", () => {
  it('LinearHead: its weights and biases as they are', () => {
    const head = new LinearHead(3, 4, 7);
    const w = classifierWeights(head)!;
    expect(w.shape).toEqual([3, 4]);
    expect(Array.from(w.weights)).toEqual(Array.from(head.weights!.dataSync()));
    expect(Array.from(w.biases!)).toEqual(Array.from(head.biases!.dataSync()));
    head.dispose();
  });

  it('TaskHeads: every task head side by side', () => {
    const heads = new TaskHeads(3, [2, 3], 7);
    const w = classifierWeights(heads)!;
    expect(w.shape).toEqual([3, 5]);
    const expected = tf.tidy(() => tf.concat([heads.taskHead(0).weights!, heads.taskHead(1).weights!], 1).dataSync());
    expect(Array.from(w.weights)).toEqual(Array.from(expected));
    expect(Array.from(w.biases!)).toEqual([...heads.taskHead(0).biases!.dataSync(), ...heads.taskHead(1).biases!.dataSync()]);
    heads.dispose();
  });

  it('CosineHead: its weight blocks, no biases', () => {
    const head = new CosineHead(3, 2, 7);
    head.addClasses(2);
    const w = classifierWeights(head)!;
    expect(w.shape).toEqual([3, 4]);
    expect(w.biases).toBeNull();
    const expected = tf.tidy(() => tf.concat([...head.weightBlocks], 1).dataSync());
    expect(Array.from(w.weights)).toEqual(Array.from(expected));
    head.dispose();
  });

  it('an empty head gives null', () => {
    const head = new LinearHead(3, 0, 7);
    expect(classifierWeights(head)).toBeNull();
    head.dispose();
  });
});

/** A tiny dataset (4 classes, 8x8 images) and an untrained network, as a run's state after task 1. */
function fakeState(method: string, corrections: BiasCorrection[] = []): { state: RunState; dispose: () => void } {
  const pixels = 8 * 8 * 3;
  const count = 12;
  const labels = Int32Array.from({ length: count }, (_, i) => i % 4);
  const images = Uint8Array.from({ length: count * pixels }, (_, i) => (i * 37) % 251);
  const split = { images, labels, count, height: 8, width: 8, channels: 3 };
  const dataset = { name: 'toy', classNames: ['a', 'b', 'c', 'd'], train: split, test: split, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] } as unknown as ImageDataset;
  const backbone = createBackbone({ kind: 'resnet32', width: 0.25, blocksPerStage: 1 }, 3);
  const net = new Network(backbone, new LinearHead(backbone.featureDim, 4, 3));
  const state = {
    net,
    dataset,
    tasks: TASKS,
    completedTasks: 2,
    method: { name: method, config: { kd: true } },
    methodState: { bicCorrections: corrections },
  } as unknown as RunState;
  return { state, dispose: () => net.dispose() };
}

describe('from a run', () => {
  it('testScores: the network logits on the test images of the seen classes, tensor count flat', () => {
    const { state, dispose } = fakeState('finetune');
    const before = tf.memory().numTensors;
    const scores = testScores(state, { batchSize: 5 });
    expect(tf.memory().numTensors).toBe(before);
    expect(scores.labels.length).toBe(12);
    expect(scores.logits.length).toBe(12 * 4);
    // Same as one forward pass over the normalised images.
    const direct = tf.tidy(() => {
      const x = tf.div(tf.sub(tf.div(tf.tensor4d(state.dataset.test.images, [12, 8, 8, 3], 'float32'), 255), 0.5), 0.25) as tf.Tensor4D;
      return state.net.forward(x, { training: false }).logits.dataSync();
    });
    for (let i = 0; i < direct.length; i++) expect(scores.logits[i]).toBeCloseTo(direct[i], 4);
    const views = analyseRun(state, { batchSize: 5 });
    expect(views.model).toBe('finetune');
    expect(views.variant).toBe('raw logits');
    expect(views.classifier!.weightNorms.length).toBe(4);
    expect(() => bicBeforeAfter(state)).toThrow(/method is 'finetune'; bias correction is BiC's/);
    dispose();
  });

  it("bicBeforeAfter: BiC's corrected logits are applyCorrections of the raw ones", () => {
    const correction: BiasCorrection = { start: 2, end: 4, alpha: 0.25, beta: -1 };
    const { state, dispose } = fakeState('bic', [correction]);
    const before = tf.memory().numTensors;
    const [raw, corrected] = bicBeforeAfter(state);
    expect(tf.memory().numTensors).toBe(before);
    expect([raw.variant, corrected.variant]).toEqual(['raw logits', 'BiC-corrected']);
    const scores = testScores(state);
    const expected = tf.tidy(() => applyCorrections(tf.tensor2d(scores.logits, [12, 4]), [correction]).dataSync());
    const expectedViews = biasViews({ tasks: TASKS, logits: Float32Array.from(expected), labels: scores.labels });
    expect(corrected.confusion).toEqual(expectedViews.confusion);
    expect(corrected.meanLogits.new).toBeCloseTo(expectedViews.meanLogits.new, 5);
    expect(corrected.meanLogits.old).toBeCloseTo(raw.meanLogits.old, 5); // old classes are not corrected
    expect(corrected.classifier!.weightNorms[2]).toBeCloseTo(raw.classifier!.weightNorms[2] * 0.25, 5);
    expect(corrected.classifier!.biases![3]).toBeCloseTo(raw.classifier!.biases![3] * 0.25 - 1, 5);
    dispose();
  });

  it('refuses a run that has not learnt a task', () => {
    const { state, dispose } = fakeState('finetune');
    expect(() => testScores({ ...state, completedTasks: 0 } as RunState)).toThrow(/call `await run.trainTask\(\)` first/);
    dispose();
  });
});

describe('charts', () => {
  const first = biasViews({ tasks: [TASKS[0]], logits: Float32Array.from([2, 1, 0, 5, 1, 0, 3, 1]), labels: Int32Array.from([0, 1, 0, 1]), classifier: { ...CLASSIFIER, weights: Float32Array.from([3, 0, 4, 1]), shape: [2, 2], biases: Float32Array.from([0.1, 0.2]) } }, { model: 'toy', variant: 'raw logits' });
  const last = handMade();
  const corrected = biasViews({ tasks: TASKS, logits: LOGITS, labels: LABELS, classifier: correctedClassifier(CLASSIFIER, [{ start: 2, end: 4, alpha: 0.5, beta: -0.2 }]) }, { model: 'toy', variant: 'BiC-corrected' });

  it('long-form rows carry the counts, shares and old / new groups', () => {
    const cells = confusionRows([last]).filter((r) => r.kind === 'cell');
    expect(cells).toContainEqual({ kind: 'cell', panel: 'raw logits', task: 1, trueClass: 3, predictedClass: 0, trueTask: 1, predictedTask: 0, count: 1, share: 0.5 });
    expect(confusionRows([last]).filter((r) => r.kind === 'boundary')).toEqual([{ kind: 'boundary', panel: 'raw logits', task: 1, boundary: 2 }]);
    expect(taskHistogramRows([last]).map((r) => [r.sampleTask, r.predictedTask, r.count, r.share])).toEqual([
      [0, 0, 2, 0.5],
      [0, 1, 2, 0.5],
      [1, 0, 1, 0.25],
      [1, 1, 3, 0.75],
    ]);
    expect(classifierRows([last]).map((r) => r.group)).toEqual(['old', 'old', 'new', 'new']);
    expect(meanLogitRows([last]).map((r) => [r.classTask, r.group])).toEqual([
      [0, 'old'],
      [1, 'new'],
    ]);
    // Panels are named by what differs between the views.
    expect(new Set(taskHistogramRows([last, corrected]).map((r) => r.panel))).toEqual(new Set(['raw logits', 'BiC-corrected']));
  });

  it('one view: plain specs that compile and render to SVG', async () => {
    for (const { name, spec } of biasCharts([last])) {
      expect(() => vegaLite.compile(spec), name).not.toThrow();
      const svg = await renderSvg(spec);
      expect(svg, name).toMatch(/^<svg[^>]*class="marks"/);
    }
  });

  it('several tasks: a dropdown picks the task (default the latest or the one asked for)', async () => {
    const spec = taskHistogramChart([first, last], { task: 0 }) as { params: { name: string; value: number; bind: { input: string; options: number[] } }[] };
    expect(spec.params).toContainEqual({ name: 'afterTask', value: 0, bind: { input: 'select', options: [0, 1], name: 'after task ' } });
    expect((taskHistogramChart([first, last]) as { params: { name: string; value: number }[] }).params.find((p) => p.name === 'afterTask')?.value).toBe(1);
    expect(() => taskHistogramChart([first, last], { task: 5 })).toThrow(/task 5 is not among the views' tasks \(0, 1\)/);
    for (const { name, spec: s } of biasCharts([first, last, corrected])) {
      const svg = await renderSvg(s);
      expect(svg, name).toContain('<svg');
    }
  });

  it('several variants: one panel each, side by side', async () => {
    const spec = confusionChart([last, corrected]) as { facet?: { column: { field: string; sort: string[] } } };
    expect(spec.facet?.column.field).toBe('panel');
    expect(spec.facet?.column.sort).toEqual(['raw logits', 'BiC-corrected']);
    const svg = await renderSvg(classifierChart([last, corrected]));
    expect(svg).toContain('BiC-corrected');
    expect(() => classifierChart([biasViews({ tasks: TASKS, logits: LOGITS, labels: LABELS })])).toThrow(/none of the views has classifier statistics/);
  });

  it('the summary table has one row per view', () => {
    const table = biasSummaryTable([last, corrected]);
    expect(table.numRows()).toBe(2);
    expect(table.array('variant')).toEqual(['raw logits', 'BiC-corrected']);
  });
});

describe('run progress (accuracy matrix and forgetting, for the quickstart)', () => {
  // acc[t][j] after task t on task j's classes.
  const acc = [[0.8], [0.5, 0.7], [0.4, 0.3, 0.6]];
  const all = [0.8, 0.6, 0.43];
  const metrics = {
    steps: acc.map((perTask, t) => ({ task: t, perTask, accuracy: all[t] })),
    accuracyMatrix: acc,
    totalTasks: 3,
    aia: (0.8 + 0.6 + 0.43) / 3,
    last: 0.43,
  } as unknown as RunMetrics;

  it('accuracy matrix table: one row per step, a column per task and all seen, in percent', () => {
    const table = accuracyMatrixTable(metrics);
    expect(table.objects()).toEqual([
      { after: 'task 0', 'task 0 (%)': 80, 'task 1 (%)': null, 'task 2 (%)': null, 'all seen (%)': 80 },
      { after: 'task 1', 'task 0 (%)': 50, 'task 1 (%)': 70, 'task 2 (%)': null, 'all seen (%)': 60 },
      { after: 'task 2', 'task 0 (%)': 40, 'task 1 (%)': 30, 'task 2 (%)': 60, 'all seen (%)': 43 },
    ]);
  });

  it('forgetting per old task: best earlier accuracy minus now (FACIL)', () => {
    const rows = forgettingRows(metrics);
    expect(rows.map((r) => r.task)).toEqual([0, 1]);
    expect(rows[0].best).toBeCloseTo(0.8);
    expect(rows[0].now).toBeCloseTo(0.4);
    expect(rows[0].forgetting).toBeCloseTo(0.4);
    expect(rows[1].justLearnt).toBeCloseTo(0.7);
    expect(rows[1].forgetting).toBeCloseTo(0.4);
    expect(forgettingTable(metrics).array('forgetting (points)')).toEqual([40, 40]);
    expect(summaryTable(metrics).objects()[0]).toEqual({
      'tasks learnt': 3,
      'AIA (%)': 61,
      'last accuracy (%)': 43,
      'average forgetting (points)': 40,
      'BWT (points)': -40,
    });
  });

  it('charts compile and render', async () => {
    for (const spec of [accuracyMatrixChart(metrics), accuracyCurvesChart(metrics), forgettingChart(metrics)]) {
      expect(() => vegaLite.compile(spec)).not.toThrow();
      expect(await renderSvg(spec)).toMatch(/^<svg/);
    }
    const empty = { ...metrics, steps: [], accuracyMatrix: [] } as unknown as RunMetrics;
    expect(() => accuracyMatrixChart(empty)).toThrow(/no task learnt yet/);
  });
});

describe('in words', () => {
  it('describes and compares the lean towards the new classes from the numbers', () => {
    const v = handMade();
    expect(describeBias(v)).toBe(
      'toy (raw logits) after task 1: 63% of the test predictions are classes of the newest task, which hold 50% of the test samples; ' +
        'mean logit 1.63 on new classes against 1.38 on old ones; accuracy 75% on new classes, 50% on old ones.',
    );
    const corrected = { ...v, variant: 'BiC-corrected', newPredictionShare: 0.5 };
    expect(compareBias(v, corrected)).toMatch(/^After task 1, raw logits puts 63% of its predictions on the newest task's classes and BiC-corrected 50%, where 50% of the test samples belong: raw logits leans more/);
    expect(() => compareBias(v, { ...v, task: 0 })).toThrow(/after the same task/);
  });
});

describe('bias study', () => {
  it('trains small runs, records the views after every task (BiC also corrected), and reloads them from its cache', async () => {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-bias-study-'));
    try {
      const settings = { ...BIAS_STUDY_PRESETS.ci, classes: 6, tasks: 2, trainPerClass: 16, testPerClass: 4 };
      const models = [{ method: 'bic' }, { method: 'finetune', label: 'plain' }, { method: 'bic' }];
      const lines: string[] = [];
      const first = await runBiasStudy(models, { settings, cacheDir: cache, committedDir: false, log: (l) => lines.push(l) });
      expect(first.runs.map((r) => [r.label, r.cached])).toEqual([['BiC', false], ['plain', false]]); // BiC once
      const bic = first.run('bic');
      expect(bic.history.map((v) => [v.task, v.variant, v.seenClasses])).toEqual([[0, 'raw logits', 3], [1, 'raw logits', 6]]);
      expect(bic.corrected!.map((v) => v.variant)).toEqual(['BiC-corrected', 'BiC-corrected']);
      expect(first.run('plain').corrected).toBeNull();
      expect(first.run('finetune').label).toBe('plain');
      expect(() => first.run('lucir')).toThrow(/no run 'lucir'; runs: BiC \(bic\), plain \(finetune\)/);
      expect(lines.filter((l) => l.includes('task 1 done'))).toHaveLength(2);

      const again = await runBiasStudy([{ method: 'bic', label: 'BiC again' }], { settings, cacheDir: cache, committedDir: false, log: () => {} });
      expect(again.runs[0].cached).toBe(true);
      // Results committed with the repository are read without a cache, and a study never writes there.
      const committed = `${cache}-committed`;
      fs.cpSync(cache, committed, { recursive: true });
      const before = fs.readdirSync(committed).sort();
      const loaded: string[] = [];
      const fromRepo = await runBiasStudy([{ method: 'finetune' }], { settings, cacheDir: false, committedDir: committed, log: (l) => loaded.push(l) });
      expect(fromRepo.runs[0].cached).toBe(true);
      expect(loaded.join('\n')).toContain('loaded from');
      expect(fs.readdirSync(committed).sort()).toEqual(before);
      fs.rmSync(committed, { recursive: true, force: true });
      expect(again.runs[0].history.map((v) => v.model)).toEqual(['BiC again', 'BiC again']);
      expect(again.runs[0].corrected!.map((v) => v.confusion)).toEqual(bic.corrected!.map((v) => v.confusion));
      await expect(runBiasStudy([{ method: 'nope' }], { settings, cacheDir: false })).rejects.toThrow(/unknown method\(s\) nope; valid methods: .*bic/);
      expect(() => biasStudySettings({ KDCL_PROFILE: 'huge' })).toThrow(/unknown profile 'huge' \(KDCL_PROFILE\); valid: ci, smoke/);
    } finally {
      fs.rmSync(cache, { recursive: true, force: true });
    }
  }, 120_000);
});
