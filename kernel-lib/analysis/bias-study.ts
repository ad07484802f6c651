/**
 * A bias study: a few small runs on the same data, with the bias views (kernel-lib/analysis/bias) recorded after
 * every task. Notebook 05 trains the method the reader picks beside BiC (views before and after its bias
 * correction), SS-IL (separated softmax) and a replay method with a global softmax.
 *
 *   const study = await runBiasStudy([{ method: 'icarl' }, { method: 'bic' }]);
 *   study.run('bic').history;      // BiasViews after task 0, 1, 2 (raw logits)
 *   study.run('bic').corrected;    // the same after BiC's bias correction
 *
 * Runs are trained with kernel-lib/experiments' training setup (a profile's optimiser and each method's own
 * optimiser recipe, exemplar budgets scaled to the small data) on an equal-task split of the first classes of a
 * dataset. Results are cached as JSON (keyed by the settings), so re-running a notebook loads them in a moment.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { BackboneSpec } from '../models/backbone-spec';
import { cacheDir, repoRoot } from '../paths';
import { writeFileAtomic } from '../train/checkpoint';
import { createRun } from '../train/run';
import { methodNames } from '../methods/registry';
import { PROFILES, type Profile } from '../experiments/profiles';
import { loadExperimentDataset } from '../experiments/dataset';
import { runOptionsFor } from '../experiments/runner';
import { METHOD_LABELS, type RunSpec } from '../experiments/experiments';
import { initBackend } from '../backend/index';
import { analyseRun, bicBeforeAfter, type BiasViews } from './bias';
import { biasViewsFromJSON, biasViewsToJSON, type BiasViewsJSON } from './bias-summary';

export interface BiasStudySettings {
  /** The first `classes` classes of the embedded dataset, split into `tasks` equal tasks. */
  classes: number;
  tasks: number;
  trainPerClass: number;
  testPerClass: number;
  backbone: BackboneSpec;
  initEpochs: number;
  epochs: number;
  batchSize: number;
  /**
   * Exemplars per class at the end of the run (the survey's 20 per class, or 2000 for 100 classes, scaled by
   * memoryPerClass / 20 for every method: per-class budgets and totals alike). At most 20.
   */
  memoryPerClass: number;
  seed: number;
}

/**
 * Sizes, as data. 'smoke' (default): 12 classes in 3 tasks, 100 training images per class against 10 exemplars per
 * old class, a small ResNet; about half a minute of CPU per run on 2 cores. 'ci': a slice for tests, seconds per run.
 */
export const BIAS_STUDY_PRESETS: Record<'ci' | 'smoke', BiasStudySettings> = {
  ci: {
    classes: 9,
    tasks: 3,
    trainPerClass: 24,
    testPerClass: 10,
    backbone: { kind: 'resnet32', width: 0.25, blocksPerStage: 1 },
    initEpochs: 1,
    epochs: 1,
    batchSize: 32,
    memoryPerClass: 10,
    seed: 1993,
  },
  smoke: {
    classes: 12,
    tasks: 3,
    trainPerClass: 100,
    testPerClass: 30,
    // ResNet-32's layout with 2 blocks per stage at half width: on 4 classes of 100 images it reaches ~65% in 10
    // epochs for half the compute of the full-depth quarter-width net (~55%), measured on this 2-core machine.
    backbone: { kind: 'resnet32', width: 0.5, blocksPerStage: 2 },
    initEpochs: 10,
    epochs: 6,
    batchSize: 32,
    memoryPerClass: 10,
    seed: 1993,
  },
};

export type BiasStudyPreset = keyof typeof BIAS_STUDY_PRESETS;

/** The preset named by KDCL_PROFILE ('ci' or 'smoke'; default 'smoke'), as notebook 05 reads it. */
export function biasStudySettings(env: Record<string, string | undefined> = process.env): BiasStudySettings {
  const name = env.KDCL_PROFILE || 'smoke';
  if (!Object.hasOwn(BIAS_STUDY_PRESETS, name)) {
    throw new Error(`bias study: unknown profile '${name}' (KDCL_PROFILE); valid: ${Object.keys(BIAS_STUDY_PRESETS).join(', ')}`);
  }
  return { ...BIAS_STUDY_PRESETS[name as BiasStudyPreset] };
}

/** One model of the study: a registry method with config overrides, and how charts name it. */
export interface StudyModel {
  method: string;
  config?: Record<string, unknown>;
  /** Default: the method's display name. */
  label?: string;
}

