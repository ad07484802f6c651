/**
 * What a run has learnt and forgotten so far, for the quickstart notebook: the accuracy matrix acc[t][j] (after
 * task t, on task j's classes) as a table and a heatmap, accuracy curves, and forgetting per task (FACIL's
 * definition, via kernel-lib/metrics) as a table and a chart. Accuracies are shown in percent.
 */
import * as aq from 'arquero';
import { backwardTransfer, forgetting, forgettingPerTask } from '../metrics/index';
import type { RunMetrics } from '../train/metrics';
import type { Run } from '../train/run';
import type { ChartSpec } from '../viz/charts';
import { showChart } from '../viz/charts';
import { displayHtml } from '../viz/display';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
const percent = (x: number) => (Number.isFinite(x) ? Math.round(x * 1000) / 10 : null);

function metricsOf(source: Run | RunMetrics): RunMetrics {
  return 'state' in source && 'trainTask' in source ? (source as Run).state.metrics : (source as RunMetrics);
}

function checkLearnt(fn: string, metrics: RunMetrics): void {
  if (metrics.steps.length === 0) throw new Error(`kernel-lib/analysis ${fn}: no task learnt yet; call \`await run.trainTask()\` first`);
}

/** The accuracy matrix in wide form: one row per step ('after task t'), a column per task, and 'all seen'. */
export function accuracyMatrixTable(source: Run | RunMetrics): aq.ColumnTable {
  const metrics = metricsOf(source);
  checkLearnt('accuracyMatrixTable', metrics);
  const tasks = metrics.totalTasks;
  const columns: Record<string, (string | number | null)[]> = { after: [] };
  for (let j = 0; j < tasks; j++) columns[`task ${j} (%)`] = [];
  columns['all seen (%)'] = [];
  metrics.steps.forEach((step, t) => {
    columns.after.push(`task ${t}`);
    for (let j = 0; j < tasks; j++) columns[`task ${j} (%)`].push(j <= t ? percent(step.perTask[j]) : null);
    columns['all seen (%)'].push(percent(step.accuracy));
  });
  return aq.table(columns);
}

/** Long-form cells of the accuracy matrix (after, task, accuracy in percent), for charts. */
export function accuracyCells(source: Run | RunMetrics): { after: number; task: number; accuracy: number | null }[] {
  const metrics = metricsOf(source);
  return metrics.accuracyMatrix.flatMap((row, t) => row.map((acc, j) => ({ after: t, task: j, accuracy: percent(acc) })));
}

/**
 * Heatmap of the accuracy matrix: rows = after which task, columns = whose classes, with the percentages written
 * in. The diagonal is each task just after learning it; forgetting is how the colour fades down a column.
 */
export function accuracyMatrixChart(source: Run | RunMetrics, options: { title?: string } = {}): ChartSpec {
  const metrics = metricsOf(source);
  checkLearnt('accuracyMatrixChart', metrics);
  const cells = accuracyCells(metrics);
  const encoding = {
    x: { field: 'task', type: 'ordinal', title: 'accuracy on the classes of task', axis: { labelAngle: 0, orient: 'top' } },
    y: { field: 'after', type: 'ordinal', title: 'after training task' },
  };
  const side = 60 * Math.max(2, metrics.totalTasks);
  return {
    $schema: SCHEMA,
    title: options.title ?? 'Accuracy matrix (%)',
    data: { values: cells },
    width: side,
    height: 60 * Math.max(2, metrics.steps.length),
    encoding,
    layer: [
      {
        mark: 'rect',
        encoding: {
          color: { field: 'accuracy', type: 'quantitative', title: 'accuracy (%)', scale: { scheme: 'greens', domain: [0, 100] } },
          tooltip: [
            { field: 'after', title: 'after task' },
            { field: 'task', title: 'classes of task' },
            { field: 'accuracy', title: 'accuracy (%)' },
          ],
        },
      },
      {
        mark: { type: 'text', fontSize: 13 },
        encoding: {
          text: { field: 'accuracy', type: 'quantitative', format: '.1f' },
          color: { condition: { test: 'datum.accuracy > 60', value: 'white' }, value: 'black' },
        },
      },
    ],
  } as unknown as ChartSpec;
}

/** Accuracy on each task's classes after every step (one line per task), and on all seen classes (dashed). */
export function accuracyCurvesChart(source: Run | RunMetrics, options: { title?: string } = {}): ChartSpec {
  const metrics = metricsOf(source);
  checkLearnt('accuracyCurvesChart', metrics);
  const values = [
    ...accuracyCells(metrics).map((c) => ({ after: c.after, series: `task ${c.task}`, accuracy: c.accuracy, kind: 'task' })),
    ...metrics.steps.map((s, t) => ({ after: t, series: 'all seen classes', accuracy: percent(s.accuracy), kind: 'all' })),
  ];
  return {
    $schema: SCHEMA,
    title: options.title ?? 'Accuracy after each task',
    data: { values },
    width: 320,
    height: 220,
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'after', type: 'ordinal', title: 'after training task', axis: { labelAngle: 0 } },
      y: { field: 'accuracy', type: 'quantitative', title: 'accuracy (%)', scale: { domain: [0, 100] } },
      color: { field: 'series', type: 'nominal', title: null },
      strokeDash: { field: 'kind', type: 'nominal', legend: null, scale: { domain: ['task', 'all'], range: [[1, 0], [5, 4]] } },
      tooltip: [
        { field: 'series', title: 'classes' },
        { field: 'after', title: 'after task' },
        { field: 'accuracy', title: 'accuracy (%)' },
      ],
    },
  } as unknown as ChartSpec;
}

