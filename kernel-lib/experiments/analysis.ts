/**
 * From run results to what a notebook shows: the experiment's table in the survey's layout (arquero), one row per
 * run, accuracy curves, and the one-sentence verdict on the experiment's claim (its vega-lite charts are in
 * experiment-charts.ts). Accuracies are shown in percent (two decimals); seeds are averaged.
 */
import * as aq from 'arquero';
import { KD_LOSS_LABELS, METHOD_LABELS, runKd, type ExperimentDefinition } from './experiments';
import type { RunResult } from './results';

export const percent = (x: number | null | undefined): number | null => (x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 10000) / 100);

export function mean(values: (number | null)[]): number | null {
  const ok = values.filter((v): v is number => v !== null && Number.isFinite(v));
  return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : null;
}

/** The runs of one spec (all seeds), in the experiment's run order. */
function bySpec(runs: RunResult[]): Map<string, RunResult[]> {
  const groups = new Map<string, RunResult[]>();
  for (const run of runs) groups.set(run.specId, [...(groups.get(run.specId) ?? []), run]);
  return groups;
}

/** Seed-averaged metrics of one spec (null where no seed finished). */
export interface SpecSummary {
  first: RunResult;
  aia: number | null;
  last: number | null;
  forgetting: number | null;
  done: number;
  failed: number;
}

export function summaries(runs: RunResult[]): SpecSummary[] {
  return [...bySpec(runs).values()].map((group) => {
    const done = group.filter((r) => r.status === 'done');
    return {
      first: group[0],
      aia: mean(done.map((r) => r.aia)),
      last: mean(done.map((r) => r.last)),
      forgetting: mean(done.map((r) => r.forgetting)),
      done: done.length,
      failed: group.length - done.length,
    };
  });
}

const methodLabel = (method: string) => METHOD_LABELS[method] ?? method;
const lossLabel = (loss: string) => KD_LOSS_LABELS[loss as keyof typeof KD_LOSS_LABELS] ?? loss;
const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** How a run is named in tables and legends. */
export function runLabel(experiment: ExperimentDefinition, run: Pick<RunResult, 'method' | 'labels' | 'kd'>): string {
  switch (experiment.name) {
    case 'main-comparison':
      return methodLabel(run.method);
    case 'kd-removal':
      return `${methodLabel(run.method)}${run.kd ? '' : ' (no KD)'}`;
    case 'standalone-kd':
      return lossLabel(run.labels.kdLoss);
    case 'replay-softmax':
      return `${lossLabel(run.labels.kdLoss)} / ${run.labels.softmax} softmax`;
  }
}

/** Row of the experiment's table a run belongs to, the column group it fills, and the metrics shown. */
export function layout(experiment: ExperimentDefinition, run: Pick<RunResult, 'method' | 'labels' | 'kd' | 'scenario'>): { row: string; group: string } {
  const scenarioPrefix = experiment.scenarios.length > 1 ? `${run.scenario} ` : '';
  switch (experiment.name) {
    case 'main-comparison':
      return { row: methodLabel(run.method), group: scenarioPrefix };
    case 'kd-removal':
      return { row: methodLabel(run.method), group: `${scenarioPrefix}${run.kd ? 'KD' : 'no KD'} ` };
    case 'standalone-kd':
      return { row: lossLabel(run.labels.kdLoss), group: scenarioPrefix };
    case 'replay-softmax':
      return { row: lossLabel(run.labels.kdLoss), group: `${scenarioPrefix}${capitalise(run.labels.softmax)} ` };
  }
}

export const ROW_HEADER: Record<ExperimentDefinition['name'], string> = {
  'main-comparison': 'Method',
  'kd-removal': 'Method',
  'standalone-kd': 'KD loss',
  'replay-softmax': 'KD loss',
};

/**
 * KD removal's change (no KD - KD) per table row and scenario prefix, paired by seed: the mean over the seeds both
 * runs finished, so a partial grid does not compare different seed sets.
 */
function pairedKdRemoval(experiment: ExperimentDefinition, runs: RunResult[]): Map<string, { aia: number | null; last: number | null }> {
  // Per table row and scenario prefix: each seed's run with KD and without.
  const pairs = new Map<string, { on: Map<number, RunResult>; off: Map<number, RunResult> }>();
  for (const run of runs.filter((r) => r.status === 'done')) {
    const prefix = experiment.scenarios.length > 1 ? `${run.scenario} ` : '';
    const key = `${layout(experiment, run).row}|${prefix}`;
    const pair = pairs.get(key) ?? { on: new Map(), off: new Map() };
    (run.kd ? pair.on : pair.off).set(run.seed, run);
    pairs.set(key, pair);
  }
  const out = new Map<string, { aia: number | null; last: number | null }>();
  for (const [key, { on, off }] of pairs) {
    const common = [...on.keys()].filter((seed) => off.has(seed));
    if (common.length === 0) continue;
    const change = (pick: (r: RunResult) => number | null) =>
      mean(common.map((seed) => {
        const [without, withKd] = [pick(off.get(seed)!), pick(on.get(seed)!)];
        return without === null || withKd === null ? null : without - withKd;
      }));
    out.set(key, { aia: change((r) => r.aia), last: change((r) => r.last) });
  }
  return out;
}

