/**
 * Runs one row of a grid, idempotently: a row already done in the store is skipped; a row another worker holds is
 * skipped (the run lock of train/run-lock.ts); a pre-empted row resumes from its per-task checkpoints. The result
 * is written atomically by the experiment runner's own row runner (experiments/run-one.ts), with the row and its
 * provenance added.
 */
import fs from 'node:fs';
import path from 'node:path';
import { backendInfo, initBackend, setPrecision } from '../backend/index';
import type { ImageDataset } from '../data/types';
import { loadExperimentDataset, type DatasetLoader } from '../experiments/dataset';
import type { RunProvenance, RunResult } from '../experiments/results';
import { runFiles, runOne, writeJson } from '../experiments/run-one';
import { engineIdentity } from '../train/config';
import { firstDifference } from './differences';
import { resolveStore, sameRunInOtherExperiment, sameRunUnderEarlierId, type GridFile, type GridRow } from './grid-file';
import { cpuDescription, gitCommit, hostName, treeDirty } from './provenance';

export class RowConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RowConflictError';
  }
}

export type RowOutcome =
  | { status: 'done'; result: RunResult }
  | { status: 'done-earlier' }
  | { status: 'skipped'; reason: string }
  | { status: 'failed'; error: string };

/** What the store holds for a row: nothing, its result, another plan's result, or an unreadable file. */
export type StoredRow =
  | { kind: 'absent' }
  | { kind: 'result'; result: RunResult; earlierId?: string }
  | { kind: 'other-spec'; result: RunResult }
  | { kind: 'corrupt'; reason: string };

/** `resultsVersion`: the grid's; with it, a result of the same run under an earlier row id counts as the row's. */
export function storedRow(storeDir: string, row: GridRow, resultsVersion?: number): StoredRow {
  const file = runFiles(storeDir, row.name).result;
  if (!fs.existsSync(file)) return { kind: 'absent' };
  let result: RunResult;
  try {
    result = JSON.parse(fs.readFileSync(file, 'utf8')) as RunResult;
    if (typeof result !== 'object' || result === null || !Array.isArray(result.accuracies) || typeof result.status !== 'string') {
      throw new Error('not a run result');
    }
  } catch (err) {
    return { kind: 'corrupt', reason: `${file}: ${(err as Error).message}` };
  }
  if (result.row?.id === row.id) return { kind: 'result', result };
  if (resultsVersion !== undefined && sameRunUnderEarlierId(result.row, row, resultsVersion)) return { kind: 'result', result, earlierId: result.row!.id };
  return { kind: 'other-spec', result };
}

export interface RunRowOptions {
  /** Results store (default: the grid's). */
  store?: string;
  dataDir?: string;
  say?: (line: string) => void;
  /** Show the trainer's progress display. */
  progress?: boolean;
  loader?: DatasetLoader;
  preloaded?: ImageDataset;
  /**
   * Move a stored result of another spec (e.g. of a method whose results version was bumped) to runs/retired/, and
   * checkpoints of another config to checkpoints/retired/, and run the row, instead of refusing. Nothing is deleted.
   */
  retireOtherSpec?: boolean;
}

/**
 * A finished result of this row's run in a sibling experiment's store (the folders beside `storeDir`, as
 * reproductions/results/<profile>/<dataset>/<experiment>/ are), or null.
 */
export function sameRunBeside(storeDir: string, row: GridRow, resultsVersion: number): { file: string; result: RunResult } | null {
  const parent = path.dirname(storeDir);
  const siblings = fs.readdirSync(parent, { withFileTypes: true }).filter((d) => d.isDirectory() && path.join(parent, d.name) !== storeDir);
  for (const sibling of siblings.map((d) => d.name).sort()) {
    const file = runFiles(path.join(parent, sibling), row.name).result;
    if (!fs.existsSync(file)) continue;
    let result: RunResult;
    try {
      result = JSON.parse(fs.readFileSync(file, 'utf8')) as RunResult;
    } catch {
      continue; // that store's own status reports it
    }
    if (result?.status === 'done' && sameRunInOtherExperiment(result.row, row, resultsVersion)) return { file, result };
  }
  return null;
}

/** Moves a row's stored result of another spec to runs/retired/<name>.<its row id>.json; returns the new path. */
export function retireStoredResult(storeDir: string, row: GridRow, otherId: string | undefined): string {
  const file = runFiles(storeDir, row.name).result;
  const to = path.join(path.dirname(file), 'retired', `${row.name}.${otherId ?? 'no-row-id'}.json`);
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.renameSync(file, to);
  return to;
}

/** The check that the engine this process computes on is the one the row was planned for. */
export async function checkRowEngine(row: GridRow): Promise<void> {
  const planned = row.spec.engine;
  // Threads are set before the engine starts (KDCL_THREADS), so a worker cannot run a row on other threads by mistake.
  process.env.KDCL_THREADS = String(planned.threads);
  // oneDNN picks its kernels, and so their summation order, by ISA: on a newer CPU it is capped to the planned ISA,
  // which gives the planned machine's digits (a finetune row planned on AMD avx512_core_bf16 and run on an Intel AMX
  // Xeon matched to the last digit). A cap only lowers the ISA, and only if set before the engine starts.
  if (planned.backend === 'native' && planned.isa && /^[a-z0-9_]+$/.test(planned.isa) && !process.env.DNNL_MAX_CPU_ISA) {
    process.env.DNNL_MAX_CPU_ISA = planned.isa.toUpperCase();
  }
  await initBackend({ backend: planned.backend as never, log: false });
  try {
    setPrecision(planned.precision);
  } catch (err) {
    throw new RowConflictError(`row ${row.index} (${row.name}): the grid asks for precision ${planned.precision}: ${(err as Error).message}`);
  }
  const own = engineIdentity();
  const actual = { backend: own.backend, threads: own.threads, isa: own.isa, loops: own.loops, precision: own.precision };
  const d = firstDifference(actual, planned, 'spec.engine');
  if (d) {
    throw new RowConflictError(
      `row ${row.index} (${row.name}): field '${d.path}' is ${d.right} in the grid, but this machine computes with ${d.left}; ` +
        `run the row on a CPU with the planned ISA (oneDNN is capped to it on newer ones${process.env.DNNL_MAX_CPU_ISA ? `; DNNL_MAX_CPU_ISA is ${process.env.DNNL_MAX_CPU_ISA} here` : ''}), or plan the grid for this engine`,
    );
  }
}

