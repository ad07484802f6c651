/**
 * The survey's four experiments as data: which runs each one trains (method, config, scenario), how its table
 * groups them, and the claim its notebook checks.
 *
 * About the claims: the survey's own text and tables (Li, Su, Zhang, Wang, "Continual Learning With Knowledge
 * Distillation: A Survey", IEEE TNNLS 2024) could not be read from this workspace's sources, so no number of the
 * survey is reproduced here. Each experiment states the claim it checks and where that claim comes from: one of the
 * survey's stated findings where it names one, otherwise the question the survey's table answers, as a hypothesis.
 * The scenarios of Tables 3-5 are not stated in the sources read either; they run in b0-10 here (a data field:
 * change `scenarios` to run them in b50-10 too).
 */
import { LWF_KD_LOSSES, type LwfKdLoss } from '../methods/shared/distillation-terms';

export const EXPERIMENT_NAMES = ['main-comparison', 'kd-removal', 'standalone-kd', 'replay-softmax'] as const;
export type ExperimentName = (typeof EXPERIMENT_NAMES)[number];

export const SCENARIO_NAMES = ['b0-10', 'b50-10'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

/** The ten KD-based methods, in the order the survey lists them (exemplar-free first). */
export const SURVEY_METHODS = ['lwf', 'lwm', 'il2a', 'pass', 'praka', 'icarl', 'eeil', 'bic', 'lucir', 'ssil'] as const;
export type SurveyMethod = (typeof SURVEY_METHODS)[number];

/** Display names for tables and charts. */
export const METHOD_LABELS: Record<string, string> = {
  lwf: 'LwF', lwm: 'LwM', il2a: 'IL2A', pass: 'PASS', praka: 'PRAKA', icarl: 'iCaRL', eeil: 'EEIL', bic: 'BiC',
  lucir: 'LUCIR', ssil: 'SS-IL', finetune: 'Fine-tuning', joint: 'Joint', 'replay-kd': 'Replay + KD',
};

/** The standalone KD losses of survey Tables 4 and 5 (kdcl's names; 'none' is the no-KD row). */
export const KD_LOSSES = LWF_KD_LOSSES.filter((l) => l !== 'none') as Exclude<LwfKdLoss, 'none'>[];
export const KD_LOSS_LABELS: Record<LwfKdLoss, string> = {
  ce: 'CE (soft targets)', kl: 'KL', 'logit-l2': 'Logit L2', 'feature-l2': 'Feature L2', 'feature-cosine': 'Feature cosine', none: 'No KD',
};

/** One training run of an experiment. */
export interface RunSpec {
  /** Unique within the experiment and safe as a folder name, e.g. 'bic_b0-10' or 'lwf_no-kd_b0-10'. */
  id: string;
  /** Registry name. */
  method: string;
  /** Config overrides for the method (on top of its defaults; the profile may add more). */
  config: Record<string, unknown>;
  scenario: ScenarioName;
  /** The columns that place this run in the experiment's table, e.g. { method: 'bic' } or { kdLoss: 'kl', softmax: 'global' }. */
  labels: Record<string, string>;
  /** 'method' for the methods compared, 'baseline' for the lower / upper bounds shown beside them. */
  role: 'method' | 'baseline';
}

export interface Claim {
  /** One sentence. */
  text: string;
  /** Where it comes from. */
  source: string;
}

export interface ExperimentDefinition {
  name: ExperimentName;
  title: string;
  /** The survey table this experiment corresponds to. */
  surveyTable: string;
  /** The notebook that runs it, under notebooks/. */
  notebook: string;
  /** The question, for the notebook's first markdown cell. */
  question: string;
  claim: Claim;
  /** What the experiment holds fixed and what it varies, for the notebook and REPORT.md. */
  design: string;
  scenarios: ScenarioName[];
  runs: RunSpec[];
}

/** Whether a run's KD terms are on: its config says `kd: false` to switch them off. */
export function runKd(spec: Pick<RunSpec, 'config'>): boolean {
  return spec.config.kd !== false;
}

function runId(parts: (string | undefined)[]): string {
  return parts.filter(Boolean).join('_');
}

function methodRun(method: string, scenario: ScenarioName, options: { kd?: boolean; role?: RunSpec['role'] } = {}): RunSpec {
  const kd = options.kd ?? true;
  return {
    id: runId([method, kd ? undefined : 'no-kd', scenario]),
    method,
    config: kd ? {} : { kd: false },
    scenario,
    labels: { method },
    role: options.role ?? 'method',
  };
}

const MAIN_SCENARIOS: ScenarioName[] = ['b0-10', 'b50-10'];
const ABLATION_SCENARIOS: ScenarioName[] = ['b0-10'];

const mainComparison: ExperimentDefinition = {
  name: 'main-comparison',
  title: 'Main comparison of the ten KD-based methods',
  surveyTable: 'Table 2',
  notebook: '01-main-comparison.ipynb',
  question: 'How do the ten KD-based CIL methods compare, learning from scratch in 10 equal tasks (b0-10) and after a half-dataset first task (b50-10)?',
  claim: {
    text: 'In B0 (b0-10), BiC is the best of the ten methods.',
    source: "the survey's finding for its main comparison (Table 2): BiC is best in B0; the survey's table itself was not available to check",
  },
  design:
    'Each method with its own defaults (kernel-lib/methods); same backbone, epochs, optimiser and class order (seed 1993) for all, per the profile. Fine-tuning (lower bound: all seen logits, no KD) and joint training (upper bound) run beside them. ' +
    "Stated defaults that move numbers: LUCIR runs without its class-balanced fine-tuning (lucir cbf: false, PyCIL's default); EEIL's extra augmentation and gradient noise are not done; " +
    'in every profile but paper, PASS, IL2A and PRAKA get the profile\'s ResNet-32 for cost, not their ResNet-18 (paper: resnet18-cifar on CIFAR-100).',
  scenarios: MAIN_SCENARIOS,
  runs: MAIN_SCENARIOS.flatMap((scenario) => [
    ...SURVEY_METHODS.map((m) => methodRun(m, scenario)),
    methodRun('finetune', scenario, { role: 'baseline' }),
    methodRun('joint', scenario, { role: 'baseline' }),
  ]),
};

const kdRemoval: ExperimentDefinition = {
  name: 'kd-removal',
  title: 'Removing KD from each method',
  surveyTable: 'Table 3',
  notebook: '02-kd-removal.ipynb',
  question: "How much of each method's accuracy is due to its KD term(s)? Each method runs as published and with exactly its KD terms switched off (`kd: false`).",
  claim: {
    text: 'Removing KD lowers the average incremental accuracy of most of the ten methods.',
    source: 'the hypothesis Table 3 tests (the survey text was not available to check its numbers)',
  },
  design:
    "Same run as the main comparison, once with kd: true and once with kd: false, in b0-10 (the survey's claims also name b50-10: not run yet). What kd: false removes, per method: " +
    "LwM loses only its attention-map distillation and keeps its logit KD, as the survey does (lwm kdRemoves: 'attention'; 'all' removes both); " +
    "kdcl's LwM attention term carries no gradient by default (lwm attentionGradient: false, as FACIL), so its two rows train alike and differ only by the reported term; " +
    "PRAKA loses its KD from the old model and the two KL terms between its own heads (praka asymmetricKdIsKd: true, the default: both are distillation terms in the paper's loss); " +
    "BiC's CE is no longer scaled by 1 - lambda (lambda = 0 with KD off); iCaRL's old-class targets become one-hot; EEIL still runs its balanced fine-tuning without its distillation terms. " +
    "Two no-KD lower bounds sit beside these in the main comparison: LwF without KD trains on the new task's logits only, fine-tuning on all seen logits.",
  scenarios: ABLATION_SCENARIOS,
  runs: ABLATION_SCENARIOS.flatMap((scenario) => SURVEY_METHODS.flatMap((m) => [methodRun(m, scenario), methodRun(m, scenario, { kd: false })])),
};

const standaloneKd: ExperimentDefinition = {
  name: 'standalone-kd',
  title: 'KD losses on their own (LwF-style per-task heads)',
  surveyTable: 'Table 4',
  notebook: '03-standalone-kd-losses.ipynb',
  question:
    'Without exemplars, which distillation loss preserves old classes best: soft-target CE, KL, logit L2, feature L2 or feature cosine, against no KD at all?',
  claim: {
    text: 'Every KD loss gives a higher average incremental accuracy than training without KD.',
    source: 'the hypothesis Table 4 tests (the survey text was not available to check its numbers)',
  },
  design:
    "LwF with per-task heads (methods/lwf.ts heads: 'per-task': the current head trained with CE, old heads frozen and only distilled), lamb = 1, T = 2; only `kdLoss` varies. The no-KD row is the same model with kd: false.",
  scenarios: ABLATION_SCENARIOS,
  runs: ABLATION_SCENARIOS.flatMap((scenario) => [
    ...KD_LOSSES.map<RunSpec>((kdLoss) => ({
      id: runId(['lwf-heads', kdLoss, scenario]),
      method: 'lwf',
      config: { heads: 'per-task', kdLoss },
      scenario,
      labels: { kdLoss },
      role: 'method',
    })),
    {
      id: runId(['lwf-heads', 'none', scenario]),
      method: 'lwf',
      config: { heads: 'per-task', kd: false },
      scenario,
      labels: { kdLoss: 'none' },
      role: 'method',
    },
  ]),
};

const SOFTMAXES = ['global', 'separated'] as const;

const replaySoftmax: ExperimentDefinition = {
  name: 'replay-softmax',
  title: 'Replay + KD under a global or a separated softmax',
  surveyTable: 'Tables 5a and 5b',
  notebook: '04-replay-kd-softmax.ipynb',
  question:
    'With herding replay (20 exemplars per class in the survey; a profile scales it, e.g. 5 at `standard`), does each KD loss still add accuracy, and does the answer change when the classifier uses a separated softmax (SS-IL) instead of one global softmax?',
  claim: {
    text: 'With replay, the KD losses help more under a separated softmax (5b) than under a global softmax (5a).',
    source: 'the hypothesis Tables 5a/5b test (the survey text was not available to check its numbers)',
  },
  design:
    "kdcl's replay-kd method (kernel-lib/methods/replay-kd.ts): herding memory with 20 exemplars per class times the profile's memoryScale (each run's `methodConfig.memoryPerClass` records it), one expandable linear head, CE over all seen classes (global) or SS-IL's separated softmax; only `kdLoss` and `softmax` vary.",
  scenarios: ABLATION_SCENARIOS,
  runs: ABLATION_SCENARIOS.flatMap((scenario) =>
    SOFTMAXES.flatMap((softmax) =>
      (['none', ...KD_LOSSES] as LwfKdLoss[]).map<RunSpec>((kdLoss) => ({
        id: runId(['replay', softmax, kdLoss, scenario]),
        method: 'replay-kd',
        config: kdLoss === 'none' ? { softmax, kd: false } : { softmax, kdLoss },
        scenario,
        labels: { softmax, kdLoss },
        role: 'method',
      })),
    ),
  ),
};

export const EXPERIMENTS: Record<ExperimentName, ExperimentDefinition> = {
  'main-comparison': mainComparison,
  'kd-removal': kdRemoval,
  'standalone-kd': standaloneKd,
  'replay-softmax': replaySoftmax,
};

/** The named experiment, or an error listing the valid names. */
export function getExperiment(name: string): ExperimentDefinition {
  if (!Object.hasOwn(EXPERIMENTS, name)) {
    throw new Error(`unknown experiment '${name}'; valid experiments: ${EXPERIMENT_NAMES.join(', ')}`);
  }
  return EXPERIMENTS[name as ExperimentName];
}

/**
 * The runs to train, optionally restricted to some methods / scenarios (names checked: an unknown one gets the
 * list of names the experiment uses).
 */
export function selectRuns(experiment: ExperimentDefinition, filter: { methods?: string[]; scenarios?: string[] } = {}): RunSpec[] {
  const methods = [...new Set(experiment.runs.map((r) => r.method))];
  for (const m of filter.methods ?? []) {
    if (!methods.includes(m)) throw new Error(`unknown method '${m}' for experiment '${experiment.name}'; valid methods: ${methods.join(', ')}`);
  }
  for (const s of filter.scenarios ?? []) {
    if (!experiment.scenarios.includes(s as ScenarioName)) {
      throw new Error(`unknown scenario '${s}' for experiment '${experiment.name}'; valid scenarios: ${experiment.scenarios.join(', ')}`);
    }
  }
  return experiment.runs.filter(
    (r) => (!filter.methods || filter.methods.includes(r.method)) && (!filter.scenarios || filter.scenarios.includes(r.scenario)),
  );
}

/** Problems in an experiment definition (empty when valid): unique ids, known scenarios, folder-safe ids. */
export function validateExperiment(experiment: ExperimentDefinition): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const run of experiment.runs) {
    if (seen.has(run.id)) problems.push(`${experiment.name}: duplicate run id '${run.id}'`);
    seen.add(run.id);
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(run.id)) problems.push(`${experiment.name}: run id '${run.id}' is not folder-safe`);
    if (!experiment.scenarios.includes(run.scenario)) problems.push(`${experiment.name}: run '${run.id}' uses scenario '${run.scenario}' not listed in scenarios`);
  }
  return problems;
}
