/**
 * Where the runs disagree with the survey, what they show about why. For each failing comparison of two single
 * runs (a method in a scenario, with or without KD), the accuracy matrices of the seeds compared give three
 * readings, each a cause the survey or the budget can explain:
 *
 *   - budget: the first task, learned by both from the same images and epochs (a gap of 3 points or more);
 *   - plasticity: each later task's accuracy while it is the newest (a gap of 5 points or more);
 *   - bias: after the last task, the newest task's accuracy minus the older classes' (above +15, the recency bias
 *     the survey names as what weakens KD; below -5, a classifier held toward old classes).
 *
 * The thresholds pick what to name; every number is printed so a reader can judge it.
 */
import { groupLabel, judgeClaims, members, type RunGroup } from './claims';
import type { ExperimentName } from './experiments';
import { recencyOf } from './recency';
import type { RunResult } from './results';
import { mean } from '../metrics/checks';

const FIRST_TASK_GAP = 3;
const PLASTICITY_GAP = 5;
const RECENCY_BIAS = 15;
const OLD_CLASS_BIAS = -5;

interface Reading {
  name: string;
  firstClasses: number;
  firstTask: number;
  newest: number;
  bias: number;
}

/** Seed means of a single-run group's recency numbers over the given seeds; null for a group of several runs. */
function readingOf(runs: readonly RunResult[], g: RunGroup, seeds: readonly number[]): Reading | null {
  const tests = members(g);
  if (tests.length !== 1) return null;
  const each = runs
    .filter((r) => r.status === 'done' && r.scenario === g.scenario && seeds.includes(r.seed) && tests[0](r))
    .map(recencyOf)
    .filter((x): x is NonNullable<typeof x> => x !== null);
  if (!each.length) return null;
  return {
    name: groupLabel(g),
    firstClasses: runs.find((r) => r.scenario === g.scenario && tests[0](r))?.seenClasses[0] ?? 0,
    firstTask: mean(each.map((x) => x.firstTask)),
    newest: mean(each.map((x) => x.newestWhileTrained)),
    bias: mean(each.map((x) => x.newestAtEnd - x.olderAtEnd)),
  };
}

const f1 = (x: number) => x.toFixed(1);
const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(1)}`;

/** What the two sides' readings show, strongest signal first; the survey expected `expected` > `other`. */
function readings(expected: Reading, other: Reading): string[] {
  const out: string[] = [];
  if (Math.abs(expected.firstTask - other.firstTask) >= FIRST_TASK_GAP) {
    const first = (r: Reading) => `${f1(r.firstTask)}% in ${r.name}${expected.firstClasses !== other.firstClasses ? ` (${r.firstClasses} classes)` : ''}`;
    out.push(`budget: the first task reaches ${first(expected)} and ${first(other)}`);
  }
  if (Math.abs(expected.newest - other.newest) >= PLASTICITY_GAP) {
    out.push(`plasticity: each new task reaches ${f1(expected.newest)}% while newest in ${expected.name}, ${f1(other.newest)}% in ${other.name}`);
  }
  if (expected.bias > RECENCY_BIAS && other.bias > RECENCY_BIAS && Math.abs(expected.bias - other.bias) < PLASTICITY_GAP) {
    out.push(`recency bias on both sides alike: newest − older ${signed(expected.bias)} and ${signed(other.bias)} points`);
    return out;
  }
  for (const r of [expected, other]) {
    if (r.bias > RECENCY_BIAS) out.push(`recency bias: ${r.name} ends with newest − older ${signed(r.bias)} points`);
    if (r.bias < OLD_CLASS_BIAS) out.push(`old-class bias: ${r.name} ends with newest − older ${signed(r.bias)} points (new classes held back)`);
  }
  return out;
}

/** REPORT.md's section; empty when no comparison of two single runs fails. */
export function disagreementsSection(experiment: ExperimentName, runs: readonly RunResult[]): string[] {
  const lines: string[] = [];
  for (const claim of judgeClaims(experiment, runs)) {
    for (const c of claim.comparisons.filter((k) => k.verdict === 'fails')) {
      const expected = readingOf(runs, c.groups.better, c.seeds);
      const other = readingOf(runs, c.groups.worse, c.seeds);
      if (!expected || !other) continue;
      const found = readings(expected, other);
      lines.push(
        `- **${c.label}** fails (${signed(c.meanDifference)} AIA points, n=${c.seeds.length}): ` +
          (found.length ? `${found.join('; ')}.` : `first task ${f1(expected.firstTask)} / ${f1(other.firstTask)}%, new tasks while newest ${f1(expected.newest)} / ${f1(other.newest)}%, newest − older ${signed(expected.bias)} / ${signed(other.bias)}: no reading stands out.`),
      );
    }
  }
  if (!lines.length) return [];
  return [
    '## Where the runs disagree with the survey, and what they show',
    '',
    'Each failing comparison of two single runs, read from their accuracy matrices over the seeds compared (first ' +
      `task gap of ${FIRST_TASK_GAP} points or more: budget; new tasks while newest ${PLASTICITY_GAP} points apart: plasticity; ` +
      `newest − older after the last task above +${RECENCY_BIAS}: recency bias, below ${OLD_CLASS_BIAS}: old-class bias).`,
    '',
    ...lines,
  ];
}
