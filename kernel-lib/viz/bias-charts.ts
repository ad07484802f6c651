/**
 * Vega-lite 5 charts of the bias views (kernel-lib/analysis/bias): the arrival-ordered confusion matrix, the
 * task-prediction histogram, per-class weight norms and biases, and mean old / new logits.
 *
 * Every chart takes a list of BiasViews: several models or score variants (raw vs BiC-corrected, separated vs global
 * softmax) become side-by-side panels, and several tasks a dropdown ("after task") that picks the one shown. In
 * JupyterLab the charts are interactive (the dropdown, tooltips, legend clicks that highlight a task or old / new
 * classes); the static SVG shows the default task (the `task` option, else the latest one).
 */
import * as aq from 'arquero';
import type { ChartSpec } from './charts';
import { showChart } from './charts';
import { displayBundle, displayHtml } from './display';
import type { BiasViews } from '../analysis/bias';
import { biasSummary, compareBias, describeBias } from '../analysis/bias-summary';
import { confusionRows, taskHistogramRows, classifierRows, meanLogitRows, panelLabels, type Row } from './bias-chart-data';

export { confusionRows, taskHistogramRows, classifierRows, meanLogitRows } from './bias-chart-data';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
/** Old classes blue, the current task's classes red (the recency bias is "red is bigger"). */
const GROUP_COLORS = { domain: ['old', 'new'], range: ['#4c78a8', '#e45756'] };
const TASK_PARAM = 'afterTask';

export interface BiasChartOptions {
  title?: string;
  /** Task shown first (and in the static SVG) when the views span several tasks; default the latest. */
  task?: number;
  /** Width and height of one panel in pixels. */
  width?: number;
  height?: number;
}

interface Layout {
  panels: string[];
  tasks: number[];
  defaultTask: number;
}

function layoutOf(fn: string, views: readonly BiasViews[], options: BiasChartOptions): Layout {
  if (views.length === 0) throw new Error(`kernel-lib/viz/bias-charts ${fn}: no views given`);
  const labels = panelLabels(views);
  const tasks = [...new Set(views.map((v) => v.task))].sort((a, b) => a - b);
  const defaultTask = options.task ?? tasks[tasks.length - 1];
  if (!tasks.includes(defaultTask)) {
    throw new Error(`kernel-lib/viz/bias-charts ${fn}: task ${defaultTask} is not among the views' tasks (${tasks.join(', ')})`);
  }
  return { panels: [...new Set(labels)], tasks, defaultTask };
}

/** Top-level params and filter: a dropdown over the tasks when there are several. */
function taskSelection(layout: Layout): { params: object[]; filter: object[] } {
  if (layout.tasks.length < 2) return { params: [], filter: [] };
  return {
    params: [{ name: TASK_PARAM, value: layout.defaultTask, bind: { input: 'select', options: layout.tasks, name: 'after task ' } }],
    filter: [{ filter: `datum.task == ${TASK_PARAM}` }],
  };
}

/** Wraps a single-panel spec in a column facet when there are several panels. */
function faceted(layout: Layout, inner: Record<string, unknown>, top: Record<string, unknown>): ChartSpec {
  if (layout.panels.length < 2) {
    // One unit spec: the task dropdown and the chart's own selections share its params.
    const params = [...((top.params as object[]) ?? []), ...((inner.params as object[]) ?? [])];
    return { ...top, ...inner, params } as unknown as ChartSpec;
  }
  return {
    ...top,
    facet: { column: { field: 'panel', type: 'nominal', title: null, sort: layout.panels, header: { labelFontSize: 12, labelFontWeight: 'bold' } } },
    spec: inner,
  } as unknown as ChartSpec;
}

function title(text: string, layout: Layout, options: BiasChartOptions): object {
  // With a dropdown the subtitle follows it (the static SVG shows the default task).
  const subtitle = layout.tasks.length > 1 ? { expr: `'after task ' + ${TASK_PARAM} + ' (another task: the dropdown below the chart)'` } : `after task ${layout.tasks[0]}`;
  return { text: options.title ?? text, subtitle };
}

// ---------------------------------------------------------------- charts

