/**
 * Notebook 05's bias study from the command line.
 *
 *   npm run bias-study                             trains the notebook's study and commits it with the repository
 *                                                  (reproductions/results/bias-study/): the default pick (LUCIR),
 *                                                  BiC, SS-IL and replay + KD, so the notebook opens on results
 *   npm run bias-study -- --methods lucir,icarl    more picks for the notebook, each beside BiC, SS-IL and replay + KD
 *   npm run bias-study -- --methods ssil --epochs 24 --config '{"divideLrByTask":false}'
 *                                                  a what-if: only the named methods, with later-task epochs and/or a
 *                                                  method config changed; kept in kdcl's cache, never committed
 *
 * Each run prints, after every task, the accuracy on old and new classes and the share of predictions that fall on
 * the new task's classes (the task-recency bias). The setting is the notebook's (KDCL_PROFILE, default smoke).
 */
import { COMMITTED_BIAS_STUDY, biasStudySettings, notebookStudyModels, runBiasStudy, type StudyModel } from '../kernel-lib/analysis/bias-study';

const USAGE = "usage: npm run bias-study [-- --methods lucir,icarl,...] [--epochs N] [--config '{...}']";
const args = process.argv.slice(2);
const flags = new Map<string, string>();
for (let i = 0; i < args.length; i += 2) {
  if (!['--methods', '--epochs', '--config'].includes(args[i]) || args[i + 1] === undefined) {
    console.error(`bias-study: '${args[i]}' ${args[i + 1] === undefined && args[i]?.startsWith('--') ? 'needs a value' : 'is not an option'}\n${USAGE}`);
    process.exit(2);
  }
  flags.set(args[i].slice(2), args[i + 1]);
}
const picks = (flags.get('methods') ?? 'lucir').split(',');
const epochs = flags.has('epochs') ? Number(flags.get('epochs')) : undefined;
if (epochs !== undefined && !(Number.isInteger(epochs) && epochs > 0)) throw new Error(`bias-study: --epochs must be a positive integer, got '${flags.get('epochs')}'`);
let config: Record<string, unknown> | undefined;
try {
  config = flags.has('config') ? (JSON.parse(flags.get('config')!) as Record<string, unknown>) : undefined;
} catch (err) {
  throw new Error(`bias-study: --config is not JSON: ${(err as Error).message}`);
}
const whatIf = epochs !== undefined || config !== undefined;
const settings = { ...biasStudySettings(), ...(epochs !== undefined ? { epochs } : {}) };
const models: StudyModel[] = whatIf
  ? picks.map((method) => ({ method, config, label: `${method}${config ? ` ${JSON.stringify(config)}` : ''}, ${settings.epochs} epochs after the first task` }))
  : picks.flatMap((p) => notebookStudyModels(p));
const started = Date.now();
const study = await runBiasStudy(models, whatIf ? { settings, committedDir: false } : { settings, cacheDir: COMMITTED_BIAS_STUDY, committedDir: false });
const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(1) : '-');
for (const r of study.runs) {
  console.log(`${r.label}: accuracy after each task ${r.accuracy.map(pct).join(', ')}% (${r.cached ? 'loaded' : `${r.seconds.toFixed(0)} s`})`);
  for (const h of r.history) console.log(`  after task ${h.task}: old classes ${pct(h.metrics.old)}%, new ${pct(h.metrics.new)}%, predictions on new classes ${pct(h.newPredictionShare)}%`);
}
console.log(`bias study ${whatIf ? 'in the cache' : `in ${COMMITTED_BIAS_STUDY}`}, ${((Date.now() - started) / 1000).toFixed(0)} s`);
