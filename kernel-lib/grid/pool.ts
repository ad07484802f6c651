/**
 * A local pool: a grid's rows as child processes, `jobs` at a time with `threads` each (jobs x threads <= cores),
 * one overall progress bar (rows done, running, failed, ETA) and a line per finished row, also appended to
 * <store>/grid.log. Each child writes its own log (<store>/logs/<row>.log). Ctrl-C (or the abort signal) stops
 * the children; the next call continues: finished rows are skipped, interrupted rows resume from checkpoints.
 * SIGUSR2 (or the drain signal) drains the pool instead: the rows in flight finish, no new row starts (to free
 * the cores, or change the plan, without losing work).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { spawn, type ChildProcess } from 'node:child_process';
import { resolveStore, type GridFile, type GridRow } from './grid-file';
import { rowLogFile, rowOutputFile, rowStatus } from './store';

export interface PoolOptions {
  jobs: number;
  /** Threads per row: must be the grid's (a row's results depend on them). Default: the grid's. */
  threads?: number;
  store?: string;
  /** Only these rows (default: all). */
  rows?: number[];
  /** The command that runs one row, as arguments to this Node binary. */
  workerArgs: (row: GridRow) => string[];
  /** Cores available (default: this machine's). */
  cores?: number;
  display?: 'bar' | 'lines' | 'none';
  signal?: AbortSignal;
  /** Drains the pool: the rows running finish, no new row starts (as SIGUSR2 does). */
  drain?: AbortSignal;
}

export interface PoolSummary {
  /** Rows finished by this call, finished earlier, left to another worker, failed. */
  done: number[];
  doneEarlier: number[];
  skipped: number[];
  failed: { index: number; error: string }[];
  /** Rows not started because the pool was drained. */
  notStarted: number[];
  interrupted: boolean;
  seconds: number;
}

function gridThreads(grid: GridFile): number {
  const threads = [...new Set(grid.rows.map((r) => r.spec.engine.threads))];
  if (threads.length !== 1) throw new Error(`the grid's rows were planned for different thread counts (${threads.join(', ')})`);
  return threads[0];
}

