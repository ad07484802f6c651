/**
 * Runs an experiment: its runs one after another, each with per-task checkpoints under the output folder (an
 * interrupted experiment resumes where it stopped), then writes the results as JSON and CSV (atomically) and
 * returns them with arquero tables.
 *
 *   const outcome = await runExperiment({ experiment: 'main-comparison', profile: 'smoke' });
 *   displayHtml(outcome.table.toHTML());
 *
 * Output folder (default reproductions/runs/<experiment>-<profile>-<dataset>/):
 *   checkpoints/<run>/task-NNN.kdcl   latest checkpoint of each run (createRun's resume format)
 *   runs/<run>.json                   each finished run's result
 *   results.json, results.csv         every run of the experiment; curves.csv: accuracy after each task
 *   run.log                           the progress lines of every session
 */
import fs from 'node:fs';
import path from 'node:path';
import type * as aq from 'arquero';
import { backendInfo, initBackend } from '../backend/index';
import type { ImageDataset } from '../data/types';
import { repoRoot } from '../paths';
import { removeStaleTempFiles, writeFileAtomic } from '../train/checkpoint';
import { curvesTable, experimentTable, runsTable, verdict } from './analysis';
import { loadExperimentDataset, type DatasetLoader } from './dataset';
import { getExperiment, selectRuns, type ExperimentDefinition, type RunSpec } from './experiments';
import { checkDatasetName, getProfile, validateProfile, type DatasetName, type Profile } from './profiles';
import type { ExperimentResults, RunResult } from './results';
import { runFiles, runOne } from './run-one';
import { experimentRunSpecs } from './runner-options';
export { buildMethod, runOptionsFor, scaledMemoryOverrides } from './runner-options';

export type { ExperimentResults, RunResult } from './results';

export type RunnerEvent =
  | { type: 'run-start'; index: number; total: number; run: RunSpec; seed: number; resumedTasks: number; tasks: number }
  | { type: 'task-end'; index: number; total: number; run: RunSpec; seed: number; task: number; tasks: number; accuracy: number; seconds: number }
  | { type: 'run-end'; index: number; total: number; result: RunResult };

export interface RunExperimentOptions {
  experiment: string | ExperimentDefinition;
  /** Profile name or object. Default 'smoke'. */
  profile?: string | Profile;
  /** Default: the profile's dataset. */
  dataset?: string;
  dataDir?: string;
  /** Output folder. Default reproductions/runs/<experiment>-<profile>-<dataset>. */
  outDir?: string;
  /** Only these methods / scenarios of the experiment. */
  methods?: string[];
  scenarios?: string[];
  /** Resume from checkpoints (default true). `false` deletes the experiment's checkpoints and results first. */
  resume?: boolean;
  /**
   * Console output: 'runs' (a line per run), 'tasks' (also a line per task; default), 'epochs' (the trainer's
   * own progress display too), or 'none'.
   */
  verbosity?: 'none' | 'runs' | 'tasks' | 'epochs';
  onEvent?: (event: RunnerEvent) => void;
  /** The dataset loader (default kernel-lib/data's loadDataset), or an already loaded dataset (tests). */
  loader?: DatasetLoader;
  preloaded?: ImageDataset;
}

export interface ExperimentOutcome {
  experiment: ExperimentDefinition;
  profile: Profile;
  dataset: DatasetName;
  outDir: string;
  results: ExperimentResults;
  /** The experiment's table (survey layout), one row per run, and accuracy after each task. */
  table: aq.ColumnTable;
  runsTable: aq.ColumnTable;
  curves: aq.ColumnTable;
  /** One sentence: does our run agree with the claim the experiment checks? */
  verdict: string;
  files: { json: string; csv: string; curves: string };
}

/** The default output folder of an experiment at a profile and dataset. */
export function defaultOutDir(experiment: string, profile: string, dataset: string): string {
  return path.join(repoRoot(), 'reproductions', 'runs', `${experiment}-${profile}-${dataset}`);
}

function writeTextAtomic(file: string, text: string): void {
  writeFileAtomic(file, new TextEncoder().encode(text));
}

const pct = (x: number | null) => (x === null ? '  n/a' : `${(100 * x).toFixed(1)}%`);