export async function runRow(grid: GridFile, index: number, options: RunRowOptions = {}): Promise<RowOutcome> {
  const row = grid.rows[index];
  if (!row) throw new RangeError(`row ${index} does not exist: the grid has ${grid.rows.length} rows (0-${grid.rows.length - 1})`);
  const storeDir = resolveStore(options.store ?? grid.store);
  const say = options.say ?? ((line: string) => console.log(line));
  const stored = storedRow(storeDir, row, grid.resultsVersion);
  if (stored.kind === 'result' && stored.earlierId) {
    // The same run under the earlier id rule: the file takes this row's id and spec (nothing else changes).
    writeJson(runFiles(storeDir, row.name).result, { ...stored.result, row: { ...stored.result.row!, id: row.id, index, spec: row.spec as unknown as Record<string, unknown> } });
    say(`[row ${index}] ${row.name}: the stored result is this run under the earlier row id ${stored.earlierId}; it now carries row id ${row.id}`);
  }
  if (stored.kind === 'result' && stored.result.status === 'done') return { status: 'done-earlier' };
  const beside = stored.kind === 'absent' ? sameRunBeside(storeDir, row, grid.resultsVersion) : null;
  if (beside) {
    // The same run, finished for another experiment: recorded for this row too, with where it came from.
    const { result } = beside;
    const from = { experiment: String(result.row!.spec.experiment), rowId: result.row!.id, file: path.relative(storeDir, beside.file) };
    writeJson(runFiles(storeDir, row.name).result, {
      ...result,
      experiment: row.spec.experiment,
      row: { id: row.id, index, resultsVersion: grid.resultsVersion, spec: row.spec as unknown as Record<string, unknown> },
      provenance: { ...result.provenance!, sameRunAs: from },
    });
    say(`[row ${index}] ${row.name}: the same run is done in ${from.experiment} (row id ${from.rowId}); its result is recorded for this row`);
    return { status: 'done-earlier' };
  }
  if (stored.kind === 'other-spec' && options.retireOtherSpec) {
    say(`[row ${index}] ${row.name}: the stored result of another spec (row id ${stored.result.row?.id ?? 'none'}) moved to ${retireStoredResult(storeDir, row, stored.result.row?.id)}`);
  } else if (stored.kind === 'other-spec') {
    throw new RowConflictError(
      `row ${index} (${row.name}): ${runFiles(storeDir, row.name).result} holds a result of another spec ` +
        `(row id ${stored.result.row?.id ?? 'none'}, this row's is ${row.id}); it is never overwritten: move it away, or pass --retire-other-specs to move it to runs/retired/ and run this row`,
    );
  }
  if (stored.kind === 'corrupt') {
    throw new RowConflictError(`row ${index} (${row.name}): the stored result is unreadable (${stored.reason}); move it away to run this row`);
  }
  await checkRowEngine(row);
  const { spec } = row;
  const dataset = options.preloaded ?? (await loadExperimentDataset(spec.dataset, spec.profile, {
    dataDir: options.dataDir ?? grid.dataDir ?? undefined,
    loader: options.loader,
  }));
  const info = backendInfo();
  const outcome = await runOne({
    spec: spec.run,
    seed: spec.seed,
    experiment: spec.experiment,
    profile: spec.profile,
    datasetName: spec.dataset,
    dataset,
    precision: spec.engine.precision,
    outDir: storeDir,
    retireOtherCheckpoints: options.retireOtherSpec ?? false,
    trainerProgress: options.progress ?? false,
    say,
    onStart: ({ resumedTasks, tasks }) => say(`[row ${index}] ${row.name}${resumedTasks ? ` resumed: ${resumedTasks}/${tasks} tasks done` : ''}`),
    onTaskEnd: (e) => say(`[row ${index}] ${row.name} task ${e.task + 1}/${e.tasks}: accuracy ${(100 * e.accuracy).toFixed(2)}% (${e.seconds.toFixed(1)} s)`),
    annotate: (result) => {
      const provenance: RunProvenance = {
        commit: gitCommit(),
        dirty: treeDirty(storeDir),
        host: hostName(),
        cpu: cpuDescription(),
        backend: { name: info.name, tfBackend: info.tfBackend, version: info.version },
        precision: spec.engine.precision,
        threads: info.threads,
        seed: spec.seed,
        dataset: {
          classes: dataset.classNames.length,
          trainImages: dataset.train.count,
          testImages: dataset.test.count,
          imageSize: [dataset.train.height, dataset.train.width],
        },
        node: process.version,
        finishedAt: new Date().toISOString(),
      };
      return { ...result, row: { id: row.id, index, resultsVersion: grid.resultsVersion, spec: spec as unknown as Record<string, unknown> }, provenance };
    },
  });
  if (outcome.kind === 'skipped') return { status: 'skipped', reason: outcome.reason };
  if (outcome.result.status === 'failed') return { status: 'failed', error: outcome.result.error ?? 'failed' };
  return { status: 'done', result: outcome.result };
}