export async function runPool(grid: GridFile, options: PoolOptions): Promise<PoolSummary> {
  const started = Date.now();
  const planned = gridThreads(grid);
  const threads = options.threads ?? planned;
  if (threads !== planned) {
    throw new Error(`--threads ${threads}: the grid's rows were planned for ${planned} thread(s) (results depend on it); plan it again with --threads ${threads}`);
  }
  const cores = options.cores ?? os.availableParallelism();
  if (!Number.isInteger(options.jobs) || options.jobs < 1) throw new Error(`--jobs must be a positive integer, got ${options.jobs}`);
  if (options.jobs * threads > cores) {
    throw new Error(`--jobs ${options.jobs} x --threads ${threads} = ${options.jobs * threads} exceeds this machine's ${cores} cores`);
  }
  const storeDir = resolveStore(options.store ?? grid.store);
  fs.mkdirSync(path.join(storeDir, 'logs'), { recursive: true });
  const summary: PoolSummary = { done: [], doneEarlier: [], skipped: [], failed: [], notStarted: [], interrupted: false, seconds: 0 };
  const wanted = options.rows ?? grid.rows.map((r) => r.index);
  for (const i of wanted) if (!grid.rows[i]) throw new RangeError(`row ${i} does not exist: the grid has ${grid.rows.length} rows`);
  const queue: GridRow[] = [];
  for (const i of wanted) {
    if (rowStatus(grid, grid.rows[i], options.store).state === 'done') summary.doneEarlier.push(i);
    else queue.push(grid.rows[i]);
  }

  const display = options.display ?? (process.stdout.isTTY ? 'bar' : 'lines');
  const gridLog = path.join(storeDir, 'grid.log');
  const bars = display === 'bar'
    ? new cliProgress.MultiBar(
      {
        format: 'rows [{bar}] {value}/{total} done | {running} running | {failed} failed | ETA {left}',
        barsize: 24, barCompleteChar: '#', barIncompleteChar: '.', hideCursor: false, fps: 4,
      },
      cliProgress.Presets.legacy,
    )
    : null;
  const total = queue.length;
  const bar = bars?.create(total, 0, { running: 0, failed: 0, left: '--:--' });
  const running = new Map<number, ChildProcess>();
  const finishedSeconds: number[] = [];
  const say = (line: string) => {
    fs.appendFileSync(gridLog, `${new Date().toISOString()} ${line}\n`);
    if (bars) bars.log(`${line}\n`);
    else if (display === 'lines') console.log(line);
  };
  const redraw = () => {
    const finished = summary.done.length + summary.failed.length + summary.skipped.length;
    // ETA: the mean time of rows finished so far, over the rows still to go, `jobs` at a time.
    const mean = finishedSeconds.length ? finishedSeconds.reduce((a, b) => a + b, 0) / finishedSeconds.length : NaN;
    const left = Number.isFinite(mean) ? Math.ceil((total - finished) / options.jobs) * mean : NaN;
    bar?.update(finished, { running: running.size, failed: summary.failed.length, left: Number.isFinite(left) ? formatDuration(left) : '--:--' });
  };
  say(`[grid] ${grid.experiment} ${grid.profile} ${grid.dataset}: ${total} row(s) to run, ${summary.doneEarlier.length} done earlier; ${options.jobs} job(s) x ${threads} thread(s) -> ${storeDir}`);

  const stop = () => {
    if (summary.interrupted) return;
    summary.interrupted = true;
    say(`[grid] stopping: ${running.size} running row(s) interrupted (they resume from their checkpoints next time)`);
    for (const child of running.values()) child.kill('SIGTERM');
  };
  const onSigint = () => stop();
  // Ctrl-C, and a scheduler's or `kill`'s SIGTERM: the children are stopped too, never left running orphaned.
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  options.signal?.addEventListener('abort', stop);
  let next = 0;
  let draining = false;
  const drain = () => {
    if (draining || summary.interrupted) return;
    draining = true;
    say(`[grid] draining: ${running.size} running row(s) finish, ${queue.length - next} not started are left for the next call`);
  };
  process.on('SIGUSR2', drain);
  options.drain?.addEventListener('abort', drain);

  const runOneRow = async (row: GridRow) => {
    const rowStarted = Date.now();
    // The child's raw output (crashes included); the row's own lines go to its .log (reproductions/grid.ts run --row).
    // (kernel-lib is CommonJS for tslab, and execa is ES-module only: node's own spawn here.)
    const output = fs.openSync(rowOutputFile(storeDir, row), 'a');
    const child = spawn(process.execPath, options.workerArgs(row), {
      env: { ...process.env, KDCL_THREADS: String(threads) },
      stdio: ['ignore', output, output],
    });
    running.set(row.index, child);
    redraw();
    const exitCode = await new Promise<number>((resolve) => {
      child.on('error', () => resolve(127));
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
    fs.closeSync(output);
    running.delete(row.index);
    const seconds = (Date.now() - rowStarted) / 1000;
    const state = rowStatus(grid, row, options.store);
    // A row that finished before the stop counts as done; one killed by it is neither done nor failed.
    if (summary.interrupted && state.state !== 'done') return;
    if (state.state === 'done') {
      summary.done.push(row.index);
      finishedSeconds.push(seconds);
      const r = state.result;
      say(`row ${row.index} ${row.name}: done, AIA ${pct(r.aia)}, last ${pct(r.last)} (${formatDuration(seconds)})`);
    } else if (exitCode === 0 && state.state !== 'other-spec' && state.state !== 'corrupt') {
      summary.skipped.push(row.index);
      say(`row ${row.index} ${row.name}: ${state.state === 'running' ? `running in another worker (host ${state.host}, pid ${state.pid})` : 'skipped'}`);
    } else {
      const error = state.state === 'failed' ? state.error : state.state === 'pending' ? state.lastLogLine ?? `exit ${exitCode}` : `${state.state}`;
      summary.failed.push({ index: row.index, error });
      finishedSeconds.push(seconds);
      say(`row ${row.index} ${row.name}: FAILED: ${error} (log: ${path.relative(process.cwd(), rowLogFile(storeDir, row))})`);
    }
    redraw();
  };

  try {
    const workers = Array.from({ length: Math.min(options.jobs, queue.length) }, async () => {
      while (!summary.interrupted && !draining && next < queue.length) await runOneRow(queue[next++]);
    });
    await Promise.all(workers);
    if (draining) summary.notStarted = queue.slice(next).map((r) => r.index);
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    process.off('SIGUSR2', drain);
    options.signal?.removeEventListener('abort', stop);
    options.drain?.removeEventListener('abort', drain);
    redraw();
    bars?.stop();
  }
  summary.seconds = (Date.now() - started) / 1000;
  say(
    `[grid] ${summary.interrupted ? 'interrupted' : 'finished'}: ${summary.done.length} done, ${summary.failed.length} failed, ` +
      `${summary.skipped.length} left to other workers, ${summary.doneEarlier.length} done earlier` +
      `${draining ? `, ${summary.notStarted.length} not started (drained: ${summary.notStarted.join(',') || 'none'})` : ''} (${formatDuration(summary.seconds)})`,
  );
  return summary;
}

const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(2)}%`);

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}:${String(rest).padStart(2, '0')}`;
}
