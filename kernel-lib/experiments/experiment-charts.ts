/**
 * The experiments' vega-lite charts, drawn from the same seed-averaged summaries as the tables (analysis.ts):
 * accuracy after each task, and AIA / last accuracy bars.
 */
import type { ChartSpec } from '../viz/charts';
import { layout, mean, percent, ROW_HEADER, runLabel, summaries } from './analysis';
import { runKd, type ExperimentDefinition } from './experiments';
import type { RunResult } from './results';

export interface NamedChart {
  /** File-safe name, e.g. 'accuracy-curves'. */
  name: string;
  spec: ChartSpec;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

/** Accuracy on all seen classes after each task, one line per run (seed-averaged), faceted by scenario or softmax. */
function curvesChart(experiment: ExperimentDefinition, runs: RunResult[]): ChartSpec {
  const points = summaries(runs).flatMap((s) => {
    const done = runs.filter((r) => r.specId === s.first.specId && r.status === 'done');
    if (done.length === 0) return [];
    return done[0].seenClasses.map((classes, t) => ({
      label: runLabel(experiment, s.first),
      facet: experiment.name === 'replay-softmax' ? `${s.first.labels.softmax} softmax` : s.first.scenario,
      kd: s.first.kd ? 'KD' : 'no KD',
      seenClasses: classes,
      accuracy: percent(mean(done.map((r) => r.accuracies[t] ?? null))),
    }));
  });
  const facets = new Set(points.map((p) => p.facet)).size;
  const color = experiment.name === 'kd-removal' ? { field: 'method', type: 'nominal' as const, title: 'Method' } : { field: 'label', type: 'nominal' as const, title: ROW_HEADER[experiment.name] };
  const data = experiment.name === 'kd-removal' ? points.map((p) => ({ ...p, method: p.label.replace(' (no KD)', '') })) : points;
  const encoding = {
    x: { field: 'seenClasses', type: 'quantitative' as const, title: 'Classes seen' },
    y: { field: 'accuracy', type: 'quantitative' as const, title: 'Accuracy (%)', scale: { domain: [0, 100] } },
    color,
    ...(experiment.name === 'kd-removal' ? { strokeDash: { field: 'kd', type: 'nominal' as const, title: 'KD' } } : {}),
    tooltip: [{ field: 'label' }, { field: 'seenClasses' }, { field: 'accuracy' }],
  };
  const layer = { mark: { type: 'line' as const, point: true }, encoding };
  const title = `${experiment.surveyTable}: accuracy after each task`;
  if (facets > 1) {
    return {
      $schema: SCHEMA,
      title,
      data: { values: data },
      facet: { column: { field: 'facet', type: 'nominal', title: null } },
      spec: { width: 300, height: 240, ...layer },
    } as ChartSpec;
  }
  return { $schema: SCHEMA, title, data: { values: data }, width: 420, height: 260, ...layer } as ChartSpec;
}

/** AIA and last accuracy per row of the experiment's table, bars grouped by its variant (scenario, KD, softmax). */
function barsChart(experiment: ExperimentDefinition, runs: RunResult[]): ChartSpec {
  const order = [...new Set(experiment.runs.map((r) => layout(experiment, { ...r, kd: runKd(r) }).row))];
  const values = summaries(runs).flatMap((s) => {
    const { row, group } = layout(experiment, s.first);
    const variant = group.trim() || 'all';
    return (
      [
        ['AIA', s.aia],
        ['Last accuracy', s.last],
      ] as const
    )
      .filter(([, v]) => v !== null)
      .map(([metric, v]) => ({ row, variant, metric, value: percent(v) }));
  });
  const variants = new Set(values.map((v) => v.variant)).size;
  return {
    $schema: SCHEMA,
    title: `${experiment.surveyTable}: AIA and last accuracy`,
    data: { values },
    facet: { row: { field: 'metric', type: 'nominal', title: null } },
    spec: {
      width: Math.max(300, order.length * (variants > 1 ? 34 : 24)),
      height: 160,
      mark: 'bar',
      encoding: {
        x: { field: 'row', type: 'nominal', sort: order, title: ROW_HEADER[experiment.name], axis: { labelAngle: -30 } },
        y: { field: 'value', type: 'quantitative', title: '%' },
        ...(variants > 1
          ? { xOffset: { field: 'variant', type: 'nominal' }, color: { field: 'variant', type: 'nominal', title: null } }
          : { color: { field: 'row', type: 'nominal', legend: null } }),
        tooltip: [{ field: 'row' }, { field: 'variant' }, { field: 'metric' }, { field: 'value' }],
      },
    },
  } as ChartSpec;
}

/** The experiment's charts: accuracy curves and AIA / last bars. */
export function experimentCharts(experiment: ExperimentDefinition, runs: RunResult[]): NamedChart[] {
  return [
    { name: 'accuracy-curves', spec: curvesChart(experiment, runs) },
    { name: 'aia-last', spec: barsChart(experiment, runs) },
  ];
}
