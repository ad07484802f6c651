/**
 * Generates the notebooks under notebooks/ (without outputs) from their definitions, so they stay thin, uniform
 * and reviewable as code:
 *
 *   npx tsx scripts/make-notebooks.ts            writes every notebook
 *   npx tsx scripts/make-notebooks.ts --check    fails if a committed notebook differs from its definition
 *
 * Definitions: the experiment notebooks 01-04 below (one template, data from kernel-lib/experiments), plus every
 * module in scripts/notebooks/*.ts that exports `notebooks: NotebookDefinition[]` (that is where notebooks 00 and 05
 * go: their owner adds a file there, no edit here needed).
 *
 * Kernel: tslab, started in the checkout's root by scripts/tslab-kernel.cjs (`npm run kernel:install`), so cells
 * import the library as './kernel-lib/...' whatever the notebook's folder: tslab compiles local imports with the
 * kernel's working directory as rootDir, and '../kernel-lib' from notebooks/ falls outside it. Name files, not
 * folders ('./kernel-lib/experiments/index', extensionless): tslab's runtime loader does not resolve folder imports.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { EXPERIMENTS, PROFILES, type ExperimentDefinition } from '../kernel-lib/experiments/index';

export interface NotebookCell {
  cell_type: 'markdown' | 'code';
  id: string;
  metadata: Record<string, unknown>;
  source: string[];
  outputs?: unknown[];
  execution_count?: null;
}

export interface NotebookDefinition {
  /** File name under notebooks/, e.g. '01-main-comparison.ipynb'. */
  file: string;
  /** Cells in order: markdown or code source (a string; lines are split when written). */
  cells: { type: 'markdown' | 'code'; source: string }[];
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NOTEBOOK_DIR = path.join(ROOT, 'notebooks');

export const md = (source: string) => ({ type: 'markdown' as const, source: source.trim() });
export const code = (source: string) => ({ type: 'code' as const, source: source.trim() });