/**
 * The experiment's table: one row per method (or KD loss), columns per scenario / variant with AIA and last
 * accuracy in percent (and forgetting for the standalone losses; the change from removing KD for kd-removal, paired
 * by seed). Seeds are averaged; where the rows' cells average different numbers of seeds (a grid still running), a
 * last column 'Seeds' gives each cell group's count.
 */
export function experimentTable(experiment: ExperimentDefinition, runs: RunResult[]): aq.ColumnTable {
  const metrics: [string, keyof Pick<SpecSummary, 'aia' | 'last' | 'forgetting'>][] =
    experiment.name === 'standalone-kd' ? [['AIA', 'aia'], ['Last', 'last'], ['Forgetting', 'forgetting']] : [['AIA', 'aia'], ['Last', 'last']];
  const rows = new Map<string, Record<string, string | number | null>>();
  const columns: string[] = [ROW_HEADER[experiment.name]];
  // Rows and columns in the experiment's declared run order, so tables read the same with partial results.
  for (const spec of experiment.runs) {
    const { row, group } = layout(experiment, { ...spec, kd: runKd(spec) });
    if (!rows.has(row)) rows.set(row, { [ROW_HEADER[experiment.name]]: row });
    for (const [name] of metrics) if (!columns.includes(`${group}${name}`)) columns.push(`${group}${name}`);
  }
  // Seeds finished per row and column group: a partial grid can average different seed sets side by side.
  const seeds = new Map<string, Map<string, number>>();
  for (const summary of summaries(runs)) {
    const { row, group } = layout(experiment, summary.first);
    const target = rows.get(row) ?? { [ROW_HEADER[experiment.name]]: row };
    rows.set(row, target);
    for (const [name, key] of metrics) target[`${group}${name}`] = percent(summary[key]);
    if (summary.done > 0) seeds.set(row, (seeds.get(row) ?? new Map()).set(group, summary.done));
  }
  if (experiment.name === 'kd-removal') {
    const prefixes = [...new Set(experiment.runs.map((r) => (experiment.scenarios.length > 1 ? `${r.scenario} ` : '')))];
    const paired = pairedKdRemoval(experiment, runs);
    for (const prefix of prefixes) {
      for (const [name, key] of [['AIA', 'aia'], ['Last', 'last']] as const) {
        const column = `${prefix}Δ${name}`;
        columns.push(column);
        for (const [label, row] of rows) row[column] = percent(paired.get(`${label}|${prefix}`)?.[key]);
      }
    }
  }
  const counts = new Set([...seeds.values()].flatMap((m) => [...m.values()]));
  if (counts.size > 1) {
    columns.push('Seeds');
    for (const [label, row] of rows) {
      row.Seeds = [...(seeds.get(label) ?? new Map<string, number>())].map(([group, n]) => (group ? `${group.trim()} ${n}` : `${n}`)).join(', ') || null;
    }
  }
  const data: Record<string, (string | number | null)[]> = Object.fromEntries(columns.map((c) => [c, []]));
  for (const row of rows.values()) for (const c of columns) data[c].push(row[c] ?? null);
  return aq.table(data);
}

/** One row per run: identity, status, AIA / last / forgetting / BWT in percent, timing. */
export function runsTable(runs: RunResult[]): aq.ColumnTable {
  const labelKeys = [...new Set(runs.flatMap((r) => Object.keys(r.labels)))].filter((k) => k !== 'method');
  return aq.from(
    runs.map((r) => ({
      run: r.id,
      method: r.method,
      scenario: r.scenario,
      kd: r.kd,
      ...Object.fromEntries(labelKeys.map((k) => [k, r.labels[k] ?? null])),
      seed: r.seed,
      status: r.status,
      aia: percent(r.aia),
      last: percent(r.last),
      forgetting: percent(r.forgetting),
      bwt: percent(r.bwt),
      classifier: r.primary === 'method' ? 'method' : 'cnn',
      cnnAia: percent(r.cnn?.aia),
      cnnLast: percent(r.cnn?.last),
      tasks: r.accuracies.length,
      seconds: Math.round(r.seconds * 10) / 10,
      cpuSeconds: Math.round((r.cpuSeconds ?? 0) * 10) / 10,
      error: r.error ?? null,
    })),
  );
}

/** Accuracy (percent) after each task of each run, in long form. */
export function curvesTable(runs: RunResult[], label: (run: RunResult) => string = (r) => r.specId): aq.ColumnTable {
  const rows = runs.flatMap((r) =>
    r.accuracies.map((accuracy, task) => ({
      run: r.id,
      label: label(r),
      method: r.method,
      scenario: r.scenario,
      kd: r.kd,
      seed: r.seed,
      task,
      seenClasses: r.seenClasses[task],
      accuracy: percent(accuracy),
    })),
  );
  return rows.length
    ? aq.from(rows)
    : aq.table({ run: [], label: [], method: [], scenario: [], kd: [], seed: [], task: [], seenClasses: [], accuracy: [] });
}

