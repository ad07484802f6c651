/**
 * Experiment grids: an experiment planned as independent rows (one run each), run by a local pool, a Slurm job
 * array or a Kubernetes Indexed Job, into a results store; then status and merge. See reproductions/README.md.
 *
 *   npm run grid -- plan <experiment> --profile P [--dataset D] [--seeds 1993,...] [--threads T] [--precision fp32]
 *                        [--methods a,b] [--scenarios b0-10] [--store DIR] [--data-dir DIR] [--out FILE]
 *   npm run grid -- run <grid> --row i [--store DIR]             one row (what a Slurm / Kubernetes task runs)
 *   npm run grid -- run <grid> [--jobs N] [--threads T] [--rows 0,3]   a local pool: N rows at a time (SIGUSR2 drains it)
 *                        [--retire-other-specs]   move results of another spec (an older version) to runs/retired/
 *   npm run grid -- slurm <grid> [--partition P] [--time T] [--cpus C] [--mem M] [--max-parallel K] [--out FILE]
 *   npm run grid -- k8s <grid> --image IMAGE [--claim PVC] [--max-parallel K] [--out FILE]
 *   npm run grid -- status <grid> [--markdown]     --markdown: the finished rows as a table (time, AIA, last, newest task)
 *   npm run grid -- merge <grid>
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, PRECISIONS, setPrecision, type Precision } from '../kernel-lib/backend/index';
import { markdownTable } from '../kernel-lib/experiments/index';
import {
  describeCost,
  gitCommit,
  gridCost,
  gridStatus,
  kubernetesJob,
  kubernetesYaml,
  mergeGrid,
  planGrid,
  readGrid,
  resolveStore,
  rowLogFile,
  runPool,
  runRow,
  runsPlannedBeside,
  slurmScript,
  writeGrid,
  type RowEngine,
} from '../kernel-lib/grid/index';
import { engineIdentity } from '../kernel-lib/train/config';
import { writeFileAtomic } from '../kernel-lib/train/checkpoint';
import { closestKey } from '../kernel-lib/schema';

const USAGE = fs.readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0].split('\n').filter((l) => l.includes('npm run grid')).map((l) => l.replace(/^ \* {3}/, '')).join('\n');

type Flags = Record<string, string | true>;
const VALUE_FLAGS = ['profile', 'dataset', 'seeds', 'threads', 'precision', 'methods', 'scenarios', 'store', 'data-dir', 'out', 'row', 'rows', 'jobs',
  'partition', 'time', 'cpus', 'mem', 'max-parallel', 'image', 'claim', 'node', 'repo', 'retries'];
const BOOLEAN_FLAGS = ['help', 'progress', 'retire-other-specs', 'markdown'];

function parse(argv: string[]): { positional: string[]; flags: Flags } {
  const positional: string[] = [];
  const flags: Flags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const name = arg.slice(2);
    if (BOOLEAN_FLAGS.includes(name)) flags[name] = true;
    else if (VALUE_FLAGS.includes(name)) {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`${arg} needs a value`);
      flags[name] = v;
    } else {
      const hint = closestKey(name, [...VALUE_FLAGS, ...BOOLEAN_FLAGS]);
      throw new Error(`unknown option '${arg}'${hint ? ` (did you mean '--${hint}'?)` : ''}`);
    }
  }
  return { positional, flags };
}

const str = (f: Flags, k: string) => (typeof f[k] === 'string' ? (f[k] as string) : undefined);
function int(f: Flags, k: string): number | undefined {
  const v = str(f, k);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${k} must be a non-negative integer, got '${v}'`);
  return n;
}
const list = (f: Flags, k: string) => str(f, k)?.split(',').map((s) => s.trim()).filter(Boolean);

async function plan(positional: string[], f: Flags): Promise<void> {
  const experiment = positional[0];
  if (!experiment) throw new Error('plan: name the experiment (main-comparison, kd-removal, standalone-kd, replay-softmax)');
  if (!str(f, 'profile')) throw new Error('plan: --profile is required (ci, smoke, quick, standard, paper)');
  const precision = (str(f, 'precision') ?? 'fp32') as Precision;
  if (!PRECISIONS.includes(precision)) throw new Error(`--precision ${precision}: valid precisions are ${PRECISIONS.join(', ')}`);
  const threads = int(f, 'threads') ?? 1;
  if (threads < 1) throw new Error('--threads must be at least 1');
  const seeds = list(f, 'seeds')?.map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n)) throw new Error(`--seeds: '${s}' is not an integer`);
    return n;
  });
  // The engine the rows will compute on, as this machine reports it with that many threads.
  process.env.KDCL_THREADS = String(threads);
  await initBackend({ log: false });
  // bf16 where this machine cannot run it fails here, naming the ISA, before any row is written.
  setPrecision(precision);
  const own = engineIdentity();
  const engine: RowEngine = { backend: own.backend, threads: own.threads ?? threads, isa: own.isa, loops: own.loops, precision: own.precision };
  const grid = planGrid({
    experiment, profile: str(f, 'profile')!, dataset: str(f, 'dataset'), seeds, methods: list(f, 'methods'), scenarios: list(f, 'scenarios'),
    engine, store: str(f, 'store'), dataDir: str(f, 'data-dir') ? path.resolve(str(f, 'data-dir')!) : null, commit: gitCommit(), host: os.hostname(),
  });
  const out = path.resolve(str(f, 'out') ?? path.join(resolveStore(grid.store), 'grid.json'));
  writeGrid(out, grid);
  console.log(`[grid] ${grid.rows.length} rows (${grid.experiment}, profile ${grid.profile}, dataset ${grid.dataset}, ` +
    `engine ${engine.backend} ${engine.threads} thread(s) ${engine.isa ?? ''} ${engine.precision}) -> ${path.relative(process.cwd(), out)}`);
  console.log(`[grid] results store: ${grid.store}`);
}

async function run(positional: string[], f: Flags): Promise<void> {
  const file = positional[0];
  if (!file) throw new Error('run: give the grid file');
  const grid = readGrid(file);
  const rowFlag = int(f, 'row');
  if (rowFlag !== undefined) {
    const row = grid.rows[rowFlag];
    const storeDir = resolveStore(str(f, 'store') ?? grid.store);
    const log = row ? rowLogFile(storeDir, row) : null;
    if (log) fs.mkdirSync(path.dirname(log), { recursive: true });
    const say = (line: string) => {
      console.log(line);
      if (log) fs.appendFileSync(log, `${new Date().toISOString()} ${line}\n`);
    };
    try {
      const outcome = await runRow(grid, rowFlag, {
        store: str(f, 'store'), dataDir: str(f, 'data-dir'), say, progress: f.progress === true, retireOtherSpec: f['retire-other-specs'] === true,
      });
      if (outcome.status === 'done') say(`[row ${rowFlag}] done: AIA ${(100 * (outcome.result.aia ?? NaN)).toFixed(2)}%`);
      else if (outcome.status === 'done-earlier') say(`[row ${rowFlag}] done earlier: nothing to do`);
      else if (outcome.status === 'skipped') say(`[row ${rowFlag}] skipped: ${outcome.reason}`);
      else {
        say(`[row ${rowFlag}] error: ${outcome.error}`);
        process.exitCode = 1;
      }
    } catch (err) {
      say(`[row ${rowFlag}] error: ${(err as Error).message}`);
      process.exitCode = 2;
    }
    return;
  }
  const threads = int(f, 'threads');
  const perRow = threads ?? grid.rows[0].spec.engine.threads;
  const jobs = int(f, 'jobs') ?? Math.max(1, Math.floor(os.availableParallelism() / perRow));
  const here = fileURLToPath(import.meta.url);
  const summary = await runPool(grid, {
    jobs, threads, store: str(f, 'store'), rows: list(f, 'rows')?.map(Number),
    workerArgs: (row) => ['--import', 'tsx', here, 'run', path.resolve(file), '--row', String(row.index), ...(str(f, 'store') ? ['--store', str(f, 'store')!] : []),
      ...(str(f, 'data-dir') ? ['--data-dir', str(f, 'data-dir')!] : []), ...(f['retire-other-specs'] ? ['--retire-other-specs'] : [])],
  });
  if (summary.interrupted) process.exitCode = 130;
  else if (summary.failed.length) process.exitCode = 1;
}

function writeText(file: string, text: string): void {
  writeFileAtomic(file, new TextEncoder().encode(text));
}

function slurm(positional: string[], f: Flags): void {
  const file = positional[0];
  if (!file) throw new Error('slurm: give the grid file');
  const grid = readGrid(file);
  const script = slurmScript(grid, {
    gridFile: path.resolve(file), partition: str(f, 'partition'), time: str(f, 'time'), cpus: int(f, 'cpus'), mem: str(f, 'mem'),
    maxParallel: int(f, 'max-parallel'), store: str(f, 'store') ? path.resolve(str(f, 'store')!) : undefined, node: str(f, 'node'), repo: str(f, 'repo'),
  });
  const out = path.resolve(str(f, 'out') ?? file.replace(/\.json$/, '') + '.sbatch');
  writeText(out, script);
  // Slurm fails a task whose --output folder does not exist.
  fs.mkdirSync(path.join(str(f, 'store') ? path.resolve(str(f, 'store')!) : resolveStore(grid.store), 'logs'), { recursive: true });
  fs.chmodSync(out, 0o755);
  console.log(`[grid] Slurm job array of ${grid.rows.length} rows -> ${path.relative(process.cwd(), out)}\n       submit it with: sbatch ${path.relative(process.cwd(), out)}`);
}

function k8s(positional: string[], f: Flags): void {
  const file = positional[0];
  if (!file) throw new Error('k8s: give the grid file');
  const image = str(f, 'image');
  if (!image) throw new Error('k8s: --image is required (an image holding this checkout with node_modules installed)');
  const grid = readGrid(file);
  const job = kubernetesJob(grid, {
    gridFile: path.relative(process.cwd(), path.resolve(file)), image, claim: str(f, 'claim'), maxParallel: int(f, 'max-parallel'), retriesPerRow: int(f, 'retries'),
  });
  const out = path.resolve(str(f, 'out') ?? file.replace(/\.json$/, '') + '.k8s.yaml');
  writeText(out, kubernetesYaml(job));
  console.log(`[grid] Kubernetes Indexed Job of ${grid.rows.length} rows -> ${path.relative(process.cwd(), out)}\n       apply it with: kubectl apply -f ${path.relative(process.cwd(), out)}`);
}

function status(positional: string[], f: Flags): void {
  const file = positional[0];
  if (!file) throw new Error('status: give the grid file');
  const grid = readGrid(file);
  const rows = gridStatus(grid, str(f, 'store'));
  if (f.markdown) {
    console.log(finishedRowsTable(rows));
    return;
  }
  const counts: Record<string, number> = {};
  for (const { row, status: s } of rows) {
    counts[s.state] = (counts[s.state] ?? 0) + 1;
    const detail =
      s.state === 'done' ? `AIA ${(100 * (s.result.aia ?? NaN)).toFixed(2)}%, ${s.result.seconds.toFixed(0)} s` :
      s.state === 'failed' ? `last error: ${s.error}` :
      s.state === 'running' ? `host ${s.host} pid ${s.pid}, ${s.tasksDone} task(s) checkpointed, heartbeat ${s.heartbeatAt}` :
      s.state === 'pending' ? `${s.tasksDone ? `${s.tasksDone} task(s) checkpointed` : 'not started'}${s.lastLogLine ? `; last log line: ${s.lastLogLine}` : ''}` :
      `left out of merge: ${s.detail}`;
    console.log(`${String(row.index).padStart(4)}  ${s.state.padEnd(10)} ${row.name.padEnd(34)} ${detail}`);
  }
  console.log(`\n${grid.rows.length} rows: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}`);
  console.log(describeCost(gridCost(rows, runsPlannedBeside(grid, str(f, 'store')))));
}

/**
 * The finished rows as a markdown table: wall time (first task's beside it), AIA, last, and the newest task's
 * accuracy after each task (the diagonal of the accuracy matrix: whether each new task was learnt).
 */
