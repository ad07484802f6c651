/**
 * The bias views as numbers and words: one summary row per view (the numbers behind the charts), a sentence
 * describing or comparing views, and a JSON form for caches (typed arrays as plain arrays).
 */
import type { BiasViews } from './bias';

function fail(fn: string, message: string): never {
  throw new Error(`kernel-lib/analysis ${fn}: ${message}`);
}

/** One row of the bias summary: the numbers behind the four views. */
export interface BiasSummaryRow {
  model: string;
  variant: string;
  task: number;
  accuracy: number;
  oldAccuracy: number;
  newAccuracy: number;
  /** Share of predictions in the current task's classes, and the share of samples that belong there. */
  newPredictionShare: number;
  newSampleShare: number;
  meanOldLogit: number;
  meanNewLogit: number;
  meanOldWeightNorm: number;
  meanNewWeightNorm: number;
  meanOldBias: number;
  meanNewBias: number;
}

/** Mean of a per-class array over classes [start, end) (NaN when empty or absent). */
function meanOverClasses(values: Float32Array | null | undefined, start: number, end: number): number {
  if (!values || end <= start) return NaN;
  let s = 0;
  for (let c = start; c < end; c++) s += values[c];
  return s / (end - start);
}

export function biasSummary(views: BiasViews): BiasSummaryRow {
  const current = views.tasks[views.task];
  const samples = views.taskHistogram.reduce((s, row) => s + row.reduce((a, b) => a + b, 0), 0);
  const newSamples = views.taskHistogram[views.task].reduce((a, b) => a + b, 0);
  const stats = views.classifier;
  return {
    model: views.model,
    variant: views.variant,
    task: views.task,
    accuracy: views.metrics.accuracy,
    oldAccuracy: views.metrics.old,
    newAccuracy: views.metrics.new,
    newPredictionShare: views.newPredictionShare,
    newSampleShare: samples ? newSamples / samples : NaN,
    meanOldLogit: views.meanLogits.old,
    meanNewLogit: views.meanLogits.new,
    meanOldWeightNorm: meanOverClasses(stats?.weightNorms, 0, current.start),
    meanNewWeightNorm: meanOverClasses(stats?.weightNorms, current.start, current.end),
    meanOldBias: meanOverClasses(stats?.biases, 0, current.start),
    meanNewBias: meanOverClasses(stats?.biases, current.start, current.end),
  };
}

/** BiasViews with plain arrays instead of typed arrays (JSON.stringify-able, e.g. for a cache). */
export interface BiasViewsJSON extends Omit<BiasViews, 'confusion' | 'classifier'> {
  confusion: { classes: number; counts: number[] };
  classifier: { weightNorms: number[]; biases: number[] | null } | null;
}

/** NaN and infinities become null in JSON; this keeps them. */
const encodeNumber = (x: number) => (Number.isFinite(x) ? x : String(x));
const decodeNumber = (x: unknown) => (typeof x === 'number' ? x : Number(x));

function mapNumbers<T>(value: T, f: (x: unknown) => unknown): T {
  if (typeof value === 'number' || (typeof value === 'string' && /^(NaN|-?Infinity)$/.test(value))) return f(value) as T;
  if (Array.isArray(value)) return value.map((v) => mapNumbers(v, f)) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapNumbers(v, f)])) as T;
  return value;
}

export function biasViewsToJSON(views: BiasViews): BiasViewsJSON {
  const plain: BiasViewsJSON = {
    ...views,
    confusion: { classes: views.confusion.classes, counts: Array.from(views.confusion.counts) },
    classifier: views.classifier
      ? { weightNorms: Array.from(views.classifier.weightNorms), biases: views.classifier.biases ? Array.from(views.classifier.biases) : null }
      : null,
  };
  return mapNumbers(plain, (x) => encodeNumber(x as number));
}

export function biasViewsFromJSON(json: BiasViewsJSON): BiasViews {
  const plain = mapNumbers(json, decodeNumber);
  if (!plain || !plain.confusion || !Array.isArray(plain.taskHistogram)) fail('biasViewsFromJSON', 'not a BiasViews JSON object (confusion / taskHistogram missing)');
  return {
    ...plain,
    confusion: { classes: plain.confusion.classes, counts: Int32Array.from(plain.confusion.counts) },
    classifier: plain.classifier
      ? { weightNorms: Float32Array.from(plain.classifier.weightNorms), biases: plain.classifier.biases ? Float32Array.from(plain.classifier.biases) : null }
      : null,
  };
}

// ---------------------------------------------------------------- in words

const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : 'n/a');
const num = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');

/** One sentence, computed from the views: how much the predictions lean towards the newest task. */
export function describeBias(views: BiasViews): string {
  const s = biasSummary(views);
  const who = `${s.model} (${s.variant}) after task ${s.task}`;
  if (s.task === 0) return `${who}: only one task learnt, so every prediction is a class of the newest task; there is no bias to see yet.`;
  return (
    `${who}: ${pct(s.newPredictionShare)} of the test predictions are classes of the newest task, which hold ` +
    `${pct(s.newSampleShare)} of the test samples; mean logit ${num(s.meanNewLogit)} on new classes against ${num(s.meanOldLogit)} on old ones; ` +
    `accuracy ${pct(s.newAccuracy)} on new classes, ${pct(s.oldAccuracy)} on old ones.`
  );
}

/** One sentence comparing two models (or score variants) after the same task: the share of new-class predictions. */
export function compareBias(a: BiasViews, b: BiasViews): string {
  if (a.task !== b.task) fail('compareBias', `compare views after the same task (got tasks ${a.task} and ${b.task})`);
  const [x, y] = [biasSummary(a), biasSummary(b)];
  if (x.task === 0) return `After task 0 only one task has been learnt: nothing to compare yet (pick a later task).`;
  const name = (r: BiasSummaryRow) => (a.model === b.model ? r.variant : a.variant === b.variant ? r.model : `${r.model} (${r.variant})`);
  const more = y.newPredictionShare > x.newPredictionShare ? name(y) : name(x);
  return (
    `After task ${x.task}, ${name(x)} puts ${pct(x.newPredictionShare)} of its predictions on the newest task's classes and ` +
    `${name(y)} ${pct(y.newPredictionShare)}, where ${pct(x.newSampleShare)} of the test samples belong: ${more} leans more towards the new classes. ` +
    `Accuracy on old classes: ${pct(x.oldAccuracy)} vs ${pct(y.oldAccuracy)}; on new classes: ${pct(x.newAccuracy)} vs ${pct(y.newAccuracy)}; ` +
    `on all: ${pct(x.accuracy)} vs ${pct(y.accuracy)}.`
  );
}