/** The .ipynb JSON of a definition: nbformat 4.5, tslab kernel, stable cell ids, no outputs. */
export function notebookJson(def: NotebookDefinition): string {
  const slug = def.file.replace(/\.ipynb$/, '');
  const cells: NotebookCell[] = def.cells.map((cell, i) => {
    const lines = cell.source.split('\n');
    const source = lines.map((line, j) => (j < lines.length - 1 ? `${line}\n` : line));
    const id = `${slug}-${String(i).padStart(2, '0')}`.slice(-64);
    return cell.type === 'code'
      ? { cell_type: 'code', id, metadata: {}, source, outputs: [], execution_count: null }
      : { cell_type: 'markdown', id, metadata: {}, source };
  });
  const notebook = {
    cells,
    metadata: {
      kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' },
      language_info: { name: 'typescript', file_extension: '.ts', mimetype: 'text/typescript', codemirror_mode: { mode: 'typescript', name: 'javascript', typescript: true } },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
  return `${JSON.stringify(notebook, null, 1)}\n`;
}

const profileRow = (p: keyof typeof PROFILES) => `| \`${p}\` | ${PROFILES[p].description} | ${PROFILES[p].expectedTime} |`;

/** An experiment notebook: question and claim, parameters, run (resumable), table, charts, verdict + REPORT.md. */
export function experimentNotebook(experiment: ExperimentDefinition): NotebookDefinition {
  const name = experiment.name;
  return {
    file: experiment.notebook,
    cells: [
      md(`
# ${experiment.title} (survey ${experiment.surveyTable})

**Question.** ${experiment.question}

**Claim checked.** ${experiment.claim.text} *(Source: ${experiment.claim.source}.)*

**Design.** ${experiment.design}

The last cell says, in one sentence computed from the results, whether this run agrees with the claim.
`),
      md(`
## Parameters

By default this notebook trains nothing: it shows the committed results of the \`standard\` profile
(\`reproductions/results/standard/embedded/${name}/\`, merged from the grid's rows with
\`npm run grid -- merge\`; reproductions/README.md says how they were run and which rows are still missing).
**\`KDCL_RETRAIN=1\` trains the experiment here instead**, at \`KDCL_PROFILE\` (default \`smoke\`, minutes). Other
parameters, read from environment variables so that \`npm run reproduce -- ${name} --profile quick\` can run this
notebook headlessly: \`KDCL_DATASET\` (default: the profile's), \`KDCL_DATASET_DIR\`, \`KDCL_OUT\` (output folder),
\`KDCL_METHODS\` (comma-separated subset), \`KDCL_FRESH=1\` (ignore checkpoints).

| profile | what | time |
| --- | --- | --- |
${(['ci', 'smoke', 'quick', 'standard', 'paper'] as const).map(profileRow).join('\n')}
`),
      code(`
import { experimentParameters, getExperiment, PROFILES } from './kernel-lib/experiments/index';

const experiment = getExperiment('${name}');
const params = experimentParameters();
console.log(\`\${params.retrain ? 'training at' : 'committed results of'} profile \${params.profile}: \${PROFILES[params.profile].description}\`);
params
`),
      md(`
## Results

Committed results are read from their store. With \`KDCL_RETRAIN=1\`, every run of the experiment trains one after
another; each checkpoints after every task under the output folder (default
\`reproductions/runs/${name}-<profile>-<dataset>/\`), so re-running this cell after an interruption resumes where
it stopped, and a finished run is not trained again.
`),
      code(`
import { committedOutcome, runExperiment } from './kernel-lib/experiments/index';

const { retrain, ...runParameters } = params;
const outcome = retrain
  ? await runExperiment({ experiment: experiment.name, ...runParameters, verbosity: 'runs' })
  : committedOutcome(experiment.name, params);
console.log(\`\${outcome.results.runs.filter((r) => r.status === 'done').length} of \${outcome.results.runs.length} runs done (\${outcome.outDir.replace(process.cwd() + '/', '')})\`);
`),
      md(`
## Our table

Accuracies in percent. AIA: average incremental accuracy (accuracy on all classes seen so far, averaged over the
tasks, first task included). Last: accuracy on all classes after the last task.
`),
      code(`
import { showTable } from './kernel-lib/experiments/index';

showTable(outcome);
`),
      md(`
## Charts
`),
      code(`
import { showCharts } from './kernel-lib/experiments/index';

await showCharts(outcome);
`),
      md(`
## Does our run agree with the claim?

After training, also writes \`REPORT.md\` (our numbers beside the verified published ones for the same setting) and
the figures as SVG into the output folder; the committed results' REPORT.md sits beside them in their store.
`),
      code(`
import { showVerdict, writeReport } from './kernel-lib/experiments/index';

if (retrain) await writeReport(outcome, { executedBy: \`notebook \${experiment.notebook}\` });
showVerdict(outcome);
`),
      md(`
## The survey's claims, and why the runs disagree

Every claim of the survey for this experiment, judged on the runs by one rule: a comparison **holds** if it goes
the survey's way in every seed (paired by seed), **fails** if it goes the other way in every seed, and is
**undecided** otherwise. Where a comparison of two runs fails, their accuracy matrices say what differs: the first
task (budget), each new task while it is the newest (plasticity), and the newest task against the older ones after
the last task (recency or old-class bias).
`),
      code(`
import { showClaims } from './kernel-lib/experiments/index';

showClaims(outcome);
`),
    ],
  };
}

/** The experiment notebooks (01-04) and those defined in scripts/notebooks/*.ts. */
export async function allNotebooks(): Promise<NotebookDefinition[]> {
  const defs = Object.values(EXPERIMENTS).map(experimentNotebook);
  const extraDir = path.join(ROOT, 'scripts', 'notebooks');
  if (fs.existsSync(extraDir)) {
    for (const file of fs.readdirSync(extraDir).filter((f) => f.endsWith('.ts')).sort()) {
      const mod = (await import(pathToFileURL(path.join(extraDir, file)).href)) as { notebooks?: NotebookDefinition[] };
      if (!Array.isArray(mod.notebooks)) throw new Error(`scripts/notebooks/${file} must export notebooks: NotebookDefinition[]`);
      defs.push(...mod.notebooks);
    }
  }
  const files = defs.map((d) => d.file);
  const duplicate = files.find((f, i) => files.indexOf(f) !== i);
  if (duplicate) throw new Error(`notebook ${duplicate} is defined twice`);
  return defs;
}

/**
 * Whether a notebook file is its definition: the same cells (type, id, source) on the tslab kernel. Outputs are not
 * compared: the experiment notebooks are committed executed (scripts/execute-notebooks.ts).
 */
export function matchesDefinition(text: string, def: NotebookDefinition): boolean {
  // nbformat writes keys sorted: compare the kernel by its fields, not by its JSON text.
  const shape = (nb: { cells: NotebookCell[]; metadata: { kernelspec?: { name?: string; language?: string; display_name?: string } } }) => {
    const k = nb.metadata.kernelspec ?? {};
    return JSON.stringify([[k.name, k.language, k.display_name], nb.cells.map((c) => [c.cell_type, c.id, [c.source].flat().join('')])]);
  };
  try {
    return shape(JSON.parse(text)) === shape(JSON.parse(notebookJson(def)));
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const stale: string[] = [];
  for (const def of await allNotebooks()) {
    const file = path.join(NOTEBOOK_DIR, def.file);
    const json = notebookJson(def);
    const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
    if (check) {
      if (current === null || !matchesDefinition(current, def)) stale.push(def.file);
      continue;
    }
    // An executed notebook whose cells are its definition keeps its outputs.
    if (current !== null && matchesDefinition(current, def)) continue;
    fs.mkdirSync(NOTEBOOK_DIR, { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, json);
    fs.renameSync(tmp, file);
    console.log(`wrote notebooks/${def.file}`);
  }
  if (stale.length) {
    console.error(`out of date (run \`npx tsx scripts/make-notebooks.ts\`): ${stale.join(', ')}`);
    process.exit(1);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
