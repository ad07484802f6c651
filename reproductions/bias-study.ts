/**
 * Trains notebook 05's bias study and commits it with the repository (reproductions/results/bias-study/), so the
 * notebook opens on results without training:
 *
 *   npm run bias-study                          the notebook's default pick (LUCIR), BiC, SS-IL, replay + KD
 *   npm run bias-study -- --methods lucir,icarl  more picks: each adds its own run beside BiC, SS-IL and replay + KD
 *
 * The setting is the notebook's (KDCL_PROFILE, default smoke). A run already committed is loaded, not trained again.
 */
import { COMMITTED_BIAS_STUDY, notebookStudyModels, runBiasStudy, type StudyModel } from '../kernel-lib/analysis/bias-study';

const args = process.argv.slice(2);
const at = args.indexOf('--methods');
if (args.some((a, i) => a.startsWith('--') && a !== '--methods') || (at >= 0 && !args[at + 1])) {
  console.error('usage: npm run bias-study [-- --methods lucir,icarl,...]');
  process.exit(2);
}
const picks = at >= 0 ? args[at + 1].split(',') : ['lucir'];
const models: StudyModel[] = picks.flatMap((p) => notebookStudyModels(p));
const started = Date.now();
const study = await runBiasStudy(models, { cacheDir: COMMITTED_BIAS_STUDY, committedDir: false });
for (const r of study.runs) console.log(`${r.label}: accuracy after each task ${r.accuracy.map((a) => (100 * a).toFixed(1)).join(', ')}% (${r.cached ? 'committed earlier' : `${r.seconds.toFixed(0)} s`})`);
console.log(`bias study in ${COMMITTED_BIAS_STUDY}, ${((Date.now() - started) / 1000).toFixed(0)} s`);