function safeBackend(): string {
  try {
    return backendInfo().name;
  } catch {
    return 'unknown';
  }
}

/** Runs (or resumes) every run of an experiment and writes its results. */
export async function runExperiment(options: RunExperimentOptions): Promise<ExperimentOutcome> {
  const started = Date.now();
  const cpuAtStart = process.cpuUsage();
  const experiment = typeof options.experiment === 'string' ? getExperiment(options.experiment) : options.experiment;
  const profile = typeof options.profile === 'object' ? options.profile : getProfile(options.profile ?? 'smoke');
  const problems = validateProfile(profile);
  if (problems.length) throw new Error(`invalid profile:\n  ${problems.join('\n  ')}`);
  const datasetName = checkDatasetName(options.dataset ?? profile.dataset);
  const specs = experimentRunSpecs(experiment, profile, { methods: options.methods, scenarios: options.scenarios });
  const excluded = [...new Set(selectRuns(experiment, options).filter((s) => !specs.includes(s)).map((s) => s.method))];

  const outDir = path.resolve(options.outDir ?? defaultOutDir(experiment.name, profile.name, datasetName));
  removeStaleTempFiles(outDir);
  const verbosity = options.verbosity ?? 'tasks';
  if (options.resume === false) {
    for (const sub of ['checkpoints', 'runs', 'run.log']) fs.rmSync(path.join(outDir, sub), { recursive: true, force: true });
  }
  fs.mkdirSync(outDir, { recursive: true });
  // Every progress line also goes to run.log (followed by `npm run reproduce` while a notebook runs headlessly).
  const logFile = path.join(outDir, 'run.log');
  const say = (line: string, level: 'runs' | 'tasks' = 'runs') => {
    fs.appendFileSync(logFile, `${line}\n`);
    if (verbosity === 'none' || (level === 'tasks' && verbosity === 'runs')) return;
    console.log(line);
  };

  // Idempotent: a notebook or test that picked a backend keeps it.
  await initBackend({ log: verbosity !== 'none' });
  const dataset = options.preloaded ?? (await loadExperimentDataset(datasetName, profile, { dataDir: options.dataDir, loader: options.loader }));
  const total = specs.length * profile.seeds.length;
  say(
    `[kdcl] ${experiment.name} (${experiment.surveyTable}), profile ${profile.name}, dataset ${datasetName} ` +
      `(${dataset.classNames.length} classes, ${dataset.train.count} train / ${dataset.test.count} test images), ${total} runs -> ${outDir}` +
      (excluded.length ? ` (left out at this profile: ${excluded.join(', ')})` : ''),
  );

  const collect = (): ExperimentResults => ({
    kind: 'kdcl-experiment-results',
    version: 1,
    experiment: experiment.name,
    surveyTable: experiment.surveyTable,
    profile: profile.name,
    dataset: datasetName,
    backend: safeBackend(),
    createdAt: new Date().toISOString(),
    seconds: (Date.now() - started) / 1000,
    cpuSeconds: (() => {
      const used = process.cpuUsage(cpuAtStart);
      return (used.user + used.system) / 1e6;
    })(),
    profileSettings: profile,
    datasetShape: {
      classes: dataset.classNames.length,
      trainImages: dataset.train.count,
      testImages: dataset.test.count,
      imageSize: [dataset.train.height, dataset.train.width],
    },
    excluded,
    // Every run of the experiment recorded on disk, whichever session or worker ran it.
    runs: recordedRuns(outDir, experiment, profile.seeds, say),
  });
  let index = 0;
  for (const spec of specs) {
    for (const seed of profile.seeds) {
      index++;
      const runName = `${spec.id}_s${seed}`;
      const outcome = await runOne({
        spec, seed, experiment: experiment.name, profile, datasetName, dataset, outDir,
        trainerProgress: verbosity === 'epochs',
        say,
        onStart: ({ resumedTasks, tasks, finishedEarlier }) => {
          options.onEvent?.({ type: 'run-start', index, total, run: spec, seed, resumedTasks, tasks });
          say(`[${index}/${total}] ${runName}${finishedEarlier ? ' (finished earlier)' : resumedTasks ? ` (resumed: ${resumedTasks}/${tasks} tasks done)` : ''}`);
        },
        onTaskEnd: (event) => {
          options.onEvent?.({ type: 'task-end', index, total, run: spec, seed, task: event.task, tasks: event.tasks, accuracy: event.accuracy, seconds: event.seconds });
          say(`    task ${event.task + 1}/${event.tasks}: accuracy ${pct(event.accuracy)} (${event.seconds.toFixed(1)} s)`, 'tasks');
        },
      });
      if (outcome.kind === 'skipped') {
        say(`[${index}/${total}] ${runName}: skipped, ${outcome.reason}`);
        continue;
      }
      const result = outcome.result;
      // results.json grows run by run, so an interrupted experiment still shows what finished.
      writeResults(outDir, collect());
      options.onEvent?.({ type: 'run-end', index, total, result });
      if (result.status === 'done') say(`    ${runName}: AIA ${pct(result.aia)}, last ${pct(result.last)} (${result.seconds.toFixed(0)} s, ${result.cpuSeconds.toFixed(0)} CPU s)`);
    }
  }

  const experimentResults = collect();
  const files = writeResults(outDir, experimentResults);
  return outcomeOf(experiment, profile, datasetName, outDir, experimentResults, files);
}

