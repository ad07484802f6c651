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
  /**
   * Runs of one method told apart by their labels (e.g. { softmax: 'global', kdLoss: 'kl' }): each label set is a
   * member of the group, and the group's value is the mean over its members. Their kd is what the labels give.
   */
  variants?: Record<string, string>[];
  /** The sum over members instead of their mean: a difference of differences compares two such sums. */
  sum?: boolean;
}

export interface ClaimComparison {
  /** The survey says better > worse. */
  better: RunGroup;
  worse: RunGroup;
  /** How the report names the comparison, where the groups' own names would not say it (differences of differences). */
  label?: string;
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

const LOGIT_KD = ['ce', 'kl', 'logit-l2'];
const FEATURE_KD = ['feature-l2', 'feature-cosine'];
const KD_LABELS: Record<string, string> = { ce: 'CE', kl: 'KL', 'logit-l2': 'logit L2', 'feature-l2': 'feature L2', 'feature-cosine': 'feature cosine', none: 'no KD' };

/** Standalone-KD runs (LwF with per-task heads) of these KD losses. */
const lwfHeads = (losses: string[], scenario: ScenarioName = 'b0-10'): RunGroup =>
  ({ methods: ['lwf'], scenario, variants: losses.map((kdLoss) => ({ kdLoss })) });

/** Replay + KD runs under one softmax, or label sets given whole. */
const replay = (variants: Record<string, string>[], scenario: ScenarioName = 'b0-10'): RunGroup => ({ methods: ['replay-kd'], scenario, variants });
const replayWith = (softmax: string, losses: string[], scenario: ScenarioName = 'b0-10') => replay(losses.map((kdLoss) => ({ softmax, kdLoss })), scenario);

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
    {
      text: 'With a base task, removing KD hurts every method.',
      comparisons: each(ALL, (m) => ({ better: { methods: [m], scenario: 'b50-10', kd: true }, worse: { methods: [m], scenario: 'b50-10', kd: false } })),
    },
  ],
  'standalone-kd': [
    {
      text: 'Logit-level KD beats feature-level KD (group means).',
      comparisons: [{ better: lwfHeads(LOGIT_KD), worse: lwfHeads(FEATURE_KD) }],
    },
    {
      text: 'Among logit losses, L2 > KL > CE.',
      comparisons: [{ better: lwfHeads(['logit-l2']), worse: lwfHeads(['kl']) }, { better: lwfHeads(['kl']), worse: lwfHeads(['ce']) }],
    },
    { text: 'Among feature losses, cosine > L2.', comparisons: [{ better: lwfHeads(['feature-cosine']), worse: lwfHeads(['feature-l2']) }] },
    {
      text: "Every KD loss beats no KD (the experiment's hypothesis).",
      comparisons: [...LOGIT_KD, ...FEATURE_KD].map((k) => ({ better: lwfHeads([k]), worse: lwfHeads(['none']) })),
    },
  ],
  'replay-softmax': [
    {
      text: 'With replay and a global softmax, logit-level KD lowers accuracy in B0.',
      comparisons: LOGIT_KD.map((k) => ({ better: replayWith('global', ['none']), worse: replayWith('global', [k]) })),
    },
    {
      text: 'With replay, a global softmax and a base task, feature KD helps slightly, cosine most.',
      comparisons: [
        ...FEATURE_KD.map((k) => ({ better: replayWith('global', [k], 'b50-10'), worse: replayWith('global', ['none'], 'b50-10') })),
        { better: replayWith('global', ['feature-cosine'], 'b50-10'), worse: replayWith('global', ['feature-l2'], 'b50-10') },
      ],
    },
    { text: 'With replay and a global softmax in B0, feature cosine is worse than feature L2.', comparisons: [{ better: replayWith('global', ['feature-l2']), worse: replayWith('global', ['feature-cosine']) }] },
    {
      // separated(k) - separated(none) > global(k) - global(none), written as sep(k) + global(none) > global(k) + sep(none).
      text: "The separated softmax reduces KD's harm: each KD loss's change against no KD is higher under it than under the global softmax.",
      comparisons: [...LOGIT_KD, ...FEATURE_KD].map((k) => ({
        label: `(separated ${KD_LABELS[k]} − separated no KD) > (global ${KD_LABELS[k]} − global no KD)`,
        better: { ...replay([{ softmax: 'separated', kdLoss: k }, { softmax: 'global', kdLoss: 'none' }]), sum: true },
        worse: { ...replay([{ softmax: 'global', kdLoss: k }, { softmax: 'separated', kdLoss: 'none' }]), sum: true },
      })),
    },
    {
      text: 'Replay with a separated softmax and no KD beats replay with a global softmax and no KD.',
      comparisons: [{ better: replayWith('separated', ['none']), worse: replayWith('global', ['none']) }],
    },
  ],
};

export interface JudgedComparison extends PairedComparison {
  label: string;
  /** The two sides compared, as the claim states them. */
  groups: ClaimComparison;
}

export interface JudgedClaim {
  text: string;
  verdict: Verdict | 'not run';
  comparisons: JudgedComparison[];
  /** Comparisons that could not be made (a side has no finished run). */
  missing: string[];
}

const variantLabel = (v: Record<string, string>) => Object.values(v).map((x) => KD_LABELS[x] ?? x).join(' ');

export function groupLabel(g: RunGroup): string {
  const names = g.variants ? g.variants.map(variantLabel) : g.methods.map((m) => METHOD_LABELS[m] ?? m);
  return `${names.length > 2 || g.variants?.length === 2 ? `mean(${names.join(', ')})` : names.join('+')} ${g.scenario}${g.kd === false ? ' no KD' : ''}`;
}

/** The group's members: one test per method, or per label set of its method. */
export function members(g: RunGroup): ((r: RunResult) => boolean)[] {
  if (g.variants) {
    return g.variants.map((v) => (r) => g.methods.includes(r.method) && Object.entries(v).every(([k, x]) => r.labels?.[k] === x));
  }
  return g.methods.map((m) => (r) => r.method === m && r.kd === (g.kd ?? true));
}

/** Seed -> mean AIA (percent) of the group's finished runs; a seed counts only when every member of the group has it. */
function groupBySeed(runs: readonly RunResult[], g: RunGroup): Map<number, number> {
  const out = new Map<number, number>();
  const done = runs.filter((r) => r.status === 'done' && r.aia !== null && r.scenario === g.scenario);
  const tests = members(g);
  for (const seed of new Set(done.map((r) => r.seed))) {
    const values: number[] = [];
    for (const test of tests) {
      const aia = done.find((r) => r.seed === seed && test(r))?.aia;
      if (typeof aia === 'number') values.push(aia);
    }
    if (values.length === tests.length) out.set(seed, (100 * values.reduce((a, v) => a + v, 0)) / (g.sum ? 1 : values.length));
  }
  return out;
}

export function judgeClaims(experiment: ExperimentName, runs: readonly RunResult[]): JudgedClaim[] {
  return (SURVEY_CLAIMS[experiment] ?? []).map((claim) => {
    const comparisons: JudgedComparison[] = [];
    const missing: string[] = [];
    for (const c of claim.comparisons) {
      const label = c.label ? `${c.label} ${c.better.scenario}` : `${groupLabel(c.better)} > ${groupLabel(c.worse)}`;
      const a = groupBySeed(runs, c.better);
      const b = groupBySeed(runs, c.worse);
      if (![...a.keys()].some((s) => b.has(s))) missing.push(label);
      else comparisons.push({ label, groups: c, ...pairedVerdict(a, b, label) });
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