/** One trained model: its views after every task (raw logits), and for BiC after the bias correction too. */
export interface StudyRun {
  label: string;
  method: string;
  config: Record<string, unknown>;
  history: BiasViews[];
  /** BiC only: the views after its bias correction (BiC's own prediction), task by task. */
  corrected: BiasViews[] | null;
  /** Accuracy on all seen classes after each task, with the method's own prediction (e.g. iCaRL's NME). */
  accuracy: number[];
  seconds: number;
  /** Loaded from the cache rather than trained now. */
  cached: boolean;
}

export interface BiasStudy {
  settings: BiasStudySettings;
  runs: StudyRun[];
  /** The run with this label (or, failing that, this method name), or an error listing the labels. */
  run(labelOrMethod: string): StudyRun;
}

/** Display name: the label given, else kernel-lib/experiments' name for the method, else the registry name. */
export function modelLabel(model: StudyModel): string {
  return model.label ?? METHOD_LABELS[model.method] ?? model.method;
}

/** The experiments profile these settings amount to (kernel-lib/experiments' smoke profile, resized). */
function studyProfile(s: BiasStudySettings): Profile {
  if (!(s.memoryPerClass >= 1 && s.memoryPerClass <= 20)) throw new Error(`bias study: memoryPerClass must be in [1, 20], got ${s.memoryPerClass}`);
  if (!(Number.isInteger(s.tasks) && s.tasks >= 1 && s.classes % s.tasks === 0)) {
    throw new Error(`bias study: classes (${s.classes}) must split into ${s.tasks} equal tasks`);
  }
  const base = PROFILES.smoke;
  return {
    ...base,
    classes: s.classes,
    trainPerClass: s.trainPerClass,
    testPerClass: s.testPerClass,
    backbone: s.backbone,
    initEpochs: s.initEpochs,
    epochs: s.epochs,
    batchSize: s.batchSize,
    seeds: [s.seed],
    // The profiles' budgets are the survey's (20 per class, 2000 for 100 classes): scale both to memoryPerClass.
    memoryScale: s.memoryPerClass / 20,
  };
}

// 2: BiC's stage 2 runs its full 200 epochs on cached logits.
const CACHE_VERSION = 'kdcl-bias-study-2';

function cacheKey(settings: BiasStudySettings, model: StudyModel): string {
  const identity = JSON.stringify({ v: CACHE_VERSION, settings, method: model.method, config: model.config ?? {} });
  return crypto.createHash('sha256').update(identity).digest('hex').slice(0, 16);
}

interface CachedRun {
  version: string;
  label: string;
  method: string;
  config: Record<string, unknown>;
  history: BiasViewsJSON[];
  corrected: BiasViewsJSON[] | null;
  accuracy: number[];
  seconds: number;
}

function readCached(file: string): CachedRun | null {
  if (!fs.existsSync(file)) return null;
  try {
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as CachedRun;
    return json.version === CACHE_VERSION ? json : null;
  } catch {
    return null; // a damaged cache entry is retrained (and rewritten)
  }
}

export interface RunBiasStudyOptions {
  /** Default: biasStudySettings() (KDCL_PROFILE), with these fields replaced. */
  settings?: Partial<BiasStudySettings>;
  /** Folder of cached results (default <cache>/bias-study); false: no cache, always train. */
  cacheDir?: string | false;
  /**
   * Results committed with the repository, read before the cache and never written by a study (default
   * reproductions/results/bias-study, which `npm run bias-study` fills); false, or KDCL_RETRAIN=1, skips them.
   */
  committedDir?: string | false;
  /** Progress lines (default console.log). */
  log?: (line: string) => void;
}

/** Where `npm run bias-study` commits notebook 05's study, so that the notebook opens on results without training. */
export const COMMITTED_BIAS_STUDY = path.join(repoRoot(), 'reproductions', 'results', 'bias-study');

/** Notebook 05's models: the picked method, BiC, SS-IL, and replay + KD under a global softmax. */
export function notebookStudyModels(picked: string): StudyModel[] {
  return [
    { method: picked },
    { method: 'bic' },
    { method: 'ssil' },
    { method: 'replay-kd', config: { softmax: 'global', kdLoss: 'ce' }, label: 'Replay + KD (global softmax)' },
  ];
}

