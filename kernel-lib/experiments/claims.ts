/**
 * The survey's claims as data, each judged from an experiment's runs by the paired-by-seed rule (paired-verdict.ts):
 * a claim is a list of comparisons "A > B" of AIA; A and B are the mean AIA of a group of methods in a scenario,
 * per seed. The claim holds if every comparison holds, fails if any fails, and is undecided otherwise.
 */
import type { RunResult } from './results';
import { pairedVerdict, type PairedComparison, type Verdict } from './paired-verdict';
import { METHOD_LABELS, type ExperimentName, type ScenarioName } from './experiments';

/** Runs of these methods (with KD as given) in this scenario: their mean AIA per seed. */
export interface RunGroup {
  methods: string[];
  scenario: ScenarioName;
  kd?: boolean;
}

export interface ClaimComparison {
  /** The survey says better > worse. */
  better: RunGroup;
  worse: RunGroup;
}

export interface SurveyClaim {
  text: string;
  comparisons: ClaimComparison[];
}

const REPLAY = ['icarl', 'eeil', 'bic', 'lucir', 'ssil'];
const REGULARISATION = ['lwf', 'lwm'];
const FEATURE_REPLAY = ['il2a', 'pass', 'praka'];
const ALL = [...REGULARISATION, ...FEATURE_REPLAY, ...REPLAY];

const best = (method: string, scenario: ScenarioName): ClaimComparison[] =>
  ALL.filter((m) => m !== method).map((m) => ({ better: { methods: [method], scenario }, worse: { methods: [m], scenario } }));

const each = (methods: string[], f: (m: string) => ClaimComparison): ClaimComparison[] => methods.map(f);

export const SURVEY_CLAIMS: Partial<Record<ExperimentName, SurveyClaim[]>> = {
  'main-comparison': [
    { text: 'In B0, BiC is best.', comparisons: best('bic', 'b0-10') },
    { text: 'With a base task, PRAKA is best.', comparisons: best('praka', 'b50-10') },
    {
      text: 'Replay + KD methods beat regularisation-only KD (LwF, LwM).',
      comparisons: (['b0-10', 'b50-10'] as ScenarioName[]).flatMap((scenario) => REPLAY.flatMap((r) => REGULARISATION.map((g) => ({
        better: { methods: [r], scenario }, worse: { methods: [g], scenario },
      })))),
    },
    {
      text: 'Feature-replay methods (IL2A, PASS, PRAKA) trail replay methods in B0 (group means).',
      comparisons: [{ better: { methods: REPLAY, scenario: 'b0-10' }, worse: { methods: FEATURE_REPLAY, scenario: 'b0-10' } }],
    },
    {
      text: 'Feature-replay methods beat replay methods with a base task (group means).',
      comparisons: [{ better: { methods: FEATURE_REPLAY, scenario: 'b50-10' }, worse: { methods: REPLAY, scenario: 'b50-10' } }],
    },
    {
      text: 'LwF and LwM do worse with a base task than without.',
      comparisons: each(REGULARISATION, (m) => ({ better: { methods: [m], scenario: 'b0-10' }, worse: { methods: [m], scenario: 'b50-10' } })),
    },
    {
      text: 'The other methods do better with a base task than without.',
      comparisons: each([...FEATURE_REPLAY, ...REPLAY], (m) => ({ better: { methods: [m], scenario: 'b50-10' }, worse: { methods: [m], scenario: 'b0-10' } })),
    },
  ],
  'kd-removal': [
    {
      text: 'In B0, removing KD hurts LwF, LwM (attention KD only), IL2A, PASS, PRAKA, EEIL, BiC and SS-IL.',
      comparisons: each(['lwf', 'lwm', 'il2a', 'pass', 'praka', 'eeil', 'bic', 'ssil'], (m) => ({
        better: { methods: [m], scenario: 'b0-10', kd: true }, worse: { methods: [m], scenario: 'b0-10', kd: false },
      })),
    },
    {
      text: 'In B0, removing KD helps iCaRL (clearly) and LUCIR (slightly).',
      comparisons: each(['icarl', 'lucir'], (m) => ({
        better: { methods: [m], scenario: 'b0-10', kd: false }, worse: { methods: [m], scenario: 'b0-10', kd: true },
      })),
    },
  ],
};

