/**
 * Headless reproduction of one of the survey's experiments:
 *
 *   npm run reproduce                       the main comparison, smoke profile, embedded dataset (the README's job)
 *   npm run reproduce -- <experiment> [--profile ci|smoke|quick|standard|paper] [--dataset embedded|tiny-imagenet|cifar100|imagenet100]
 *                        (--profile standard runs through the grid: a local pool over the committed results store, resumable)
 *                        [--data-dir DIR] [--out DIR] [--methods a,b] [--precision fp32|bf16] [--fresh] [--in-process | --in-kernel]
 *
 * It executes the experiment's notebook (notebooks/0N-*.ipynb) with nbclient on the tslab kernel, parameters
 * injected as environment variables (KDCL_PROFILE, KDCL_DATASET, KDCL_DATASET_DIR, KDCL_OUT, KDCL_METHODS, KDCL_FRESH),
 * and writes into reproductions/runs/<experiment>-<profile>-<dataset>/ (or --out): the executed notebook, results
 * JSON + CSV, figures as SVG and REPORT.md. It prints the experiment's table at the end.
 *
 * The runs are trained first in this process, with the runner the notebook calls, and the notebook then finds them
 * finished (as a resumed notebook would) and shows them. Training inside the tslab kernel is ~30% slower on 2 cores
 * (measured: the kernel process holds the TypeScript compiler's heap, and V8's GC threads compete with oneDNN's);
 * --in-kernel trains inside the notebook instead. Without Jupyter (Python with
 * nbclient) or tslab it runs the same experiment in-process with the same runner, and says so. An interrupted
 * reproduction resumes from its checkpoints when run again (--fresh starts over).
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  EXPERIMENT_NAMES,
  checkDatasetName,
  defaultOutDir,
  getExperiment,
  getProfile,
  markdownTable,
  MissingDataError,
  readOutcome,
  runExperiment,
  selectRuns,
  writeReport,
  type ExperimentOutcome,
} from '../kernel-lib/experiments/index';
import { ROOT, executeNotebook, notebookRunner } from './notebook-exec';
import { closestKey } from '../kernel-lib/schema';
import os from 'node:os';
import { defaultPrecision, initBackend, setPrecision } from '../kernel-lib/backend/index';
import { defaultStore, gitCommit, mergeGrid, planGrid, readGrid, resolveStore, runPool, writeGrid, type GridFile } from '../kernel-lib/grid/index';
import { engineIdentity } from '../kernel-lib/train/config';

interface Args {
  experiment: string;
  profile: string;
  dataset?: string;
  dataDir?: string;
  out?: string;
  methods?: string[];
  fresh: boolean;
  inProcess: boolean;
  inKernel: boolean;
}

/** The long options (for the 'did you mean' hint). */
const OPTIONS = ['profile', 'dataset', 'data-dir', 'out', 'methods', 'precision', 'fresh', 'in-process', 'in-kernel', 'help'];

const USAGE = `usage: npm run reproduce -- [experiment] [--profile ci|smoke|quick|standard|paper] [--dataset embedded|tiny-imagenet|cifar100|imagenet100]
                            [--data-dir DIR] [--out DIR] [--methods a,b] [--precision fp32|bf16] [--fresh] [--in-process]
experiments: ${EXPERIMENT_NAMES.join(', ')} (default main-comparison)`;

function parseArgs(argv: string[]): Args {
  const args: Args = { experiment: 'main-comparison', profile: 'smoke', fresh: false, inProcess: false, inKernel: false };
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    switch (arg) {
      case '--profile': args.profile = value(); break;
      case '--dataset': args.dataset = value(); break;
      case '--data-dir': args.dataDir = path.resolve(value()); break;
      case '--out': args.out = path.resolve(value()); break;
      case '--methods': args.methods = value().split(',').map((m) => m.trim()).filter(Boolean); break;
      // The engine's precision for every run (and the notebook's kernel): KDCL_PRECISION, read by createRun.
      case '--precision': process.env.KDCL_PRECISION = value(); break;
      case '--fresh': args.fresh = true; break;
      case '--in-process': args.inProcess = true; break;
      case '--in-kernel': args.inKernel = true; break;
      case '-h':
      case '--help':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        if (arg.startsWith('-')) {
          const hint = closestKey(arg.replace(/^-+/, ''), OPTIONS);
          throw new Error(`unknown option '${arg}'${hint ? ` (did you mean '--${hint}'?)` : ''}\n${USAGE}`);
        }
        positional.push(arg);
    }
  }
  if (positional.length > 1) throw new Error(`one experiment at a time, got ${positional.join(', ')}\n${USAGE}`);
  if (positional[0]) args.experiment = positional[0];
  return args;
}