/** Trains (or loads from the cache) each model on the study's data and records the bias views after every task. */
export async function runBiasStudy(models: StudyModel[], options: RunBiasStudyOptions = {}): Promise<BiasStudy> {
  const settings: BiasStudySettings = { ...biasStudySettings(), ...options.settings };
  const profile = studyProfile(settings);
  const log = options.log ?? ((line: string) => console.log(line));
  const known = methodNames();
  const unknown = models.filter((m) => !known.includes(m.method)).map((m) => m.method);
  if (unknown.length) throw new Error(`bias study: unknown method(s) ${unknown.join(', ')}; valid methods: ${known.join(', ')}`);
  // The same model asked for twice (e.g. the picked method is BiC) is trained once.
  const unique = models.filter((m, i) => models.findIndex((o) => modelLabel(o) === modelLabel(m)) === i);
  const folder = options.cacheDir === false ? null : (options.cacheDir ?? path.join(cacheDir(), 'bias-study'));
  const committed = options.committedDir === false || process.env.KDCL_RETRAIN === '1' ? null : (options.committedDir ?? COMMITTED_BIAS_STUDY);

  const runs: StudyRun[] = [];
  let dataset: Awaited<ReturnType<typeof loadExperimentDataset>> | null = null;
  for (const model of unique) {
    const label = modelLabel(model);
    const name = `${model.method}-${cacheKey(settings, model)}.json`;
    const file = folder ? path.join(folder, name) : null;
    let hit: { from: string; run: CachedRun } | null = null;
    for (const f of [committed && path.join(committed, name), file]) {
      const run = f ? readCached(f) : null;
      if (run) {
        hit = { from: f as string, run };
        break;
      }
    }
    if (hit) {
      log(`${label}: loaded from ${path.relative(process.cwd(), hit.from)}`);
      runs.push(fromCache(hit.run, label));
      continue;
    }
    await initBackend({ log: false });
    dataset ??= await loadExperimentDataset('embedded', profile);
    const perTask = settings.classes / settings.tasks;
    const spec: RunSpec = { id: label, method: model.method, config: model.config ?? {}, scenario: 'b0-10', labels: {}, role: 'method' };
    const run = await createRun({
      ...runOptionsFor(spec, settings.seed, profile, 'embedded', dataset),
      scenario: { initial: perTask, increment: perTask },
      quiet: true,
    });
    const started = Date.now();
    const history: BiasViews[] = [];
    const corrected: BiasViews[] = [];
    const accuracy: number[] = [];
    try {
      for (let t = 0; t < settings.tasks; t++) {
        const metrics = await run.trainTask();
        accuracy.push(metrics.accuracy);
        if (model.method === 'bic') {
          const [raw, fixed] = bicBeforeAfter(run, { model: label });
          history.push(raw);
          corrected.push(fixed);
        } else {
          history.push(analyseRun(run, { model: label }));
        }
        log(`${label}: task ${t} done, accuracy ${(100 * metrics.accuracy).toFixed(1)}% (${((Date.now() - started) / 1000).toFixed(0)} s)`);
      }
    } finally {
      run.dispose();
    }
    const result: StudyRun = {
      label,
      method: model.method,
      config: model.config ?? {},
      history,
      corrected: model.method === 'bic' ? corrected : null,
      accuracy,
      seconds: (Date.now() - started) / 1000,
      cached: false,
    };
    if (file) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      writeFileAtomic(file, new TextEncoder().encode(JSON.stringify(toCache(result))));
    }
    runs.push(result);
  }
  return {
    settings,
    runs,
    run(name: string) {
      const found = runs.find((r) => r.label === name) ?? runs.find((r) => r.method === name);
      if (!found) throw new Error(`bias study: no run '${name}'; runs: ${runs.map((r) => `${r.label} (${r.method})`).join(', ')}`);
      return found;
    },
  };
}

function toCache(run: StudyRun): CachedRun {
  return {
    version: CACHE_VERSION,
    label: run.label,
    method: run.method,
    config: run.config,
    history: run.history.map(biasViewsToJSON),
    corrected: run.corrected ? run.corrected.map(biasViewsToJSON) : null,
    accuracy: run.accuracy,
    seconds: run.seconds,
  };
}

/** A cached run under the label asked for now (labels are display names, not part of the cache key). */
function fromCache(json: CachedRun, label: string): StudyRun {
  const relabel = (v: BiasViews) => ({ ...v, model: label });
  return {
    label,
    method: json.method,
    config: json.config,
    history: json.history.map(biasViewsFromJSON).map(relabel),
    corrected: json.corrected ? json.corrected.map(biasViewsFromJSON).map(relabel) : null,
    accuracy: json.accuracy,
    seconds: json.seconds,
    cached: true,
  };
}
