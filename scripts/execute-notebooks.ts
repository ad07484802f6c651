/**
 * Executes the experiment notebooks in place on their committed results (the notebooks' default: no training), so
 * the repository ships them with their tables, charts and verdicts as outputs, readable in a static view.
 *
 *   npm run notebooks:execute            every experiment notebook whose committed results exist, and 05 on the
 *                                        bias study that `npm run bias-study` committed
 *   npm run notebooks:execute -- 01      the notebooks whose file name starts with 01
 *
 * Run it after `npm run grid -- merge <grid>` has refreshed an experiment's results.json. A notebook without
 * committed results is left as it is (said). Needs Python's nbclient and the tslab kernel (environment/README.md).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { COMMITTED_BIAS_STUDY } from '../kernel-lib/analysis/bias-study';
import { EXPERIMENTS, PROFILES } from '../kernel-lib/experiments/index';
import { resultsStore } from '../kernel-lib/experiments/results';
import { ROOT, executeNotebook, notebookRunner } from '../reproductions/notebook-exec';

const only = process.argv.slice(2);
const runner = notebookRunner();
if ('reason' in runner) {
  console.error(`cannot execute notebooks: ${runner.reason}`);
  process.exit(2);
}
let failed = 0;

/** Executes one notebook into a temporary copy and moves it over the committed one (said, or counted as failed). */
async function executeInPlace(notebook: string, on: string): Promise<void> {
  const source = path.join(ROOT, 'notebooks', notebook);
  const executed = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-nb-')), notebook);
  const result = await executeNotebook(source, executed, { python: (runner as { python: string }).python, stdio: 'pipe' });
  if (result.exitCode !== 0 || result.errors.length) {
    failed++;
    console.error(`notebooks/${notebook}: execution failed (exit ${result.exitCode}): ${[...result.errors, result.stderr].join('\n').slice(0, 2000)}`);
    return;
  }
  // nbformat writes the file; moved over the committed one in one step.
  fs.copyFileSync(executed, `${source}.tmp-${process.pid}`);
  fs.renameSync(`${source}.tmp-${process.pid}`, source);
  console.log(`notebooks/${notebook}: executed on ${on}`);
}

const wanted = (notebook: string) => !only.length || only.some((prefix) => notebook.startsWith(prefix));
for (const experiment of Object.values(EXPERIMENTS)) {
  if (!wanted(experiment.notebook)) continue;
  const store = path.join(ROOT, resultsStore(experiment.name, 'standard', PROFILES.standard.dataset));
  if (!fs.existsSync(path.join(store, 'results.json'))) {
    console.log(`notebooks/${experiment.notebook}: no committed results in ${path.relative(ROOT, store)} yet; left as it is`);
    continue;
  }
  await executeInPlace(experiment.notebook, `${path.relative(ROOT, store)}/results.json`);
}
// Notebook 05 opens on the bias study that `npm run bias-study` committed.
const BIAS_NOTEBOOK = '05-classification-bias.ipynb';
if (wanted(BIAS_NOTEBOOK)) {
  const committed = fs.existsSync(COMMITTED_BIAS_STUDY) && fs.readdirSync(COMMITTED_BIAS_STUDY).some((f) => f.endsWith('.json'));
  if (committed) await executeInPlace(BIAS_NOTEBOOK, path.relative(ROOT, COMMITTED_BIAS_STUDY));
  else console.log(`notebooks/${BIAS_NOTEBOOK}: no committed bias study in ${path.relative(ROOT, COMMITTED_BIAS_STUDY)} (npm run bias-study); left as it is`);
}
process.exit(failed ? 1 : 0);
