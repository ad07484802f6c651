/**
 * Experiments as data: every experiment, profile and run config validates against the methods' configs; unknown
 * names get the valid ones; the runner on a micro profile writes JSON / CSV / REPORT atomically, leaks no tensors
 * and resumes an interrupted run from its checkpoints; verdicts, tables and references behave.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowCpuSeconds } from '../kernel-lib/grid/cost';
import { tf } from '../kernel-lib/tf';
import { initBackend } from '../kernel-lib/backend/index';
import type { ImageDataset } from '../kernel-lib/data/types';
import { classColouredDataset } from './data-helpers';
import { createRun } from '../kernel-lib/train/index';
import { createReplayKd } from '../kernel-lib/methods/replay-kd';
import { createMethod, methodNames } from '../kernel-lib/methods/registry';
import {
  EXPERIMENTS,
  EXPERIMENT_NAMES,
  PROFILES,
  PROFILE_NAMES,
  REFERENCES,
  buildMethod,
  checkDatasetName,
  committedOutcome,
  experimentParameters,
  experimentTable,
  getExperiment,
  getProfile,
  markdownTable,
  readOutcome,
  runExperiment,
  runOptionsFor,
  runKd,
  runSettings,
  scaledMemoryOverrides,
  selectRuns,
  sliceDataset,
  validateExperiment,
  validateProfile,
  validateReferences,
  verdict,
  writeReport,
  type ExperimentDefinition,
  type Profile,
  type RunResult,
  backboneFor,
} from '../kernel-lib/experiments/index';


function syntheticDataset(classes = 20, perClassTrain = 6, perClassTest = 3, size = 8): ImageDataset {
  return classColouredDataset('synthetic-experiments', { classes, trainPerClass: perClassTrain, testPerClass: perClassTest, size },
    { offset: 30, multiplier: 53, range: 180, noise: 40 });
}

/** The ci profile cut further: a micro profile for runner tests. */
const MICRO: Profile = {
  ...PROFILES.ci,
  name: 'ci',
  classes: 20,
  trainPerClass: 4,
  testPerClass: 2,
  backbone: { kind: 'resnet32', width: 0.25, blocksPerStage: 1 },
  batchSize: 16,
};

/** Two runs of the standalone-KD experiment (soft-target CE and no KD). */
function microExperiment(): ExperimentDefinition {
  const base = EXPERIMENTS['standalone-kd'];
  return { ...base, runs: base.runs.filter((r) => r.labels.kdLoss === 'ce' || r.labels.kdLoss === 'none') };
}

const tmpDirs: string[] = [];
function tmp(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-exp-'));
  tmpDirs.push(dir);
  return dir;
}

function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: false }).map(String);
}

beforeAll(async () => {
  await initBackend({ log: false });
});

afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('experiments and profiles as data', () => {
  it('every experiment and profile validates', () => {
    for (const name of EXPERIMENT_NAMES) expect(validateExperiment(EXPERIMENTS[name]), name).toEqual([]);
    for (const name of PROFILE_NAMES) expect(validateProfile(PROFILES[name]), name).toEqual([]);
  });

  it('the experiments have the survey layouts', () => {
    const main = EXPERIMENTS['main-comparison'];
    expect(main.runs.filter((r) => r.role === 'method')).toHaveLength(20); // 10 methods x 2 scenarios
    expect(new Set(main.runs.map((r) => r.scenario))).toEqual(new Set(['b0-10', 'b50-10']));
    const removal = EXPERIMENTS['kd-removal'];
    expect(removal.runs.filter((r) => !runKd(r)).map((r) => r.config)).toEqual(Array(10).fill({ kd: false }));
    const standalone = EXPERIMENTS['standalone-kd'];
    expect(standalone.runs.map((r) => r.labels.kdLoss)).toEqual(['ce', 'kl', 'logit-l2', 'feature-l2', 'feature-cosine', 'none']);
    expect(standalone.runs.every((r) => r.method === 'lwf' && r.config.heads === 'per-task')).toBe(true);
    const replay = EXPERIMENTS['replay-softmax'];
    expect(replay.runs).toHaveLength(12);
    expect(replay.runs.every((r) => r.method === 'replay-kd')).toBe(true);
  });

  it("every run's method config validates at every profile (profile overrides and memory scaling included)", () => {
    const dataset = syntheticDataset();
    for (const experiment of Object.values(EXPERIMENTS)) {
      for (const spec of experiment.runs) {
        for (const profile of Object.values(PROFILES)) {
          const method = buildMethod(spec, profile, profile.classes ?? 100);
          expect(method.name).toBe(spec.method);
          expect((method.config as { kd: boolean }).kd).toBe(runKd(spec));
          // createRun's options resolve too (backbone, optimiser and schedule specs).
          const options = runOptionsFor(spec, 1993, profile, 'embedded', dataset);
          expect(options.backbone.kind).toBeTruthy();
        }
      }
    }
  });

  it('unknown experiment, profile, dataset and method names get the list of valid names', async () => {
    expect(() => getExperiment('table-9')).toThrow(/valid experiments: main-comparison, kd-removal, standalone-kd, replay-softmax/);
    expect(() => getProfile('huge')).toThrow(/valid profiles: ci, smoke, quick, standard, paper/);
    expect(() => checkDatasetName('mnist')).toThrow(/valid datasets: embedded, cifar100, tiny-imagenet, imagenet100/);
    expect(() => selectRuns(EXPERIMENTS['main-comparison'], { methods: ['ewc'] })).toThrow(/unknown method 'ewc'.*valid methods: lwf, lwm/);
    expect(() => selectRuns(EXPERIMENTS['kd-removal'], { scenarios: ['b50-10'] })).toThrow(/valid scenarios: b0-10/);
    const custom = { ...microExperiment(), runs: [{ ...microExperiment().runs[0], method: 'no-such-method' }] };
    await expect(runExperiment({ experiment: custom, profile: MICRO, preloaded: syntheticDataset(), outDir: tmp(), verbosity: 'none' })).rejects.toThrow(
      /unknown method\(s\) 'no-such-method'; valid methods: .*lwf/,
    );
    expect(() => experimentParameters({ KDCL_PROFILE: 'nope' })).toThrow(/valid profiles/);
    expect(() => experimentParameters({ KDCL_DATASET: 'svhn' })).toThrow(/valid datasets/);
  });

  it('a missing data folder gets instructions', async () => {
    await expect(
      runExperiment({ experiment: microExperiment(), profile: MICRO, dataset: 'tiny-imagenet', dataDir: '/nonexistent/tiny', outDir: tmp(), verbosity: 'none' }),
    ).rejects.toThrow(/does not exist\n  how to get 'tiny-imagenet': Download tiny-imagenet-200\.zip/);
  });

  it('notebook parameters come from the environment with defaults: committed standard results, or training with KDCL_RETRAIN=1', () => {
    expect(experimentParameters({})).toEqual({ retrain: false, profile: 'standard', dataset: 'embedded', resume: true });
    expect(experimentParameters({ KDCL_RETRAIN: '1' })).toEqual({ retrain: true, profile: 'smoke', dataset: 'embedded', resume: true });
    expect(
      experimentParameters({ KDCL_RETRAIN: '1', KDCL_PROFILE: 'paper', KDCL_DATASET_DIR: '/d', KDCL_OUT: '/o', KDCL_METHODS: 'bic, lwf', KDCL_FRESH: '1' }),
    ).toEqual({ retrain: true, profile: 'paper', dataset: 'cifar100', dataDir: '/d', outDir: '/o', methods: ['bic', 'lwf'], resume: false });
  });

  it('committed results: read from the profile\'s store, or an error that says how to get them', () => {
    expect(() => committedOutcome('main-comparison', { profile: 'quick', dataset: 'embedded' })).toThrow(
      /no committed quick results for main-comparison on embedded \(.*reproductions\/results\/quick\/embedded\/main-comparison\/results\.json\): set KDCL_RETRAIN=1 to train here, or run its grid and `npm run grid -- merge/,
    );
    const outcome = committedOutcome('main-comparison', { profile: 'standard', dataset: 'embedded' });
    expect(outcome.results.profile).toBe('standard');
    expect(outcome.results.runs.length).toBeGreaterThan(0);
    expect(outcome.results.runs.every((r) => r.experiment === 'main-comparison')).toBe(true);
  });

  it('memory budgets scale with the profile (per class and total, totals also below 100 classes)', () => {
    expect(scaledMemoryOverrides({ memory: { selection: 'herding', total: 2000 } }, 1, 100)).toEqual({});
    expect(scaledMemoryOverrides({ memory: { selection: 'herding', total: 2000 } }, 0.25, 100)).toEqual({ memory: { selection: 'herding', total: 500 } });
    expect(scaledMemoryOverrides({ memoryTotal: 2000, memoryPerClass: null }, 0.25, 20)).toEqual({ memoryTotal: 100 });
    expect(scaledMemoryOverrides({ memoryPerClass: 20 }, 0.25, 20)).toEqual({ memoryPerClass: 5 });
    expect(scaledMemoryOverrides({ memory: { selection: 'herding', perClass: 20 } }, 0.01, 100)).toEqual({ memory: { selection: 'herding', perClass: 1 } });
    const bic = buildMethod(EXPERIMENTS['main-comparison'].runs.find((r) => r.method === 'bic')!, PROFILES.smoke, 100);
    expect(bic.memory).toEqual({ selection: 'herding', total: 2000 * PROFILES.smoke.memoryScale });
  });

  it("methods' recipes apply as the profile says", () => {
    const settings = (profile: Profile, name: string) => runSettings(profile, createMethod(name), profile.backbone);
    const pass = settings(PROFILES.smoke, 'pass');
    expect(pass.optimizer).toEqual({ kind: 'adam', lr: 0.001, weightDecay: 2e-4 });
    expect(pass.initOptimizer).toEqual(pass.optimizer);
    expect(pass.epochs).toBe(PROFILES.smoke.epochs);
    expect(pass.batchSize).toBe(PROFILES.smoke.batchSize);
    expect(settings(PROFILES.smoke, 'bic').optimizer).toEqual(PROFILES.smoke.optimizer);
    const lucirPaper = settings(PROFILES.paper, 'lucir');
    expect([lucirPaper.initEpochs, lucirPaper.epochs]).toEqual([160, 160]);
    expect(lucirPaper.backbone).toMatchObject({ kind: 'resnet32', lastRelu: false, shortcut: 'projection' });
    // LUCIR's architectural needs apply in small profiles too; the width stays the profile's.
    expect(settings(PROFILES.smoke, 'lucir').backbone).toMatchObject({ width: PROFILES.smoke.backbone.width, lastRelu: false });
    expect(settings(PROFILES.paper, 'bic')).toMatchObject({ initEpochs: 200, epochs: 80 });
    // SS-IL keeps its momentum across tasks in every profile: how the method trains, not a budget (issue 15).
    for (const profile of Object.values(PROFILES)) expect(settings(profile, 'ssil').resetOptimizerEachTask).toBe(false);
    expect(settings(PROFILES.standard, 'bic').resetOptimizerEachTask).toBe(true);
    // PASS / IL2A / PRAKA: their ResNet-18 (CIFAR stem) in the paper profile; the reduced profiles' ResNet-32.
    for (const m of ['pass', 'il2a', 'praka']) {
      expect(settings(PROFILES.paper, m).backbone.kind).toBe('resnet18-cifar');
      expect(settings(PROFILES.standard, m).backbone).toEqual(PROFILES.standard.backbone);
      expect(runSettings(PROFILES.paper, createMethod(m), backboneFor(PROFILES.paper, 'imagenet100')).backbone.kind).toBe('resnet18-imagenet');
    }
    expect(settings(PROFILES.paper, 'bic').backbone.kind).toBe('resnet32');
  });

  it("attaches every method's exported recipe to the method, with its source", () => {
    const dir = path.join(__dirname, '..', 'kernel-lib', 'methods');
    const exported = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => [...fs.readFileSync(path.join(dir, f), 'utf8').matchAll(/export const ([A-Z0-9]+)_RECIPE\b/g)].map((m) => m[1].toLowerCase()));
    expect(exported.length).toBeGreaterThan(0);
    const withRecipe = methodNames().filter((name) => createMethod(name).recipe);
    expect(withRecipe.sort()).toEqual([...new Set(exported)].sort());
    for (const name of withRecipe) expect(createMethod(name).recipe!.source.length, name).toBeGreaterThan(40);
  });

  it("slices a dataset to the profile's classes and images per class", () => {
    const ds = syntheticDataset(40, 6, 3);
    const sliced = sliceDataset(ds, { classes: 20, trainPerClass: 4, testPerClass: 2 });
    expect(sliced.classNames).toHaveLength(20);
    expect(sliced.train.count).toBe(80);
    expect(sliced.test.count).toBe(40);
    const counts = new Map<number, number>();
    for (const y of sliced.train.labels) counts.set(y, (counts.get(y) ?? 0) + 1);
    expect([...counts.values()].every((n) => n === 4)).toBe(true);
    // The kept images are the first of each class, unchanged.
    const pixel = 8 * 8 * 3;
    expect(Array.from(sliced.train.images.subarray(0, pixel))).toEqual(Array.from(ds.train.images.subarray(0, pixel)));
  });
});

describe('replay-kd method', () => {
  it('validates its config and keeps 20 herding exemplars per class by default', () => {
    const m = createReplayKd();
    expect(m.memory).toEqual({ selection: 'herding', perClass: 20 });
    expect(m.kdTerms).toEqual(['kd']);
    expect(() => createReplayKd({ softmax: 'local' as never })).toThrow(/replay-kd: softmax: Invalid option: expected one of "global"\|"separated" \(got "local"\)/);
    expect(() => createReplayKd({ kdLoss: 'attention' as never })).toThrow(/replay-kd: kdLoss: Invalid option: expected one of .*\(got "attention"\)/);
    expect(() => createMethod('replay-kd', { memoryPerClass: 0 })).toThrow(/replay-kd: memoryPerClass: Too small: expected number to be >0 \(got 0\)/);
  });

  it('trains two tasks under each softmax with the KD term exactly 0 when KD is off', async () => {
    const dataset = syntheticDataset(4, 4, 2);
    for (const softmax of ['global', 'separated'] as const) {
      for (const kd of [true, false]) {
        const before = tf.memory().numTensors;
        const run = await createRun({
          dataset,
          scenario: { initial: 2, increment: 2 },
          method: createReplayKd({ softmax, kdLoss: 'kl', kd, memoryPerClass: 2 }),
          backbone: MICRO.backbone,
          seed: 3,
          epochs: 1,
          batchSize: 8,
          quiet: true,
        });
        await run.trainTask();
        const second = await run.trainTask();
        expect(second.replayImages).toBe(4); // 2 old classes x 2 exemplars
        expect(Number.isFinite(second.terms.ce)).toBe(true);
        if (kd) expect(second.terms.kd).toBeGreaterThan(0);
        else expect(second.terms.kd).toBe(0);
        run.dispose();
        expect(tf.memory().numTensors).toBe(before);
      }
    }
  }, 120_000);
});

describe('runner', () => {
  it('runs an experiment, writes JSON / CSV / REPORT atomically, leaks no tensors, and resumes', async () => {
    const dataset = syntheticDataset();
    const outDir = tmp();
    const experiment = microExperiment();
    const events: string[] = [];

    // An interrupted run: 3 of 10 tasks of the first run, checkpointed where the runner keeps them.
    const first = experiment.runs[0];
    const partial = await createRun({
      ...runOptionsFor(first, MICRO.seeds[0], MICRO, 'embedded', dataset),
      checkpointDir: path.join(outDir, 'checkpoints', `${first.id}_s${MICRO.seeds[0]}`),
      quiet: true,
    });
    for (let t = 0; t < 3; t++) await partial.trainTask();
    partial.dispose();

    const outcome = await runExperiment({
      experiment,
      profile: MICRO,
      preloaded: dataset,
      outDir,
      verbosity: 'none',
      onEvent: (e) => events.push(e.type),
    });
    expect(outcome.results.runs.map((r) => r.status)).toEqual(['done', 'done']);
    const [resumed, fresh] = outcome.results.runs;
    expect(resumed.resumedTasks).toBe(3);
    expect(fresh.resumedTasks).toBe(0);
    expect(resumed.accuracies).toHaveLength(10);
    // Each task's CPU seconds survive the resume (checkpointed), so the row's whole cost is known.
    expect(resumed.taskCpuSeconds).toHaveLength(10);
    expect(resumed.taskCpuSeconds!.every((x) => typeof x === 'number' && x > 0)).toBe(true);
    expect(rowCpuSeconds(resumed)).toBeCloseTo(resumed.cpuSeconds + resumed.taskCpuSeconds!.slice(0, 3).reduce((a, x) => a! + x!, 0)!, 6);
    expect(events.filter((e) => e === 'run-end')).toHaveLength(2);
    expect(events.filter((e) => e === 'task-end')).toHaveLength(7 + 10);

    // The resumed run's numbers equal an uninterrupted run's; a fresh experiment leaves no tensor behind.
    // (Not checked across resumes: the trainer's checkpoint decoding leaks one tensor per weight, reported.)
    const tensorsBefore = tf.memory().numTensors;
    const uninterrupted = await runExperiment({
      experiment: { ...experiment, runs: [first] },
      profile: MICRO,
      preloaded: dataset,
      outDir: tmp(),
      verbosity: 'none',
    });
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(uninterrupted.results.runs[0].accuracyMatrix).toEqual(resumed.accuracyMatrix);

    // Files: parseable, complete, no temporary files left behind.
    const json = JSON.parse(fs.readFileSync(outcome.files.json, 'utf8'));
    expect(json.kind).toBe('kdcl-experiment-results');
    expect(json.runs).toHaveLength(2);
    const csv = fs.readFileSync(outcome.files.csv, 'utf8').trim().split('\n');
    expect(csv[0]).toMatch(/^run,method,scenario,kd,kdLoss,seed,status,aia,last/);
    expect(csv).toHaveLength(3);
    expect(fs.readFileSync(outcome.files.curves, 'utf8').trim().split('\n')).toHaveLength(1 + 20);
    const { report, figures } = await writeReport(outcome, { executedBy: 'test' });
    const markdown = fs.readFileSync(report, 'utf8');
    expect(markdown).toContain('# KD losses on their own');
    expect(markdown).toContain(`**Verdict:** ${outcome.verdict}`);
    expect(markdown).toContain('| KD loss | AIA | Last | Forgetting |');
    for (const f of figures) expect(fs.readFileSync(f, 'utf8')).toMatch(/^<svg/);
    expect(listFiles(outDir).filter((f) => /\.tmp-/.test(f))).toEqual([]);

    // A rerun finds every run finished (by its result file, before any checkpoint is read): nothing trains, and
    // results.json keeps each run's record as its training session wrote it (times, resumed tasks).
    const starts: number[] = [];
    const again = await runExperiment({
      experiment, profile: MICRO, preloaded: dataset, outDir, verbosity: 'none',
      onEvent: (e) => {
        if (e.type === 'run-start') starts.push(e.resumedTasks);
        expect(e.type).not.toBe('task-end');
      },
    });
    expect(starts).toEqual([10, 10]);
    expect(again.results.runs.map((r) => r.resumedTasks)).toEqual([3, 0]);
    expect(again.results.runs.map((r) => [r.seconds, r.cpuSeconds])).toEqual(outcome.results.runs.map((r) => [r.seconds, r.cpuSeconds]));
    expect(again.results.runs.map((r) => r.accuracyMatrix)).toEqual(outcome.results.runs.map((r) => r.accuracyMatrix));
    const reread = readOutcome(outDir);
    expect(reread.results.runs).toEqual(again.results.runs);
    expect(reread.verdict).toBe(again.verdict);

    // resume: false starts over.
    const over = await runExperiment({ experiment: { ...experiment, runs: [first] }, profile: MICRO, preloaded: dataset, outDir, verbosity: 'none', resume: false });
    expect(over.results.runs[0].resumedTasks).toBe(0);
  }, 300_000);
});

describe('tables, verdicts and references', () => {
  const result = (over: Partial<RunResult>): RunResult => ({
    id: 'x_s1', specId: 'x', experiment: 'main-comparison', method: 'lwf', scenario: 'b0-10', kd: true, labels: {}, role: 'method',
    seed: 1, status: 'done', aia: 0.5, last: 0.4, forgetting: 0.1, bwt: -0.1, accuracies: [0.6, 0.4], seenClasses: [10, 20],
    accuracyMatrix: [[0.6], [0.3, 0.5]], primary: 'cnn', cnn: null, methodConfig: {}, training: {},
    scenarioShape: { numClasses: 100, initial: 10, increment: 10, tasks: 10 }, configHash: '', seconds: 1, cpuSeconds: 1, trainSeconds: 1, resumedTasks: 0,
    ...over,
  });
  const main = getExperiment('main-comparison');

  it('main comparison: checks whether BiC is best in b0-10', () => {
    const runs = [
      result({ specId: 'bic_b0-10', method: 'bic', labels: { method: 'bic' }, aia: 0.6 }),
      result({ specId: 'lwf_b0-10', method: 'lwf', labels: { method: 'lwf' }, aia: 0.4 }),
      result({ specId: 'ssil_b0-10', method: 'ssil', labels: { method: 'ssil' }, aia: 0.5 }),
    ];
    expect(verdict(main, runs)).toBe('Our run agrees with the claim: BiC has the best b0-10 AIA of the 3 methods that finished (60.0%).');
    runs[2].aia = 0.7;
    expect(verdict(main, runs)).toBe(
      'Our run does not agree with the claim: in b0-10 the best AIA of the 3 methods that finished is SS-IL (70.0%), and BiC ranks 2 (60.0%).',
    );
    expect(verdict(main, [])).toMatch(/cannot be checked/);
  });

  it('kd-removal: counts the methods that lose accuracy without KD; the table shows the change', () => {
    const exp = getExperiment('kd-removal');
    const runs = [
      result({ specId: 'lwf_b0-10', method: 'lwf', labels: { method: 'lwf' }, aia: 0.5 }),
      result({ specId: 'lwf_no-kd_b0-10', method: 'lwf', kd: false, labels: { method: 'lwf' }, aia: 0.3, last: 0.2 }),
      result({ specId: 'bic_b0-10', method: 'bic', labels: { method: 'bic' }, aia: 0.5 }),
      result({ specId: 'bic_no-kd_b0-10', method: 'bic', kd: false, labels: { method: 'bic' }, aia: 0.55 }),
    ];
    expect(verdict(exp, runs)).toBe('Our run does not agree with the claim: removing KD lowered AIA for 1 of 2 methods (mean change −7.5 points).');
    const rows = experimentTable(exp, runs).objects() as Record<string, unknown>[];
    expect(rows.find((r) => r.Method === 'LwF')).toMatchObject({ 'KD AIA': 50, 'no KD AIA': 30, ΔAIA: -20, ΔLast: -20 });
    expect(rows.find((r) => r.Method === 'PASS')).toMatchObject({ 'KD AIA': null, ΔAIA: null });
    expect(markdownTable(experimentTable(exp, runs)).split('\n')[0]).toBe('| Method | KD AIA | KD Last | no KD AIA | no KD Last | ΔAIA | ΔLast |');
  });

  it('kd-removal table with a grid still running: the change is paired by seed, and a Seeds column says what each cell averages', () => {
    const exp = getExperiment('kd-removal');
    const lwf = (kd: boolean, seed: number, aia: number) =>
      result({ id: `lwf${kd ? '' : '_no-kd'}_b0-10_s${seed}`, specId: kd ? 'lwf_b0-10' : 'lwf_no-kd_b0-10', method: 'lwf', kd, labels: { method: 'lwf' }, seed, aia, last: aia });
    // KD at seeds 1 and 2 (AIA 50, 40), no KD at seed 1 only (45): paired change -5, not 45 - mean(50, 40) = 0.
    const runs = [lwf(true, 1, 0.5), lwf(true, 2, 0.4), lwf(false, 1, 0.45)];
    const rows = experimentTable(exp, runs).objects() as Record<string, unknown>[];
    expect(rows.find((r) => r.Method === 'LwF')).toMatchObject({ 'KD AIA': 45, 'no KD AIA': 45, ΔAIA: -5, ΔLast: -5, Seeds: 'KD 2, no KD 1' });
    expect(rows.find((r) => r.Method === 'PASS')).toMatchObject({ ΔAIA: null, Seeds: null });
    // Every cell on the same seeds: no Seeds column.
    const complete = experimentTable(exp, [lwf(true, 1, 0.5), lwf(false, 1, 0.45)]).columnNames();
    expect(complete).not.toContain('Seeds');
  });

  it('replay-softmax: compares the mean KD gain under each softmax', () => {
    const exp = getExperiment('replay-softmax');
    const mk = (softmax: string, kdLoss: string, aia: number) =>
      result({ specId: `replay_${softmax}_${kdLoss}`, method: 'replay-kd', kd: kdLoss !== 'none', labels: { softmax, kdLoss }, aia });
    const runs = [mk('global', 'none', 0.4), mk('global', 'kl', 0.45), mk('separated', 'none', 0.4), mk('separated', 'kl', 0.5)];
    expect(verdict(exp, runs)).toBe(
      'Our run agrees with the claim: on top of replay, KD changes AIA by +5.0 points on average under the global softmax and by +10.0 points under the separated softmax.',
    );
    const header = experimentTable(exp, runs).columnNames();
    expect(header).toEqual(['KD loss', 'Global AIA', 'Global Last', 'Separated AIA', 'Separated Last']);
  });

  it('every reference number is a cited percentage with a metric and a CIFAR-100 split that adds up', () => {
    expect(validateReferences()).toEqual([]);
    for (const r of REFERENCES) {
      expect(['aia', 'last']).toContain(r.metric);
      expect(r.citation.length).toBeGreaterThan(20);
      if (r.dataset === 'cifar100') expect((100 - r.scenario.initial) % r.scenario.increment).toBe(0);
    }
  });
});
