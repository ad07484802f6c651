/**
 * What a grid costs in CPU time: measured on its finished rows (each result's process CPU seconds, plus those its
 * checkpoint kept for the tasks done before a resume; a row on T threads counts T cores' work), and for the rest scaled from finished rows of the same run (another seed), or else
 * of the same method in the same scenario. A row with neither is left unestimated, and named.
 */
import type { RowStatus } from './store';
import { mean } from '../metrics/checks';
import type { RunResult } from '../experiments/results';

export interface GridCost {
  /** partial: rows resumed from checkpoints written before tasks recorded their CPU seconds (only their last session counted). */
  finished: { rows: number; cpuHours: number; wallHours: number; partial: string[] };
  /** Finished rows recorded from another experiment's identical run (provenance.sameRunAs): no cost here. */
  shared: number;
  /** Rows not finished whose cost is the mean of finished rows like them. */
  estimated: { rows: number; cpuHours: number };
  /** Of the estimated rows, those another experiment's grid plans too (runs once for both), by experiment. */
  plannedBeside: { experiment: string; rows: number; cpuHours: number }[];
  /** Rows not finished with no finished row to scale from. */
  unestimated: string[];
}

/**
 * A finished row's CPU seconds over all its sessions: this session's, plus the CPU seconds its checkpoint kept for
 * the tasks done before a resume. null where a resumed task's were not recorded (checkpoints of older code).
 */
export function rowCpuSeconds(result: Pick<RunResult, 'cpuSeconds' | 'resumedTasks' | 'taskCpuSeconds'>): number | null {
  const earlier = (result.taskCpuSeconds ?? []).slice(0, result.resumedTasks ?? 0);
  if (earlier.length < (result.resumedTasks ?? 0) || earlier.some((x) => typeof x !== 'number')) return null;
  return result.cpuSeconds + earlier.reduce((a: number, x) => a + (x as number), 0);
}

/** `plannedBeside`: row name -> the other experiment that plans the same run (store.ts runsPlannedBeside). */
export function gridCost(rows: readonly RowStatus[], plannedBeside: ReadonlyMap<string, string> = new Map()): GridCost {
  const done = rows.flatMap(({ row, status }) =>
    status.state === 'done' && status.result.cpuSeconds ? [{ row, result: status.result, cpu: rowCpuSeconds(status.result) }] : []);
  const own = done.filter((d) => !d.result.provenance?.sameRunAs);
  const byRun = new Map<string, number[]>();
  const byMethod = new Map<string, number[]>();
  // Rows whose earlier sessions' CPU is unknown are measured (partly) but do not scale the estimates.
  for (const { row, cpu } of done) {
    if (cpu === null) continue;
    const run = row.spec.run;
    byRun.set(run.id, [...(byRun.get(run.id) ?? []), cpu]);
    const key = `${run.method} ${run.scenario}`;
    byMethod.set(key, [...(byMethod.get(key) ?? []), cpu]);
  }
  let estimatedSeconds = 0;
  let estimatedRows = 0;
  const beside = new Map<string, { rows: number; seconds: number }>();
  const unestimated: string[] = [];
  for (const { row, status } of rows) {
    if (status.state === 'done') continue;
    const like = byRun.get(row.spec.run.id) ?? byMethod.get(`${row.spec.run.method} ${row.spec.run.scenario}`);
    if (!like) {
      unestimated.push(row.name);
      continue;
    }
    estimatedSeconds += mean(like);
    estimatedRows++;
    const other = plannedBeside.get(row.name);
    if (other) {
      const b = beside.get(other) ?? { rows: 0, seconds: 0 };
      beside.set(other, { rows: b.rows + 1, seconds: b.seconds + mean(like) });
    }
  }
  return {
    finished: {
      rows: own.length,
      cpuHours: own.reduce((a, d) => a + (d.cpu ?? d.result.cpuSeconds), 0) / 3600,
      wallHours: own.reduce((a, d) => a + d.result.seconds, 0) / 3600,
      partial: own.filter((d) => d.cpu === null).map((d) => d.row.name),
    },
    shared: done.length - own.length,
    estimated: { rows: estimatedRows, cpuHours: estimatedSeconds / 3600 },
    plannedBeside: [...beside].sort(([a], [b]) => a.localeCompare(b)).map(([experiment, b]) => ({ experiment, rows: b.rows, cpuHours: b.seconds / 3600 })),
    unestimated,
  };
}

/** One paragraph for `grid status`. */
export function describeCost(cost: GridCost): string {
  const { finished, shared, estimated, plannedBeside, unestimated } = cost;
  const partial = finished.partial.length
    ? `; ${finished.partial.length} of them resumed before tasks kept their CPU time, only their last session counted (${finished.partial.join(', ')})`
    : '';
  const parts = [`finished rows: ${finished.rows}, ${finished.cpuHours.toFixed(2)} CPU-hours measured (${finished.wallHours.toFixed(2)} h of row wall time${partial})`];
  if (shared) parts.push(`${shared} recorded from another experiment's identical runs, at no cost here`);
  if (estimated.rows) {
    const twins = plannedBeside.map((b) => ` (of which ${b.rows}, about ${b.cpuHours.toFixed(1)} CPU-hours, ${b.experiment} plans too: each runs once, for both)`).join('');
    parts.push(`${estimated.rows} more: about ${estimated.cpuHours.toFixed(1)} CPU-hours, scaled from finished rows of the same run or method and scenario${twins}`);
  }
  if (unestimated.length) parts.push(`${unestimated.length} with nothing finished to scale from (${unestimated.slice(0, 6).join(', ')}${unestimated.length > 6 ? ', ...' : ''})`);
  return `cost: ${parts.join('; ')}`;
}
