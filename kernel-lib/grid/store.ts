/**
 * A grid's results store, read back: each row's state (status), and the experiment's tables, REPORT.md and figures
 * built from the rows' result files (merge), as `npm run reproduce` builds them from its own run folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { getExperiment } from '../experiments/experiments';
import type { ExperimentResults, RunResult } from '../experiments/results';
import { runFiles } from '../experiments/run-one';
import { readOutcome, writeResults, type ExperimentOutcome } from '../experiments/runner';
import { writeReport } from '../experiments/report';
import { listCheckpoints } from '../train/checkpoint';
import { isStale, LOCK_FILE, type LockOwner } from '../train/run-lock';
import { readGrid, resolveStore, sameRunInOtherExperiment, type GridFile, type GridRow } from './grid-file';
import { repoRoot } from '../paths';
import { storedRow } from './row-runner';

export type RowState =
  | { state: 'done'; result: RunResult }
  | { state: 'failed'; error: string; result?: RunResult }
  | { state: 'running'; host: string; pid: number; heartbeatAt: string; tasksDone: number }
  | { state: 'pending'; tasksDone: number; lastLogLine?: string }
  | { state: 'other-spec'; detail: string }
  | { state: 'corrupt'; detail: string };

export interface RowStatus {
  row: GridRow;
  status: RowState;
}

/** The row's log (written by the local pool), if any. */
export function rowLogFile(storeDir: string, row: Pick<GridRow, 'name'>): string {
  return path.join(storeDir, 'logs', `${row.name}.log`);
}

/** The raw output of the row's process in a local pool (a crash's message lands here, not in the row's log). */
export function rowOutputFile(storeDir: string, row: Pick<GridRow, 'name'>): string {
  return path.join(storeDir, 'logs', `${row.name}.out`);
}

function lastErrorLine(file: string): string | undefined {
  if (!fs.existsSync(file)) return undefined;
  const lines = fs.readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
  return [...lines].reverse().find((l) => /error|failed|killed|cancelled/i.test(l)) ?? lines[lines.length - 1];
}

function liveLock(checkpoints: string): LockOwner | null {
  const file = path.join(checkpoints, LOCK_FILE);
  try {
    const owner = JSON.parse(fs.readFileSync(file, 'utf8')) as LockOwner;
    return isStale(owner) ? null : owner;
  } catch {
    return null;
  }
}