// ---------------------------------------------------------------- verdicts

const fmt = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(1)}%`);
const points = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(1)} points`;

function doneSummaries(runs: RunResult[], keep: (r: RunResult) => boolean): SpecSummary[] {
  return summaries(runs.filter((r) => keep(r))).filter((s) => s.aia !== null);
}

function verdictMain(runs: RunResult[]): string {
  const b0 = doneSummaries(runs, (r) => r.scenario === 'b0-10' && r.role === 'method').sort((a, b) => b.aia! - a.aia!);
  if (b0.length === 0) return 'No b0-10 run finished, so the claim that BiC is best in B0 cannot be checked.';
  const best = b0[0];
  const bicRank = b0.findIndex((s) => s.first.method === 'bic');
  const of = b0.length === 10 ? 'of the ten' : `of the ${b0.length} methods that finished`;
  if (bicRank < 0) return `BiC did not finish in b0-10, so the claim cannot be checked; the best ${of} by AIA is ${methodLabel(best.first.method)} (${fmt(best.aia)}).`;
  const agrees = bicRank === 0;
  return agrees
    ? `Our run agrees with the claim: BiC has the best b0-10 AIA ${of} (${fmt(best.aia)}).`
    : `Our run does not agree with the claim: in b0-10 the best AIA ${of} is ${methodLabel(best.first.method)} (${fmt(best.aia)}), and BiC ranks ${bicRank + 1} (${fmt(b0[bicRank].aia)}).`;
}

function verdictKdRemoval(runs: RunResult[]): string {
  const on = doneSummaries(runs, (r) => r.kd);
  const off = doneSummaries(runs, (r) => !r.kd);
  const pairs = on
    .map((s) => ({ s, o: off.find((x) => x.first.method === s.first.method && x.first.scenario === s.first.scenario) }))
    .filter((p): p is { s: SpecSummary; o: SpecSummary } => !!p.o);
  if (pairs.length === 0) return 'No method finished both with and without KD, so the claim cannot be checked.';
  const lowered = pairs.filter((p) => p.o.aia! < p.s.aia!);
  const change = pairs.reduce((sum, p) => sum + (p.o.aia! - p.s.aia!), 0) / pairs.length;
  const agrees = lowered.length > pairs.length / 2;
  return `${agrees ? 'Our run agrees with the claim' : 'Our run does not agree with the claim'}: removing KD lowered AIA for ${lowered.length} of ${pairs.length} methods (mean change ${points(change)}).`;
}

function verdictStandalone(runs: RunResult[]): string {
  const all = doneSummaries(runs, () => true);
  const none = all.find((s) => s.first.labels.kdLoss === 'none');
  const losses = all.filter((s) => s.first.labels.kdLoss !== 'none').sort((a, b) => b.aia! - a.aia!);
  if (!none || losses.length === 0) return 'The no-KD row or every KD-loss row is missing, so the claim cannot be checked.';
  const beat = losses.filter((s) => s.aia! > none.aia!);
  const agrees = beat.length === losses.length;
  return `${agrees ? 'Our run agrees with the claim' : 'Our run does not agree with the claim'}: ${beat.length} of ${losses.length} KD losses beat no KD (${fmt(none.aia)} AIA); the best is ${lossLabel(losses[0].first.labels.kdLoss)} (${fmt(losses[0].aia)}).`;
}

function verdictReplay(runs: RunResult[]): string {
  const all = doneSummaries(runs, () => true);
  const gain = (softmax: string): { mean: number; n: number } | null => {
    const none = all.find((s) => s.first.labels.softmax === softmax && s.first.labels.kdLoss === 'none');
    const losses = all.filter((s) => s.first.labels.softmax === softmax && s.first.labels.kdLoss !== 'none');
    if (!none || losses.length === 0) return null;
    return { mean: losses.reduce((sum, s) => sum + (s.aia! - none.aia!), 0) / losses.length, n: losses.length };
  };
  const global = gain('global');
  const separated = gain('separated');
  if (!global || !separated) return 'A softmax is missing its no-KD row or its KD rows, so the claim cannot be checked.';
  const agrees = separated.mean > global.mean;
  return `${agrees ? 'Our run agrees with the claim' : 'Our run does not agree with the claim'}: on top of replay, KD changes AIA by ${points(global.mean)} on average under the global softmax and by ${points(separated.mean)} under the separated softmax.`;
}

/** One sentence, computed from the results: does our run agree with the experiment's claim? */
export function verdict(experiment: ExperimentDefinition, runs: RunResult[]): string {
  switch (experiment.name) {
    case 'main-comparison':
      return verdictMain(runs);
    case 'kd-removal':
      return verdictKdRemoval(runs);
    case 'standalone-kd':
      return verdictStandalone(runs);
    case 'replay-softmax':
      return verdictReplay(runs);
  }
}
