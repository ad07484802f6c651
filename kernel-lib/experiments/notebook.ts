/**
 * What the experiment notebooks call: their parameters (environment variables, so `npm run reproduce` can inject
 * them into a headless run), and the display of an outcome (table as HTML, charts as vega-lite + SVG, verdict).
 * Notebooks import this as './kernel-lib/experiments/index': tslab's module loader resolves files, not folders.
 */
import { displayBundle, displayHtml } from '../viz/display';
import { showChart } from '../viz/charts';
import { experimentCharts } from './analysis';
import { checkDatasetName, getProfile, PROFILES, type DatasetName, type ProfileName } from './profiles';
import type { ExperimentOutcome } from './runner';

export interface ExperimentParameters {
  profile: ProfileName;
  dataset: DatasetName;
  dataDir?: string;
  outDir?: string;
  methods?: string[];
  /** false: start over (KDCL_FRESH=1); default true (resume from checkpoints). */
  resume: boolean;
}

/**
 * The notebook's parameters: KDCL_PROFILE (default smoke), KDCL_DATASET (default: the profile's), KDCL_DATASET_DIR
 * (the dataset's own folder, as --data-dir; the loaders' KDCL_DATA_DIR, a parent folder, still applies without it),
 * KDCL_OUT (output folder), KDCL_METHODS (comma-separated subset), KDCL_FRESH=1 (ignore checkpoints).
 * Unknown names fail with the list of valid ones.
 */
export function experimentParameters(env: Record<string, string | undefined> = process.env): ExperimentParameters {
  const profile = getProfile(env.KDCL_PROFILE || 'smoke').name;
  const dataset = checkDatasetName(env.KDCL_DATASET || PROFILES[profile].dataset);
  const methods = env.KDCL_METHODS ? env.KDCL_METHODS.split(',').map((m) => m.trim()).filter(Boolean) : undefined;
  return {
    profile,
    dataset,
    ...(env.KDCL_DATASET_DIR ? { dataDir: env.KDCL_DATASET_DIR } : {}),
    ...(env.KDCL_OUT ? { outDir: env.KDCL_OUT } : {}),
    ...(methods ? { methods } : {}),
    resume: !(env.KDCL_FRESH === '1' || env.KDCL_FRESH === 'true'),
  };
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

/** Table, charts and verdict in one call. */
export async function showOutcome(outcome: ExperimentOutcome): Promise<void> {
  showTable(outcome);
  await showCharts(outcome);
  showVerdict(outcome);
}
