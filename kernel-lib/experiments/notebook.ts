/**
 * What the experiment notebooks call: their parameters (environment variables, so `npm run reproduce` can inject
 * them into a headless run), and the display of an outcome (table as HTML, charts as vega-lite + SVG, verdict, the
 * survey's claims judged on the runs and what the runs show where they disagree).
 * Notebooks import this as './kernel-lib/experiments/index': tslab's module loader resolves files, not folders.
 */
import { displayBundle, displayHtml } from '../viz/display';
import { showChart } from '../viz/charts';
import { experimentCharts } from './experiment-charts';
import { claimsSection } from './claims';
import { disagreementsSection } from './disagreements';
import { recencySection } from './recency';
import { checkDatasetName, getProfile, PROFILES, type DatasetName, type ProfileName } from './profiles';
import { readOutcome, type ExperimentOutcome } from './runner';
import { resultsStore } from './results';
import { repoRoot } from '../paths';
import fs from 'node:fs';
import path from 'node:path';

export interface ExperimentParameters {
  /**
   * false (default): show the committed results of `profile` (default standard) from
   * reproductions/results/<profile>/<dataset>/<experiment>/results.json, training nothing. true (KDCL_RETRAIN=1):
   * train the experiment at `profile` (default smoke).
   */
  retrain: boolean;
  profile: ProfileName;
  dataset: DatasetName;
  dataDir?: string;
  outDir?: string;
  methods?: string[];
  /** false: start over (KDCL_FRESH=1); default true (resume from checkpoints). */
  resume: boolean;
}

/**
 * The notebook's parameters: KDCL_RETRAIN=1 (train instead of showing the committed results), KDCL_PROFILE
 * (default: standard when showing committed results, smoke when training), KDCL_DATASET (default: the profile's), KDCL_DATASET_DIR
 * (the dataset's own folder, as --data-dir; the loaders' KDCL_DATA_DIR, a parent folder, still applies without it),
 * KDCL_OUT (output folder), KDCL_METHODS (comma-separated subset), KDCL_FRESH=1 (ignore checkpoints).
 * Unknown names fail with the list of valid ones.
 */
export function experimentParameters(env: Record<string, string | undefined> = process.env): ExperimentParameters {
  const retrain = env.KDCL_RETRAIN === '1' || env.KDCL_RETRAIN === 'true';
  const profile = getProfile(env.KDCL_PROFILE || (retrain ? 'smoke' : 'standard')).name;
  const dataset = checkDatasetName(env.KDCL_DATASET || PROFILES[profile].dataset);
  const methods = env.KDCL_METHODS ? env.KDCL_METHODS.split(',').map((m) => m.trim()).filter(Boolean) : undefined;
  return {
    retrain,
    profile,
    dataset,
    ...(env.KDCL_DATASET_DIR ? { dataDir: env.KDCL_DATASET_DIR } : {}),
    ...(env.KDCL_OUT ? { outDir: env.KDCL_OUT } : {}),
    ...(methods ? { methods } : {}),
    resume: !(env.KDCL_FRESH === '1' || env.KDCL_FRESH === 'true'),
  };
}

/**
 * The committed results of an experiment (what `npm run grid -- merge` wrote into the profile's results store),
 * read without training or writing anything; an error says how to produce them when there are none.
 */
export function committedOutcome(experiment: string, params: Pick<ExperimentParameters, 'profile' | 'dataset'>): ExperimentOutcome {
  const store = path.join(repoRoot(), resultsStore(experiment, params.profile, params.dataset));
  if (!fs.existsSync(path.join(store, 'results.json'))) {
    throw new Error(
      `no committed ${params.profile} results for ${experiment} on ${params.dataset} (${path.join(store, 'results.json')}): ` +
        `set KDCL_RETRAIN=1 to train here, or run its grid and \`npm run grid -- merge ${path.join(store, 'grid.json')}\``,
    );
  }
  return readOutcome(store);
}

/** Shows the experiment's table (arquero HTML). */
export function showTable(outcome: ExperimentOutcome): void {
  displayHtml(outcome.table.toHTML(), outcome.table.toMarkdown());
}

/** Shows the experiment's charts (vega-lite bundle with an SVG fallback). Returns nothing: a notebook prints a cell's last value. */
export async function showCharts(outcome: ExperimentOutcome): Promise<void> {
  for (const chart of experimentCharts(outcome.experiment, outcome.results.runs)) await showChart(chart.spec);
}

/** Shows the verdict on the experiment's claim as one markdown sentence. */
export function showVerdict(outcome: ExperimentOutcome): void {
  displayBundle({ 'text/markdown': `**Verdict.** ${outcome.verdict}`, 'text/plain': outcome.verdict });
}

/**
 * Shows, as markdown, what REPORT.md says of the survey's claims: each judged on the runs (holds / fails /
 * undecided, paired by seed), where the runs disagree what their accuracy matrices show, and the recency table.
 */
export function showClaims(outcome: ExperimentOutcome): void {
  const { experiment, results } = outcome;
  const text = [...claimsSection(experiment.name, results.runs), '', ...disagreementsSection(experiment.name, results.runs), '', ...recencySection(experiment, results.runs)]
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .replace(/^## /gm, '### ') // under the notebook's own section heading
    .trim();
  displayBundle({ 'text/markdown': text, 'text/plain': text });
}

/** Table, charts and verdict in one call. */
export async function showOutcome(outcome: ExperimentOutcome): Promise<void> {
  showTable(outcome);
  await showCharts(outcome);
  showVerdict(outcome);
}
