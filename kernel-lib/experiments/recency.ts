/**
 * What the accuracy matrices say about why a method lands where it does: how well the budget lets the backbone
 * learn the first task, how well each new task is learned while it is the newest (plasticity), and, after the last
 * task, the accuracy on the newest task's classes against the older ones (the recency bias of the classifier, which
 * the survey names as what weakens KD). Seed means per run of the experiment.
 */
import { runLabel } from './analysis';
import { mean } from '../metrics/checks';
import type { ExperimentDefinition } from './experiments';
import type { RunResult } from './results';

export interface RecencyRow {
  label: string;
  method: string;
  scenario: string;
  seeds: number;
  /** Accuracy on the first task right after it (percent). */
  firstTask: number;
  /** Mean over tasks t >= 1 of the accuracy on task t right after it (percent). */
  newestWhileTrained: number;
  /** After the last task: accuracy on the newest task's classes, and on all older classes (class-weighted). */
  newestAtEnd: number;
  olderAtEnd: number;
}

/** One run's numbers, in percent; null for a run without an accuracy matrix of at least two tasks. */
export function recencyOf(run: Pick<RunResult, 'accuracyMatrix' | 'seenClasses'>): Omit<RecencyRow, 'label' | 'method' | 'scenario' | 'seeds'> | null {
  const acc = run.accuracyMatrix;
  const tasks = acc.length;
  if (tasks < 2 || run.seenClasses.length !== tasks) return null;
  const sizes = run.seenClasses.map((c, t) => c - (t ? run.seenClasses[t - 1] : 0));
  const last = acc[tasks - 1];
  const older = last.slice(0, -1).reduce((a, x, t) => a + x * sizes[t], 0) / run.seenClasses[tasks - 2];
  return {
    firstTask: 100 * acc[0][0],
    newestWhileTrained: 100 * mean(acc.slice(1).map((row, t) => row[t + 1])),
    newestAtEnd: 100 * last[tasks - 1],
    olderAtEnd: 100 * older,
  };
}

export function recencyRows(experiment: ExperimentDefinition, runs: readonly RunResult[]): RecencyRow[] {
  const bySpec = new Map<string, RunResult[]>();
  for (const r of runs) if (r.status === 'done' && r.accuracyMatrix?.length) bySpec.set(r.specId, [...(bySpec.get(r.specId) ?? []), r]);
  const rows: RecencyRow[] = [];
  for (const group of bySpec.values()) {
    const each = group.map(recencyOf).filter((x): x is NonNullable<typeof x> => x !== null);
    if (!each.length) continue;
    rows.push({
      label: runLabel(experiment, group[0]),
      method: group[0].method,
      scenario: group[0].scenario,
      seeds: each.length,
      firstTask: mean(each.map((x) => x.firstTask)),
      newestWhileTrained: mean(each.map((x) => x.newestWhileTrained)),
      newestAtEnd: mean(each.map((x) => x.newestAtEnd)),
      olderAtEnd: mean(each.map((x) => x.olderAtEnd)),
    });
  }
  return rows;
}

const f1 = (x: number | null) => (x === null ? '—' : x.toFixed(1));

/** Below this, a run has learned almost none of each new task (percent, newest while trained). */
const STALLED = 5;
const PROTOTYPE_METHODS = new Set(['il2a', 'pass', 'praka']);

/** Which runs learn almost none of each new task, and, for the prototype-based methods, what the reference check found. */
function stalledParagraph(rows: RecencyRow[]): string[] {
  const stalled = rows.filter((r) => r.newestWhileTrained < STALLED);
  if (!stalled.length) return [];
  const names = [...new Set(stalled.map((r) => r.label))];
  const where = (label: string) => stalled.filter((r) => r.label === label).map((r) => `${r.scenario} ${f1(r.newestWhileTrained)}%`).join(', ');
  const prototype = stalled.some((r) => PROTOTYPE_METHODS.has(r.method));
  return [
    '',
    `Runs that learn almost none of each new task (newest while trained below ${STALLED}%): ${names.map((n) => `${n} (${where(n)})`).join('; ')}.` +
      (prototype
        ? ' For IL2A, PASS and PRAKA, an independent PyTorch implementation of each, given kdcl\'s resolved config and the same ' +
          'images, learns the newest task as little (`npm run reference -- --methods pass,il2a,praka`; tables in ' +
          'reproductions/reference/README.md): their prototype losses, weighted for the official 100-epoch ResNet-18 budget, ' +
          'hold the classifier to the old classes at this budget, and lowering the prototype weight lets each new task in. ' +
          'More epochs per task or full width do not. This is the budget and the published weights, not a kdcl defect.'
        : ''),
  ];
}

/** REPORT.md's section; empty when no run has two tasks. */
export function recencySection(experiment: ExperimentDefinition, runs: readonly RunResult[]): string[] {
  const rows = recencyRows(experiment, runs);
  if (!rows.length) return [];
  return [
    '## Why: budget, plasticity and recency bias',
    '',
    'From the accuracy matrices, seed means. *First task*: accuracy on the first task right after it, which the budget ' +
      '(images, epochs, backbone) bounds for every method. *Newest while trained*: accuracy on each later task right after ' +
      'it, averaged (how well a new task is learned at all). *After the last task*: accuracy on the newest task\'s ' +
      'classes and on the older ones; newest − older well above 0 is a classifier biased toward new classes (the ' +
      'classification bias the survey names as what weakens KD), well below 0 one biased toward old classes (a bias ' +
      'correction or separated softmax that overshoots, or a new head trained too little).',
    '',
    '| Run | Scenario | Seeds | First task (%) | Newest while trained (%) | Newest at end (%) | Older at end (%) | Newest − older |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.label} | ${r.scenario} | ${r.seeds} | ${f1(r.firstTask)} | ${f1(r.newestWhileTrained)} | ${f1(r.newestAtEnd)} | ${f1(r.olderAtEnd)} | ${(r.newestAtEnd - r.olderAtEnd >= 0 ? '+' : '−') + Math.abs(r.newestAtEnd - r.olderAtEnd).toFixed(1)} |`),
    ...stalledParagraph(rows),
  ];
}