export interface JudgedComparison extends PairedComparison {
  label: string;
}

export interface JudgedClaim {
  text: string;
  verdict: Verdict | 'not run';
  comparisons: JudgedComparison[];
  /** Comparisons that could not be made (a side has no finished run). */
  missing: string[];
}

const groupLabel = (g: RunGroup) =>
  `${g.methods.length > 2 ? `mean(${g.methods.map((m) => METHOD_LABELS[m] ?? m).join(', ')})` : g.methods.map((m) => METHOD_LABELS[m] ?? m).join('+')} ${g.scenario}${g.kd === false ? ' no KD' : ''}`;

/** Seed -> mean AIA (percent) of the group's finished runs; a seed counts only when every method of the group has it. */
function groupBySeed(runs: readonly RunResult[], g: RunGroup): Map<number, number> {
  const out = new Map<number, number>();
  const done = runs.filter((r) => r.status === 'done' && r.aia !== null && r.scenario === g.scenario && g.methods.includes(r.method) && r.kd === (g.kd ?? true));
  for (const seed of new Set(done.map((r) => r.seed))) {
    const values: number[] = [];
    for (const m of g.methods) {
      const aia = done.find((r) => r.method === m && r.seed === seed)?.aia;
      if (typeof aia === 'number') values.push(aia);
    }
    if (values.length === g.methods.length) out.set(seed, (100 * values.reduce((a, v) => a + v, 0)) / values.length);
  }
  return out;
}

export function judgeClaims(experiment: ExperimentName, runs: readonly RunResult[]): JudgedClaim[] {
  return (SURVEY_CLAIMS[experiment] ?? []).map((claim) => {
    const comparisons: JudgedComparison[] = [];
    const missing: string[] = [];
    for (const c of claim.comparisons) {
      const label = `${groupLabel(c.better)} > ${groupLabel(c.worse)}`;
      const a = groupBySeed(runs, c.better);
      const b = groupBySeed(runs, c.worse);
      if (![...a.keys()].some((s) => b.has(s))) missing.push(label);
      else comparisons.push({ label, ...pairedVerdict(a, b, label) });
    }
    const verdicts = comparisons.map((c) => c.verdict);
    const verdict: JudgedClaim['verdict'] = !comparisons.length ? 'not run'
      : verdicts.includes('fails') ? 'fails'
        : missing.length || verdicts.includes('undecided') ? 'undecided' : 'holds';
    return { text: claim.text, verdict, comparisons, missing };
  });
}

const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}`;

/** REPORT.md's claims section: one row per claim, then each comparison with mean ± sd of the paired difference. */
export function claimsSection(experiment: ExperimentName, runs: readonly RunResult[]): string[] {
  const judged = judgeClaims(experiment, runs);
  if (!judged.length) return [];
  const lines = [
    "## The survey's claims",
    '',
    'Rule, the same everywhere: a comparison **holds** if it goes the survey\'s way in every seed (paired by seed), **fails** if it goes the other way in every seed, and is **undecided** otherwise; a claim holds if all its comparisons hold and fails if any fails. Differences are AIA points, mean ± sd over the seeds.',
    '',
    '| claim | verdict | comparisons (A > B: mean ± sd of A − B, seeds, verdict) |',
    '| --- | --- | --- |',
  ];
  for (const c of judged) {
    const parts = c.comparisons.map((k) => `${k.label}: ${signed(k.meanDifference)}${k.sdDifference === null ? '' : ` ± ${k.sdDifference.toFixed(2)}`} (n=${k.seeds.length}, ${k.verdict}${k.seedsNeeded ? `; ~${k.seedsNeeded} seeds to decide` : ''})`);
    if (c.missing.length) parts.push(`not run yet: ${c.missing.join('; ')}`);
    lines.push(`| ${c.text} | **${c.verdict}** | ${parts.join('<br>')} |`);
  }
  return lines;
}
