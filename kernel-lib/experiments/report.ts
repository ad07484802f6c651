/**
 * REPORT.md and the figures of an experiment's output folder: our table, the verdict on the experiment's claim,
 * our numbers beside the verified published ones for the same setting (references.ts), the charts as SVG, and
 * the caveats of the profile that produced them.
 */
import path from 'node:path';
import type * as aq from 'arquero';
import { writeFileAtomic } from '../train/checkpoint';
import { renderSvg } from '../viz/charts';
import { runLabel } from './analysis';
import { experimentCharts } from './experiment-charts';
import { METHOD_LABELS } from './experiments';
import { claimsSection } from './claims';
import { disagreementsSection } from './disagreements';
import { recencySection } from './recency';
import { REFERENCES, SOURCES_CHECKED, referencesFor, type ReferenceNumber } from './references';
import type { ExperimentOutcome, RunResult } from './runner';

function writeText(file: string, text: string): void {
  writeFileAtomic(file, new TextEncoder().encode(text));
}

function cell(value: unknown): string {
  if (value === null || value === undefined || (typeof value === 'number' && !Number.isFinite(value))) return '—';
  if (typeof value === 'number') return value.toFixed(2);
  return String(value).replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A GitHub-flavoured markdown table of an arquero table. */
export function markdownTable(table: aq.ColumnTable): string {
  const columns = table.columnNames();
  const rows = table.objects() as Record<string, unknown>[];
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(columns), line(columns.map(() => '---')), ...rows.map((row) => line(columns.map((c) => cell(row[c]))))].join('\n');
}

const pct = (x: number | null) => (x === null ? '—' : (100 * x).toFixed(2));
const metricName = (m: ReferenceNumber['metric']) => (m === 'aia' ? 'AIA' : 'last accuracy');
const shape = (s: { initial: number; increment: number }) => `first task ${s.initial} classes, then ${s.increment} per task`;

/** Our numbers beside the published ones for the same dataset, method and scenario shape. */
function referencesSection(outcome: ExperimentOutcome): string[] {
  const done = outcome.results.runs.filter((r) => r.status === 'done');
  const matches = done.flatMap((run) =>
    referencesFor(run.method, outcome.dataset, run.scenarioShape).map((ref) => ({ run, ref })),
  );
  const lines = ['## Beside published numbers', ''];
  if (matches.length) {
    lines.push('| Run | Scenario | Metric | Ours (%) | Published (%) | Measured by | Source | Setting notes |', '| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const { run, ref } of matches) {
      const ours = ref.metric === 'aia' ? run.aia : run.last;
      lines.push(`| ${runLabel(outcome.experiment, run)} | ${run.scenario} | ${metricName(ref.metric)} | ${pct(ours)} | ${ref.value.toFixed(2)} | ${ref.kind} | ${cell(ref.citation)} | ${cell(ref.note)} |`);
    }
  } else {
    lines.push(
      `No verified published number matches this setting (dataset \`${outcome.dataset}\`, methods and scenario shapes of these runs). ` +
        'Published numbers are for the real datasets with full training: they can only be compared at the paper profile.',
    );
  }
  // Same methods and scenario shapes on another dataset: for orientation only, clearly apart.
  const shapes = new Map(done.map((r) => [`${r.method}|${r.scenarioShape.initial}|${r.scenarioShape.increment}`, r]));
  const elsewhere = REFERENCES.filter(
    (ref) => ref.dataset !== outcome.dataset && shapes.has(`${ref.method}|${ref.scenario.initial}|${ref.scenario.increment}`),
  );
  if (elsewhere.length) {
    lines.push('', `For orientation only (a different dataset from this run's \`${outcome.dataset}\`, so not comparable):`, '');
    lines.push('| Method | Dataset | Scenario | Metric | Published (%) | Measured by | Source |', '| --- | --- | --- | --- | --- | --- | --- |');
    for (const ref of elsewhere) {
      lines.push(`| ${METHOD_LABELS[ref.method] ?? ref.method} | ${ref.dataset} | ${shape(ref.scenario)} | ${metricName(ref.metric)} | ${ref.value.toFixed(2)} | ${ref.kind} | ${cell(ref.citation)} |`);
    }
  }
  lines.push(
    '',
    `Reference numbers are listed only when they were read in their source (kernel-lib/experiments/references.ts, ${REFERENCES.length} in all); sources checked without a usable number:`,
    '',
    ...SOURCES_CHECKED.map((s) => `- ${s.source}: ${s.outcome}`),
  );
  return lines;
}