/** A path inside the repository relative to its root (reports are committed); others as they are. */
function shownPath(file: string): string {
  const relative = path.relative(repoRoot(), file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}

export function rowStatus(grid: GridFile, row: GridRow, store?: string): RowState {
  const storeDir = resolveStore(store ?? grid.store);
  const files = runFiles(storeDir, row.name);
  const stored = storedRow(storeDir, row, grid.resultsVersion);
  if (stored.kind === 'result' && stored.result.status === 'done') return { state: 'done', result: stored.result };
  if (stored.kind === 'corrupt') return { state: 'corrupt', detail: stored.reason };
  if (stored.kind === 'other-spec') {
    return { state: 'other-spec', detail: `${shownPath(files.result)} is row ${stored.result.row?.id ?? '(no row id)'}'s result, this row is ${row.id}` };
  }
  // Only the latest task's checkpoint is kept: task-<t>.kdcl means tasks 0..t are done.
  const tasksDone = (listCheckpoints(files.checkpoints).at(-1)?.task ?? -1) + 1;
  const owner = liveLock(files.checkpoints);
  if (owner) return { state: 'running', host: owner.host, pid: owner.pid, heartbeatAt: owner.heartbeatAt, tasksDone };
  if (stored.kind === 'result') return { state: 'failed', error: stored.result.error ?? 'failed', result: stored.result };
  return { state: 'pending', tasksDone, lastLogLine: lastErrorLine(rowLogFile(storeDir, row)) ?? lastErrorLine(rowOutputFile(storeDir, row)) };
}

/**
 * The rows of this grid whose run another experiment's grid beside it (a sibling store with a grid.json) plans
 * too, mapped to that experiment: whichever grid runs it first records it for the other (row-runner sameRunBeside),
 * so its cost falls once, not in both grids.
 */
export function runsPlannedBeside(grid: GridFile, store?: string): Map<string, string> {
  const storeDir = resolveStore(store ?? grid.store);
  const parent = path.dirname(storeDir);
  const found = new Map<string, string>();
  if (!fs.existsSync(parent)) return found;
  for (const sibling of fs.readdirSync(parent, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
    const file = path.join(parent, sibling, 'grid.json');
    if (path.join(parent, sibling) === storeDir || !fs.existsSync(file)) continue;
    const other = readGrid(file);
    const byName = new Map(other.rows.map((r) => [r.name, r]));
    for (const row of grid.rows) {
      const twin = byName.get(row.name);
      if (twin && !found.has(row.name) && sameRunInOtherExperiment({ id: twin.id, resultsVersion: other.resultsVersion, spec: twin.spec }, row, grid.resultsVersion)) {
        found.set(row.name, other.experiment);
      }
    }
  }
  return found;
}

export function gridStatus(grid: GridFile, store?: string): RowStatus[] {
  return grid.rows.map((row) => ({ row, status: rowStatus(grid, row, store) }));
}

export interface MergeOutcome {
  outcome: ExperimentOutcome;
  report: string;
  figures: string[];
  /** Rows left out of the tables, each with why (not run yet, unreadable, another spec's result). */
  leftOut: { row: GridRow; why: string }[];
}

/** Builds results.json / .csv, REPORT.md and figures in the store from the grid's row results. */
export async function mergeGrid(grid: GridFile, options: { store?: string; executedBy?: string } = {}): Promise<MergeOutcome> {
  const storeDir = resolveStore(options.store ?? grid.store);
  const experiment = getExperiment(grid.experiment);
  const leftOut: MergeOutcome['leftOut'] = [];
  const runs: RunResult[] = [];
  for (const { row, status } of gridStatus(grid, options.store)) {
    if (status.state === 'done') runs.push(status.result);
    else if (status.state === 'failed' && status.result) runs.push(status.result);
    else leftOut.push({ row, why: status.state === 'corrupt' || status.state === 'other-spec' ? `${status.state}: ${status.detail}` : status.state });
  }
  if (!runs.length) throw new Error(`nothing to merge: no row of ${grid.experiment} has a result in ${storeDir} (${leftOut.length} rows left out)`);
  const first = runs.find((r) => r.provenance)!;
  const profile = grid.rows[0].spec.profile;
  const results: ExperimentResults = {
    kind: 'kdcl-experiment-results',
    version: 1,
    experiment: experiment.name,
    surveyTable: experiment.surveyTable,
    profile: grid.profile,
    dataset: grid.dataset,
    backend: first?.provenance?.backend.name ?? 'unknown',
    createdAt: new Date().toISOString(),
    // Machine time of the rows (each row's own wall and CPU seconds, summed), not of this merge.
    seconds: runs.reduce((s, r) => s + r.seconds, 0),
    cpuSeconds: runs.reduce((s, r) => s + r.cpuSeconds, 0),
    profileSettings: profile,
    datasetShape: first?.provenance?.dataset ?? { classes: 0, trainImages: 0, testImages: 0, imageSize: [0, 0] },
    excluded: [...new Set(experiment.runs.map((r) => r.method))].filter((m) => !grid.rows.some((row) => row.spec.run.method === m)),
    runs,
  };
  writeResults(storeDir, results);
  const outcome = readOutcome(storeDir);
  const leftOutNote = leftOut.length
    ? `; ${leftOut.length} row(s) of the grid are left out: ${leftOut.map((l) => `${l.row.name} (${l.why})`).join('; ')}`
    : '';
  const { report, figures } = await writeReport(outcome, {
    executedBy: `${options.executedBy ?? '`npm run grid -- merge`'} from the results store (${runs.length} of ${grid.rows.length} rows)${leftOutNote}`,
  });
  return { outcome, report, figures, leftOut };
}