/** Prints the lines appended to a file while `task` runs. */
async function following<T>(file: string, task: Promise<T>): Promise<T> {
  let offset = fs.existsSync(file) ? fs.statSync(file).size : 0;
  const flush = () => {
    if (!fs.existsSync(file)) return;
    const size = fs.statSync(file).size;
    if (size < offset) offset = 0; // the run started over (--fresh) and recreated the file
    if (size === offset) return;
    const fd = fs.openSync(file, 'r');
    const buffer = Buffer.alloc(size - offset);
    fs.readSync(fd, buffer, 0, buffer.length, offset);
    fs.closeSync(fd);
    offset = size;
    process.stdout.write(buffer.toString('utf8'));
  };
  const timer = setInterval(flush, 1000);
  try {
    return await task;
  } finally {
    clearInterval(timer);
    flush();
  }
}

async function runNotebook(args: Args, python: string, outDir: string, dataset: string): Promise<{ notebook: string }> {
  const experiment = getExperiment(args.experiment);
  const source = path.join(ROOT, 'notebooks', experiment.notebook);
  if (!fs.existsSync(source)) throw new Error(`notebook ${source} is missing (generate it with \`npx tsx scripts/make-notebooks.ts\`)`);
  const executed = path.join(outDir, experiment.notebook);
  const env: Record<string, string> = {
    KDCL_RETRAIN: '1',
    KDCL_PROFILE: args.profile,
    KDCL_DATASET: dataset,
    KDCL_OUT: outDir,
    ...(args.dataDir ? { KDCL_DATASET_DIR: args.dataDir } : {}),
    ...(args.methods ? { KDCL_METHODS: args.methods.join(',') } : {}),
    ...(args.fresh ? { KDCL_FRESH: '1' } : {}),
  };
  console.log(`[kdcl] executing notebooks/${experiment.notebook} with nbclient (${python}) on the tslab kernel`);
  const result = await following(path.join(outDir, 'run.log'), executeNotebook(source, executed, { python, env }));
  if (result.exitCode !== 0 || result.errors.length) {
    throw new Error(
      `the notebook failed (nbclient exit ${result.exitCode})${result.errors.length ? `:\n  ${result.errors.join('\n  ')}` : ''}\n` +
        `  executed copy: ${executed}`,
    );
  }
  return { notebook: executed };
}

/**
 * The standard profile runs through the grid: its rows in the committed results store
 * (reproductions/results/standard/<dataset>/<experiment>/), a local pool filling the cores, then merge. Rows already
 * done are kept (resumable); --fresh is refused (the store holds committed results: move them away instead).
 */
async function reproduceThroughGrid(args: Args, experiment: string, dataset: string): Promise<void> {
  if (args.fresh) throw new Error('--fresh with --profile standard: the results store holds committed results; move reproductions/results/standard/... away instead');
  if (args.out || args.inKernel || args.methods) throw new Error('--profile standard runs through the grid: --out, --in-kernel and --methods do not apply (see npm run grid)');
  const store = resolveStore(defaultStore(experiment, 'standard', dataset));
  const file = path.join(store, 'grid.json');
  let grid: GridFile;
  try {
    grid = readGrid(file);
  } catch (err) {
    if (fs.existsSync(file)) console.log(`[kdcl] planning ${file} again: ${(err as Error).message.split('\n')[0]}`);
    process.env.KDCL_THREADS = '1';
    await initBackend({ log: false });
    setPrecision(defaultPrecision());
    const e = engineIdentity();
    grid = planGrid({
      experiment, profile: 'standard', dataset, dataDir: args.dataDir ?? null, commit: gitCommit(), host: os.hostname(),
      engine: { backend: e.backend, threads: e.threads ?? 1, isa: e.isa, loops: e.loops, precision: e.precision },
    });
    writeGrid(file, grid);
  }
  const threads = grid.rows[0].spec.engine.threads;
  const summary = await runPool(grid, {
    jobs: Math.max(1, Math.floor(os.availableParallelism() / threads)),
    workerArgs: (row) => ['--import', 'tsx', path.join(ROOT, 'reproductions', 'grid.ts'), 'run', file, '--row', String(row.index), '--retire-other-specs'],
  });
  const merged = await mergeGrid(grid, { executedBy: `\`npm run reproduce -- ${experiment} --profile standard\` (grid ${path.relative(ROOT, file)}, local pool)` });
  console.log(`\n${markdownTable(merged.outcome.table)}\n\n${merged.outcome.verdict}`);
  console.log(`report: ${path.relative(process.cwd(), merged.report)}${merged.leftOut.length ? `; ${merged.leftOut.length} row(s) not finished yet (run the command again)` : ''}`);
  if (summary.interrupted) process.exitCode = 130;
  else if (summary.failed.length) process.exitCode = 1;
}