/** One row per old task after the last step: accuracy just after learning it, its best, now, and the forgetting. */
export interface ForgettingRow {
  task: number;
  /** acc[j][j]: right after learning task j. */
  justLearnt: number;
  /** max over earlier steps k < t of acc[k][j]. */
  best: number;
  /** acc[t][j]: after the last step t. */
  now: number;
  /** best - now (FACIL). */
  forgetting: number;
}

export function forgettingRows(source: Run | RunMetrics): ForgettingRow[] {
  const metrics = metricsOf(source);
  checkLearnt('forgettingRows', metrics);
  const acc = metrics.accuracyMatrix;
  const t = acc.length - 1;
  const perTask = forgettingPerTask(acc, t);
  return perTask.map((f, j) => ({ task: j, justLearnt: acc[j][j], best: f + acc[t][j], now: acc[t][j], forgetting: f }));
}

/** Forgetting per old task as a table (percent), plus the run's AIA, last accuracy, average forgetting and BWT. */
export function forgettingTable(source: Run | RunMetrics): aq.ColumnTable {
  const rows = forgettingRows(source).map((r) => ({
    task: r.task,
    'just learnt (%)': percent(r.justLearnt),
    'best (%)': percent(r.best),
    'now (%)': percent(r.now),
    'forgetting (points)': percent(r.forgetting),
  }));
  return rows.length ? aq.from(rows) : aq.table({ task: [], 'just learnt (%)': [], 'best (%)': [], 'now (%)': [], 'forgetting (points)': [] });
}

/** The run's summary numbers in percent (AIA, last accuracy, FACIL forgetting, BWT) as a one-row table. */
export function summaryTable(source: Run | RunMetrics): aq.ColumnTable {
  const metrics = metricsOf(source);
  checkLearnt('summaryTable', metrics);
  const acc = metrics.accuracyMatrix;
  return aq.from([
    {
      'tasks learnt': metrics.steps.length,
      'AIA (%)': percent(metrics.aia),
      'last accuracy (%)': percent(metrics.last),
      'average forgetting (points)': percent(forgetting(acc)),
      'BWT (points)': percent(backwardTransfer(acc)),
    },
  ]);
}

/** Grouped bars per old task: accuracy just after learning it and now; the gap is what was forgotten. */
export function forgettingChart(source: Run | RunMetrics, options: { title?: string } = {}): ChartSpec {
  const rows = forgettingRows(source);
  const values = rows.flatMap((r) => [
    { task: r.task, when: 'just after learning it', accuracy: percent(r.justLearnt), forgetting: percent(r.forgetting) },
    { task: r.task, when: 'after the last task', accuracy: percent(r.now), forgetting: percent(r.forgetting) },
  ]);
  return {
    $schema: SCHEMA,
    title: options.title ?? 'Forgetting: accuracy on each old task, then and now',
    data: { values },
    width: 90 * Math.max(1, rows.length),
    height: 220,
    mark: 'bar',
    encoding: {
      x: { field: 'task', type: 'ordinal', title: 'classes of task', axis: { labelAngle: 0 } },
      xOffset: { field: 'when', sort: ['just after learning it', 'after the last task'] },
      y: { field: 'accuracy', type: 'quantitative', title: 'accuracy (%)', scale: { domain: [0, 100] } },
      color: { field: 'when', type: 'nominal', title: null, sort: ['just after learning it', 'after the last task'], scale: { range: ['#54a24b', '#e45756'] } },
      tooltip: [
        { field: 'task', title: 'task' },
        { field: 'when' },
        { field: 'accuracy', title: 'accuracy (%)' },
        { field: 'forgetting', title: 'forgetting (points)' },
      ],
    },
  } as unknown as ChartSpec;
}

function showTable(table: aq.ColumnTable): void {
  // Cells of tasks not learnt yet are null: shown empty.
  displayHtml(table.toHTML({ null: () => '' }), table.toMarkdown());
}

/**
 * Shows the accuracy matrix so far: the table, then the heatmap and (from the second task on) the curves.
 * Returns nothing, so a notebook cell ending with it shows no value (the charts' functions give the specs).
 */
export async function showProgress(run: Run | RunMetrics): Promise<void> {
  showTable(accuracyMatrixTable(run));
  await showChart(accuracyMatrixChart(run));
  if (metricsOf(run).steps.length > 1) await showChart(accuracyCurvesChart(run));
}

/** Shows forgetting after the last task learnt: the summary, the per-task table and the chart. */
export async function showForgetting(run: Run | RunMetrics): Promise<void> {
  const metrics = metricsOf(run);
  if (metrics.steps.length < 2) throw new Error('kernel-lib/analysis showForgetting: forgetting needs at least two tasks learnt');
  showTable(summaryTable(metrics));
  showTable(forgettingTable(metrics));
  await showChart(forgettingChart(metrics));
}