/**
 * The recorded result of every run of the experiment (all its specs and seeds) found under `outDir/runs`, in the
 * experiment's order. A file that cannot be read is left out, and `say` reports it.
 */
export function recordedRuns(outDir: string, experiment: ExperimentDefinition, seeds: number[], say: (line: string) => void): RunResult[] {
  const runs: RunResult[] = [];
  for (const spec of experiment.runs) {
    for (const seed of seeds) {
      const file = runFiles(outDir, `${spec.id}_s${seed}`).result;
      if (!fs.existsSync(file)) continue;
      try {
        const result = JSON.parse(fs.readFileSync(file, 'utf8')) as RunResult;
        if (result.specId !== spec.id || result.seed !== seed || !Array.isArray(result.accuracies)) throw new Error('not this run\'s record');
        runs.push(result);
      } catch (err) {
        say(`    left out of results.json: ${file} is unreadable (${(err as Error).message})`);
      }
    }
  }
  return runs;
}

/** Writes results.json, results.csv and curves.csv atomically; returns their paths. */
export function writeResults(outDir: string, results: ExperimentResults): ExperimentOutcome['files'] {
  const files = {
    json: path.join(outDir, 'results.json'),
    csv: path.join(outDir, 'results.csv'),
    curves: path.join(outDir, 'curves.csv'),
  };
  writeTextAtomic(files.json, JSON.stringify(results, null, 1));
  writeTextAtomic(files.csv, runsTable(results.runs).toCSV());
  writeTextAtomic(files.curves, curvesTable(results.runs).toCSV());
  return files;
}

function outcomeOf(
  experiment: ExperimentDefinition,
  profile: Profile,
  dataset: DatasetName,
  outDir: string,
  results: ExperimentResults,
  files: ExperimentOutcome['files'],
): ExperimentOutcome {
  return {
    experiment,
    profile,
    dataset,
    outDir,
    results,
    table: experimentTable(experiment, results.runs),
    runsTable: runsTable(results.runs),
    curves: curvesTable(results.runs),
    verdict: verdict(experiment, results.runs),
    files,
  };
}

/** Reads an experiment's results.json back (e.g. after a headless notebook run) as an outcome. */
export function readOutcome(outDir: string): ExperimentOutcome {
  const file = path.join(outDir, 'results.json');
  if (!fs.existsSync(file)) throw new Error(`no results in ${outDir} (expected ${file}); run the experiment first`);
  const results = JSON.parse(fs.readFileSync(file, 'utf8')) as ExperimentResults;
  if (results.kind !== 'kdcl-experiment-results') throw new Error(`${file} is not a kdcl experiment results file`);
  const experiment = getExperiment(results.experiment);
  return outcomeOf(experiment, results.profileSettings, checkDatasetName(results.dataset), outDir, results, {
    json: file,
    csv: path.join(outDir, 'results.csv'),
    curves: path.join(outDir, 'curves.csv'),
  });
}