async function main(): Promise<void> {
  const started = Date.now();
  const args = parseArgs(process.argv.slice(2));
  // Names first: a typo fails now, with the valid names, not after minutes of setup.
  const experiment = getExperiment(args.experiment);
  const profile = getProfile(args.profile);
  const dataset = checkDatasetName(args.dataset ?? profile.dataset);
  defaultPrecision(); // a bad --precision fails now, naming the valid ones
  selectRuns(experiment, { methods: args.methods });
  if (profile.name === 'standard') return reproduceThroughGrid(args, experiment.name, dataset);
  if (args.dataDir && !fs.existsSync(args.dataDir)) throw new MissingDataError(dataset, `data folder ${args.dataDir} (--data-dir) does not exist`);
  const outDir = args.out ?? defaultOutDir(experiment.name, profile.name, dataset);
  fs.mkdirSync(outDir, { recursive: true });

  let outcome: ExperimentOutcome;
  let executedBy: string;
  const runner = args.inProcess ? { reason: '--in-process was given' } : notebookRunner();
  const why = 'reason' in runner ? runner.reason : null;
  if ('python' in runner) {
    let trained: ExperimentOutcome | null = null;
    if (!args.inKernel) {
      console.log('[kdcl] training the runs in this process, then executing the notebook, which finds them finished (--in-kernel: train in the notebook)');
      trained = await runExperiment({
        experiment: experiment.name, profile: profile.name, dataset, dataDir: args.dataDir, outDir, methods: args.methods,
        resume: !args.fresh, verbosity: 'tasks',
      });
    }
    const { notebook } = await runNotebook({ ...args, fresh: args.fresh && args.inKernel }, runner.python, outDir, dataset);
    outcome = readOutcome(outDir);
    if (trained) {
      // The notebook's session only loaded the runs: the time is this command's, the CPU time the training's.
      outcome.results.seconds = (Date.now() - started) / 1000;
      outcome.results.cpuSeconds = trained.results.cpuSeconds;
    }
    executedBy = trained
      ? `\`npm run reproduce\`: runs trained by the experiment runner in the reproduce process, then notebook ${experiment.notebook} executed with nbclient on the tslab kernel, which loaded them (executed copy: ${path.basename(notebook)})`
      : `\`npm run reproduce --in-kernel\`: notebook ${experiment.notebook} executed with nbclient on the tslab kernel, training included (executed copy: ${path.basename(notebook)})`;
  } else {
    console.log(`[kdcl] not executing the notebook: ${why}. Running the experiment in-process with the same runner instead.`);
    outcome = await runExperiment({
      experiment: experiment.name,
      profile: profile.name,
      dataset,
      dataDir: args.dataDir,
      outDir,
      methods: args.methods,
      resume: !args.fresh,
      verbosity: 'tasks',
    });
    executedBy = `\`npm run reproduce\`, in-process (${why})`;
  }
  const { report, figures } = await writeReport(outcome, { executedBy });
  const minutes = (Date.now() - started) / 60000;

  console.log(`\n${experiment.title} (survey ${experiment.surveyTable}), profile ${profile.name}, dataset ${dataset}:\n`);
  console.log(markdownTable(outcome.table));
  console.log(`\n${outcome.verdict}`);
  const failed = outcome.results.runs.filter((r) => r.status === 'failed');
  if (failed.length) console.log(`\n${failed.length} run(s) failed: ${failed.map((r) => r.id).join(', ')} (see REPORT.md)`);
  console.log(`\nwall time ${minutes.toFixed(1)} min; backend ${outcome.results.backend}`);
  console.log(`report: ${path.relative(process.cwd(), report)}; figures: ${figures.map((f) => path.relative(process.cwd(), f)).join(', ')}`);
  console.log(`results: ${path.relative(process.cwd(), outcome.files.json)}, ${path.relative(process.cwd(), outcome.files.csv)}`);
  if (failed.length) process.exitCode = 1;
}

main().catch((err) => {
  console.error(`reproduce: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