function finishedRowsTable(rows: ReturnType<typeof gridStatus>): string {
  const lines = ['| row | wall time | AIA | last | newest-task accuracy after each task (%) |', '| --- | --- | ---: | ---: | --- |'];
  for (const { status: s } of rows) {
    if (s.state !== 'done') continue;
    const r = s.result;
    const first = r.taskSeconds?.[0];
    const newest = (r.accuracyMatrix ?? []).map((row, t) => Math.round(100 * row[t]));
    const shared = r.provenance?.sameRunAs ? ` (${r.provenance.sameRunAs.experiment}'s run)` : '';
    lines.push(`| ${r.specId.replaceAll('_', ' ')}, seed ${r.seed}${shared} | ${r.seconds.toFixed(0)} s${first !== undefined ? ` (${first.toFixed(0)} s first task)` : ''} | ` +
      `${(100 * (r.aia ?? NaN)).toFixed(2)} | ${(100 * (r.last ?? NaN)).toFixed(2)} | ${newest.join(' ')} |`);
  }
  return lines.join('\n');
}

async function merge(positional: string[], f: Flags): Promise<void> {
  const file = positional[0];
  if (!file) throw new Error('merge: give the grid file');
  const grid = readGrid(file);
  const { outcome, report, figures, leftOut } = await mergeGrid(grid, { store: str(f, 'store'), executedBy: `\`npm run grid -- merge ${path.relative(process.cwd(), path.resolve(file))}\`` });
  console.log(markdownTable(outcome.table));
  console.log(`\n${outcome.verdict}`);
  for (const l of leftOut) console.log(`left out: row ${l.row.index} ${l.row.name} (${l.why})`);
  console.log(`report: ${path.relative(process.cwd(), report)}; figures: ${figures.length}; results: ${path.relative(process.cwd(), outcome.files.json)}`);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const { positional, flags } = parse(rest);
  if (!command || command === '--help' || flags.help) {
    console.log(`usage:\n${USAGE}`);
    return;
  }
  switch (command) {
    case 'plan': return plan(positional, flags);
    case 'run': return run(positional, flags);
    case 'slurm': return slurm(positional, flags);
    case 'k8s': return k8s(positional, flags);
    case 'status': return status(positional, flags);
    case 'merge': return merge(positional, flags);
    default: {
      const hint = closestKey(command, ['plan', 'run', 'slurm', 'k8s', 'status', 'merge']);
      throw new Error(`unknown command '${command}'${hint ? ` (did you mean '${hint}'?)` : ''}\nusage:\n${USAGE}`);
    }
  }
}

main().catch((err) => {
  console.error(`grid: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
});