/**
 * Heatmap of the confusion matrix, true class (rows) against predicted class (columns), classes in arrival
 * order; colour = share of the true class's test samples; lines mark task boundaries. Task-recency bias shows as
 * mass in the columns of the newest task.
 */
export function confusionChart(views: readonly BiasViews[], options: BiasChartOptions = {}): ChartSpec {
  const layout = layoutOf('confusionChart', views, options);
  const { params, filter } = taskSelection(layout);
  const size = { width: options.width ?? 240, height: options.height ?? 240 };
  const axis = (t: string) => ({ title: t, format: 'd', tickMinStep: 1, grid: false });
  const inner = {
    ...size,
    layer: [
      {
        transform: [...filter, { filter: "datum.kind == 'cell'" }, { calculate: 'datum.predictedClass + 1', as: 'predictedEnd' }, { calculate: 'datum.trueClass + 1', as: 'trueEnd' }],
        mark: { type: 'rect' },
        encoding: {
          x: { field: 'predictedClass', type: 'quantitative', axis: axis('predicted class (arrival order)') },
          x2: { field: 'predictedEnd' },
          y: { field: 'trueClass', type: 'quantitative', axis: axis('true class'), scale: { reverse: true } },
          y2: { field: 'trueEnd' },
          color: { field: 'share', type: 'quantitative', title: 'share of class', scale: { scheme: 'blues', domain: [0, 1] } },
          tooltip: [
            { field: 'trueClass', title: 'true class' },
            { field: 'trueTask', title: 'true task' },
            { field: 'predictedClass', title: 'predicted class' },
            { field: 'predictedTask', title: 'predicted task' },
            { field: 'count', title: 'samples' },
            { field: 'share', title: 'share', format: '.1%' },
          ],
        },
      },
      {
        transform: [...filter, { filter: "datum.kind == 'boundary'" }],
        mark: { type: 'rule', color: '#e45756', strokeDash: [4, 3], opacity: 0.8 },
        encoding: { x: { field: 'boundary', type: 'quantitative' } },
      },
      {
        transform: [...filter, { filter: "datum.kind == 'boundary'" }],
        mark: { type: 'rule', color: '#e45756', strokeDash: [4, 3], opacity: 0.8 },
        encoding: { y: { field: 'boundary', type: 'quantitative' } },
      },
    ],
  };
  return faceted(layout, inner, {
    $schema: SCHEMA,
    title: title('Confusion matrix (classes in arrival order)', layout, options),
    data: { values: confusionRows(views) },
    params,
  });
}

/**
 * Stacked bars: for the test samples of each task, the share predicted as each task's classes. A model without
 * bias has one colour per bar (its own task); recency bias stacks the newest task's colour on every bar.
 * Click a legend entry to highlight one predicted task.
 */
export function taskHistogramChart(views: readonly BiasViews[], options: BiasChartOptions = {}): ChartSpec {
  const layout = layoutOf('taskHistogramChart', views, options);
  const { params, filter } = taskSelection(layout);
  const inner = {
    width: options.width ?? 220,
    height: options.height ?? 220,
    transform: filter,
    params: [{ name: 'predicted', select: { type: 'point', fields: ['predictedTask'] }, bind: 'legend' }],
    mark: { type: 'bar', stroke: 'white', strokeWidth: 0.5 },
    encoding: {
      x: { field: 'sampleTask', type: 'ordinal', title: 'test samples of task', axis: { labelAngle: 0 } },
      y: { field: 'share', type: 'quantitative', title: 'share of the task\u2019s samples', stack: 'zero', scale: { domain: [0, 1] }, axis: { format: '%' } },
      color: { field: 'predictedTask', type: 'ordinal', title: 'predicted as task', scale: { scheme: 'tableau10' } },
      order: { field: 'predictedTask', type: 'ordinal' },
      opacity: { condition: { param: 'predicted', value: 1 }, value: 0.25 },
      tooltip: [
        { field: 'sampleTask', title: 'samples of task' },
        { field: 'predictedTask', title: 'predicted as task' },
        { field: 'count', title: 'samples' },
        { field: 'share', title: 'share', format: '.1%' },
      ],
    },
  };
  return faceted(layout, inner, {
    $schema: SCHEMA,
    title: title('Task-prediction histogram', layout, options),
    data: { values: taskHistogramRows(views) },
    params,
  });
}