function runsSection(runs: RunResult[]): string[] {
  const failed = runs.filter((r) => r.status === 'failed');
  const lines = ['## Runs', '', '| Run | Status | AIA (%) | Last (%) | Forgetting (%) | Classifier | Seconds | CPU seconds |', '| --- | --- | --- | --- | --- | --- | --- | --- |'];
  for (const r of runs) {
    lines.push(`| ${r.id} | ${r.status} | ${pct(r.aia)} | ${pct(r.last)} | ${pct(r.forgetting)} | ${r.primary === 'method' ? 'method (CNN: ' + pct(r.cnn?.aia ?? null) + ' AIA)' : 'CNN'} | ${r.seconds.toFixed(0)} | ${(r.cpuSeconds ?? 0).toFixed(0)} |`);
  }
  if (failed.length) lines.push('', 'Failures:', '', ...failed.map((r) => `- ${r.id}: ${cell(r.error)}`));
  return lines;
}

export interface ReportOptions {
  /** How the experiment was executed, e.g. 'notebook 01-main-comparison.ipynb via nbconvert' or 'in-process'. */
  executedBy?: string;
  /** Extra lines for the caveats section. */
  notes?: string[];
}

/** Writes figures/<chart>.svg and REPORT.md into the outcome's folder; returns their paths. */
export async function writeReport(outcome: ExperimentOutcome, options: ReportOptions = {}): Promise<{ report: string; figures: string[] }> {
  const { experiment, results, profile } = outcome;
  const figures: string[] = [];
  for (const chart of experimentCharts(experiment, results.runs)) {
    const file = path.join(outcome.outDir, 'figures', `${chart.name}.svg`);
    writeText(file, await renderSvg(chart.spec));
    figures.push(file);
  }
  const done = results.runs.filter((r) => r.status === 'done').length;
  const shapeLine = `${results.datasetShape.classes} classes, ${results.datasetShape.trainImages} training / ${results.datasetShape.testImages} test images, ${results.datasetShape.imageSize.join('x')}`;
  const engines = [...new Set(results.runs.filter((r) => r.engine).map((r) => {
    const e = r.engine!;
    return `${e.backend}, ${e.threads ?? '?'} thread(s)${e.isa ? `, ISA ${e.isa}` : ''}${e.loops ? ` (kdcl loops ${e.loops})` : ''}, ${e.precision}`;
  }))];
  const lines = [
    `# ${experiment.title} (survey ${experiment.surveyTable})`,
    '',
    `kdcl reproduction, profile \`${profile.name}\` on dataset \`${outcome.dataset}\` (${shapeLine}), backend \`${results.backend}\`. ` +
      `${done} of ${results.runs.length} runs finished; the runs took ${(results.seconds / 60).toFixed(1)} min of wall time in all (${((results.cpuSeconds ?? 0) / 60).toFixed(1)} CPU min), each run's own time summed. Generated ${results.createdAt}` +
      (options.executedBy ? `, executed by ${options.executedBy}.` : '.'),
    '',
    `Engine: ${engines.length ? engines.join('; ') : 'not recorded'}. Results are reproducible bit for bit on the same engine (backend, thread count, ISA, precision); another engine gives other digits.`,
    '',
    '## Question',
    '',
    experiment.question,
    '',
    experiment.design,
    '',
    '## Claim checked',
    '',
    `> ${experiment.claim.text}`,
    `> (source: ${experiment.claim.source})`,
    '',
    `**Verdict:** ${outcome.verdict}`,
    '',
    ...claimsSection(experiment.name, results.runs),
    '',
    ...disagreementsSection(experiment.name, results.runs),
    '',
    '## Our results',
    '',
    'Accuracies in percent; AIA = average incremental accuracy (mean over all tasks of the accuracy on the classes seen so far, first task included); Last = accuracy on all classes after the last task.',
    '',
    markdownTable(outcome.table),
    '',
    ...referencesSection(outcome),
    '',
    ...recencySection(experiment, results.runs),
    '',
    '## Figures',
    '',
    ...figures.map((f) => `![${path.basename(f, '.svg')}](figures/${path.basename(f)})`),
    '',
    ...runsSection(results.runs),
    '',
    '## Caveats',
    '',
    `- Profile \`${profile.name}\`: ${profile.description} Numbers at this scale show the pipeline and the direction of effects, not the published accuracies.`,
    `- Exemplar budgets scaled by ${profile.memoryScale} (profile memoryScale); recipe fields taken from each method's recipe: ${profile.recipeFields.join(', ')}.`,
    ...(results.excluded?.length ? [`- Left out at this profile: ${results.excluded.map((m) => METHOD_LABELS[m] ?? m).join(', ')} (profile excludeMethods; run them with --methods).`] : []),
    `- Class order: seed 1993 permutation (PyCIL's); seeds: ${profile.seeds.join(', ')}.`,
    `- The claim's source is stated above; the survey's own table values are not available in this repository.`,
    ...(options.notes ?? []).map((n) => `- ${n}`),
    '',
    '## Files',
    '',
    '- `results.json`: every run (config, training options, accuracy matrix); `results.csv`: one row per run; `curves.csv`: accuracy after each task.',
    '- `checkpoints/<run>/`: the latest checkpoint of each run (a rerun resumes from them); `figures/`: the charts as SVG.',
    '',
  ];
  const report = path.join(outcome.outDir, 'REPORT.md');
  writeText(report, lines.join('\n'));
  return { report, figures };
}