function classifierPanel(measure: 'weightNorm' | 'bias', label: string, filter: object[], options: BiasChartOptions): Record<string, unknown> {
  const base = [...filter, { filter: `isValid(datum.${measure})` }, { calculate: 'datum.class - 0.4', as: 'left' }, { calculate: 'datum.class + 0.4', as: 'right' }];
  return {
    width: options.width ?? 300,
    height: options.height ? Math.round(options.height / 2) : 130,
    layer: [
      {
        transform: base,
        params: [{ name: `${measure}Group`, select: { type: 'point', fields: ['group'] }, bind: 'legend' }],
        mark: { type: 'rect' },
        encoding: {
          x: { field: 'left', type: 'quantitative', title: 'class (arrival order)', axis: { format: 'd', tickMinStep: 1 }, scale: { nice: false, zero: false } },
          x2: { field: 'right' },
          y: { field: measure, type: 'quantitative', title: label },
          y2: { datum: 0 },
          color: { field: 'group', type: 'nominal', title: 'classes', scale: GROUP_COLORS },
          opacity: { condition: { param: `${measure}Group`, value: 1 }, value: 0.25 },
          tooltip: [
            { field: 'class' },
            { field: 'classTask', title: 'task' },
            { field: 'group', title: 'old / new' },
            { field: measure, title: label, format: '.4f' },
          ],
        },
      },
      {
        // The mean of each group, drawn across its classes.
        transform: [
          ...base,
          { aggregate: [{ op: 'mean', field: measure, as: 'mean' }, { op: 'min', field: 'left', as: 'from' }, { op: 'max', field: 'right', as: 'to' }], groupby: ['group'] },
        ],
        mark: { type: 'rule', strokeWidth: 2, strokeDash: [5, 3], color: '#333' },
        encoding: {
          x: { field: 'from', type: 'quantitative' },
          x2: { field: 'to' },
          y: { field: 'mean', type: 'quantitative' },
          tooltip: [{ field: 'group', title: 'old / new' }, { field: 'mean', title: `mean ${label}`, format: '.4f' }],
        },
      },
    ],
  };
}

/**
 * Per-class weight norms (and biases, for heads that have them) of the classifier, old classes blue, the current
 * task's red; dashed lines are each group's mean. LUCIR's and BiC's observation: the new classes' norms and
 * biases are larger after plain training on imbalanced data.
 */
export function classifierChart(views: readonly BiasViews[], options: BiasChartOptions = {}): ChartSpec {
  const withHead = views.filter((v) => v.classifier);
  if (withHead.length === 0) throw new Error('kernel-lib/viz/bias-charts classifierChart: none of the views has classifier statistics (the head is not linear or cosine)');
  const layout = layoutOf('classifierChart', withHead, options);
  const { params, filter } = taskSelection(layout);
  const hasBias = withHead.some((v) => v.classifier?.biases);
  const rows = [classifierPanel('weightNorm', 'weight norm', filter, options), ...(hasBias ? [classifierPanel('bias', 'bias', filter, options)] : [])];
  const wrap = (inner: Record<string, unknown>) =>
    layout.panels.length < 2
      ? inner
      : { facet: { column: { field: 'panel', type: 'nominal', title: null, sort: layout.panels, header: { labelFontSize: 12, labelFontWeight: 'bold' } } }, spec: inner };
  return {
    $schema: SCHEMA,
    title: title(hasBias ? 'Classifier weight norms and biases per class' : 'Classifier weight norms per class', layout, options),
    data: { values: classifierRows(withHead) },
    params,
    vconcat: rows.map(wrap),
  } as unknown as ChartSpec;
}

/** Mean logit of each task's classes over all test samples: BiC's observation that the new classes' logits are larger. */
export function meanLogitsChart(views: readonly BiasViews[], options: BiasChartOptions = {}): ChartSpec {
  const layout = layoutOf('meanLogitsChart', views, options);
  const { params, filter } = taskSelection(layout);
  const inner = {
    width: options.width ?? 200,
    height: options.height ?? 200,
    transform: filter,
    mark: { type: 'bar' },
    encoding: {
      x: { field: 'classTask', type: 'ordinal', title: 'classes of task', axis: { labelAngle: 0 } },
      y: { field: 'meanLogit', type: 'quantitative', title: 'mean logit (all test samples)' },
      color: { field: 'group', type: 'nominal', title: 'classes', scale: GROUP_COLORS },
      tooltip: [
        { field: 'classTask', title: 'classes of task' },
        { field: 'group', title: 'old / new' },
        { field: 'meanLogit', title: 'mean logit', format: '.3f' },
      ],
    },
  };
  return faceted(layout, inner, {
    $schema: SCHEMA,
    title: title('Mean logits of old and new classes', layout, options),
    data: { values: meanLogitRows(views) },
    params,
  });
}

/** The four charts in the order the notebook shows them (the classifier chart only when a view has a head). */
export function biasCharts(views: readonly BiasViews[], options: BiasChartOptions = {}): { name: string; spec: ChartSpec }[] {
  const charts = [
    { name: 'confusion', spec: confusionChart(views, options) },
    { name: 'task-histogram', spec: taskHistogramChart(views, options) },
  ];
  if (views.some((v) => v.classifier)) charts.push({ name: 'classifier', spec: classifierChart(views, options) });
  charts.push({ name: 'mean-logits', spec: meanLogitsChart(views, options) });
  return charts;
}

/** The numbers behind the views, one row per view (accuracies and shares as fractions). */
export function biasSummaryTable(views: readonly BiasViews[]): aq.ColumnTable {
  return aq.from(views.map(biasSummary));
}

const percent = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : '–');
const fixed = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '–');

/** The summary as an HTML table in the notebook (percentages and three decimals). */
export function showBiasSummary(views: readonly BiasViews[]): void {
  const rows = views.map(biasSummary).map((r) => ({
    model: r.model,
    scores: r.variant,
    'after task': r.task,
    accuracy: percent(r.accuracy),
    'old acc.': percent(r.oldAccuracy),
    'new acc.': percent(r.newAccuracy),
    'predicted new': percent(r.newPredictionShare),
    'samples new': percent(r.newSampleShare),
    'logit old': fixed(r.meanOldLogit),
    'logit new': fixed(r.meanNewLogit),
    'norm old': fixed(r.meanOldWeightNorm),
    'norm new': fixed(r.meanNewWeightNorm),
    'bias old': fixed(r.meanOldBias),
    'bias new': fixed(r.meanNewBias),
  }));
  const table = aq.from(rows);
  displayHtml(table.toHTML(), table.toMarkdown());
}

export type BiasChartName = 'confusion' | 'task-histogram' | 'classifier' | 'mean-logits';

/**
 * Shows the charts (vega-lite + static SVG each), all four or the ones named. Returns nothing, so a notebook cell
 * ending with it shows no value; biasCharts gives the specs (renderSvg the SVGs) for saving.
 */
export async function showBiasCharts(views: readonly BiasViews[], options: BiasChartOptions & { charts?: BiasChartName[] } = {}): Promise<void> {
  for (const chart of biasCharts(views, options)) {
    if (!options.charts || options.charts.includes(chart.name as BiasChartName)) await showChart(chart.spec);
  }
}

/**
 * Shows, as a markdown sentence computed from the numbers, how much the views after `task` lean towards the new
 * classes: one view is described (describeBias), two are compared (compareBias: e.g. raw vs BiC-corrected).
 */
export function showBiasVerdict(views: readonly BiasViews[], task: number): void {
  const picked = views.filter((v) => v.task === task);
  if (picked.length === 0) throw new Error(`kernel-lib/viz/bias-charts showBiasVerdict: no view after task ${task} (tasks: ${[...new Set(views.map((v) => v.task))].join(', ')})`);
  const sentence = picked.length >= 2 ? compareBias(picked[0], picked[1]) : describeBias(picked[0]);
  displayBundle({ 'text/markdown': sentence, 'text/plain': sentence });
}
