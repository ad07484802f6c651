/**
 * Run configuration: the options createRun takes, their defaults (with sources), validation, and the config hash
 * that ties a checkpoint to the run that wrote it.
 */
import { tf } from '../tf';
import { backendInfo, currentPrecision, PRECISIONS, type Precision } from '../backend/index';
import type { ImageDataset } from '../data/types';
import type { ClassOrderName } from '../data/class-orders';
import type { ScenarioSpec } from '../data/scenario';
import type { Method } from '../methods/types';
import { methodResultsVersion } from '../methods/results-versions';
import { backboneSpecSchema } from '../models/backbone-spec';
import { nonNegativeInt, positiveInt, z } from '../schema';
import { canonicalJson, sha256Hex } from './checkpoint';
import { optimizerSpecSchema, scheduleSpecSchema, validateOptimizerSpec, validateScheduleSpec } from './optim';
import type { ProgressSink } from './progress';
import { PYCIL_SETTINGS, type TrainingSettings } from './settings';

export type { ScenarioSpec };
/** A named class order ('seed1993', 'icarl', { seed }), or an explicit permutation of the dataset's class ids. */
export type ClassOrderSpec = ClassOrderName | number[];

const isDataset = (v: unknown): v is ImageDataset =>
  !!v && typeof v === 'object' && 'train' in v && 'test' in v && Array.isArray((v as ImageDataset).classNames);
const isMethod = (v: unknown): v is Method => !!v && typeof v === 'object' && typeof (v as Method).lossTerms === 'function';

/** createRun's options: the schema that checks them and the type they have. */
export const runOptionsSchema = z.strictObject({
  /** The dataset with its original class ids; the run relabels it to arrival order. */
  dataset: z.custom<ImageDataset>(isDataset, 'must be a dataset from loadDataset() (train, test, classNames)'),
  scenario: z.union([z.enum(['b0-10', 'b50-10']), z.strictObject({ initial: positiveInt(), increment: positiveInt() })]),
  /** Default 'seed1993': PyCIL's class order (np.random.seed(1993) permutation, utils/data_manager.py). */
  classOrder: z.union([z.enum(['seed1993', 'icarl']), z.strictObject({ seed: z.number().int() }), z.array(nonNegativeInt())]).optional(),
  /** A Method object, or a registry name (default config). */
  method: z.union([z.string(), z.custom<Method>(isMethod, 'must be a registry name or a Method object (createMethod())')]),
  backbone: backboneSpecSchema,
  seed: z.number().int(),
  /** Optimiser for tasks after the first (and for the first too unless initOptimizer is given). */
  optimizer: optimizerSpecSchema.optional(),
  /** Optimiser for task 0 (PyCIL's init_lr / init_weight_decay). */
  initOptimizer: optimizerSpecSchema.optional(),
  schedule: scheduleSpecSchema.optional(),
  /** Schedule for task 0 (PyCIL's init_milestones / init_lr_decay). */
  initSchedule: scheduleSpecSchema.optional(),
  /** Epochs per task after the first. */
  epochs: positiveInt().optional(),
  /** Epochs for task 0 (PyCIL's init_epoch). Default: `epochs` when that is given, else PyCIL's 200. */
  initEpochs: positiveInt().optional(),
  batchSize: positiveInt().optional(),
  evalBatchSize: positiveInt().optional(),
  /** Training augmentation (random crop + flip, per kernel-lib/data's makeBatches). Default true. */
  augment: z.boolean().optional(),
  /** See TrainingSettings.resetOptimizerEachTask (train/settings.ts). Default true. */
  resetOptimizerEachTask: z.boolean().optional(),
  /** Folder for per-task checkpoints (task-NNN.kdcl). No checkpoints when absent. */
  checkpointDir: z.string().min(1).optional(),
  /** Keep every task's checkpoint, or only the latest (default). */
  keepCheckpoints: z.enum(['all', 'last']).optional(),
  /** A checkpoint file, or a folder whose latest checkpoint to continue from (a folder without one: fresh start). */
  resumeFrom: z.string().min(1).optional(),
  /** Display: 'auto' (default: a bar on a TTY, else a line per epoch), 'bar', 'lines' or 'none'. */
  progress: z.enum(['auto', 'bar', 'lines', 'none']).optional(),
  /** Called with every progress event (for notebooks that render their own progress). */
  onProgress: z.custom<ProgressSink>((v) => typeof v === 'function', 'must be a function').optional(),
  /** No output at all (tests). Same as progress: 'none'. */
  quiet: z.boolean().optional(),
  /** 'fp32' or 'bf16' mixed precision (native backend, CPU with AVX512-BF16 or AMX; see setPrecision). Default: KDCL_PRECISION, else fp32. */
  precision: z.enum(PRECISIONS).optional(),
});
export type RunOptions = z.infer<typeof runOptionsSchema>;

/** createRun's defaults: PyCIL's shared recipe (train/settings.ts PYCIL_SETTINGS) and its class order. */
export const DEFAULTS = { ...PYCIL_SETTINGS, classOrder: 'seed1993' as ClassOrderSpec } as const;

/** The options that decide the results, with defaults filled in: one TrainingSettings. */
export type ResolvedTraining = TrainingSettings;

function checkedPositiveInt(value: unknown, field: string): number {
  if (!Number.isInteger(value) || (value as number) < 1) {
    throw new Error(`createRun: ${field} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value as number;
}

export function resolveTraining(options: RunOptions): ResolvedTraining {
  // An explicit optimizer/schedule/epochs applies to task 0 too unless an init* override is given:
  // a caller who sets `epochs: 2` wants 2 epochs everywhere, not PyCIL's 200 on task 0.
  const optimizer = options.optimizer ?? DEFAULTS.optimizer;
  const schedule = options.schedule ?? DEFAULTS.schedule;
  const resolved: ResolvedTraining = {
    optimizer,
    initOptimizer: options.initOptimizer ?? (options.optimizer ? optimizer : DEFAULTS.initOptimizer),
    schedule,
    initSchedule: options.initSchedule ?? (options.schedule ? schedule : DEFAULTS.initSchedule),
    epochs: checkedPositiveInt(options.epochs ?? DEFAULTS.epochs, 'epochs'),
    initEpochs: checkedPositiveInt(options.initEpochs ?? options.epochs ?? DEFAULTS.initEpochs, 'initEpochs'),
    batchSize: checkedPositiveInt(options.batchSize ?? DEFAULTS.batchSize, 'batchSize'),
    evalBatchSize: checkedPositiveInt(options.evalBatchSize ?? DEFAULTS.evalBatchSize, 'evalBatchSize'),
    augment: options.augment ?? true,
    resetOptimizerEachTask: options.resetOptimizerEachTask ?? true,
  };
  validateOptimizerSpec(resolved.optimizer, 'optimizer');
  validateOptimizerSpec(resolved.initOptimizer, 'initOptimizer');
  validateScheduleSpec(resolved.schedule, 'schedule');
  validateScheduleSpec(resolved.initSchedule, 'initSchedule');
  return resolved;
}

/** Cheap identity of a dataset: shapes, counts, a hash of the labels and of a strided sample of the pixels. */
export function datasetFingerprint(ds: ImageDataset): Record<string, unknown> {
  const sample = (images: Uint8Array) => {
    const picks = Math.min(images.length, 1 << 16);
    const stride = Math.max(1, Math.floor(images.length / picks));
    const out = new Uint8Array(picks);
    for (let i = 0; i < picks; i++) out[i] = images[i * stride];
    return sha256Hex(out).slice(0, 16);
  };
  const split = (s: ImageDataset['train']) => ({
    count: s.count,
    shape: [s.height, s.width, s.channels],
    labels: sha256Hex(new Uint8Array(s.labels.buffer, s.labels.byteOffset, s.labels.byteLength)).slice(0, 16),
    pixels: sample(s.images),
  });
  return { name: ds.name, classes: ds.classNames.length, train: split(ds.train), test: split(ds.test) };
}

/**
 * The engine a run computes on: backend, thread count, the ISA of its kernels and the precision. Results depend on
 * each (oneDNN splits work by thread count; kernels built for another ISA round differently), so they are part of a
 * run's identity: a resume on another engine is refused, and every result and checkpoint records them.
 */
export interface EngineIdentity {
  backend: string;
  threads: number | null;
  /** oneDNN's ISA and the build of kdcl's own loops on the native backend (null elsewhere). */
  isa: string | null;
  loops: string | null;
  precision: Precision;
}

export function engineIdentity(): EngineIdentity {
  try {
    const info = backendInfo();
    const detail = (key: string) => (info.details?.[key] === undefined ? null : String(info.details[key]));
    return { backend: info.name, threads: info.threads, isa: detail('isa'), loops: detail('loops'), precision: currentPrecision() };
  } catch {
    // No initBackend() call: tfjs's own default backend.
    return { backend: tf.getBackend() ?? 'unknown', threads: null, isa: null, loops: null, precision: 'fp32' };
  }
}

/** Everything that decides a run's numbers; hashed into every checkpoint. (Eval batch size and display are not.) */
export function runIdentity(
  options: RunOptions,
  method: Method,
  training: ResolvedTraining,
  scenario: unknown,
  order: number[],
): Record<string, unknown> {
  const { evalBatchSize: _eval, ...trainingFields } = training;
  return {
    dataset: datasetFingerprint(options.dataset),
    scenario,
    classOrder: order,
    // A method's results version above 1 (methods/results-versions.ts): a fix that changes its numbers without
    // changing its config still makes its earlier checkpoints and results another run's.
    method: { name: method.name, config: method.config, ...(methodResultsVersion(method.name) > 1 ? { resultsVersion: methodResultsVersion(method.name) } : {}) },
    backbone: options.backbone,
    seed: options.seed,
    training: trainingFields,
    engine: engineIdentity(),
  };
}

export function configHash(identity: Record<string, unknown>): string {
  return sha256Hex(canonicalJson(identity));
}

/** Top-level fields that differ between two identities, for the resume error. */
export function identityDiff(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const diff: string[] = [];
  for (const key of keys) {
    const av = a[key] && typeof a[key] === 'object' && !Array.isArray(a[key]) ? (a[key] as Record<string, unknown>) : null;
    const bv = b[key] && typeof b[key] === 'object' && !Array.isArray(b[key]) ? (b[key] as Record<string, unknown>) : null;
    if (av && bv) {
      for (const sub of identityDiff(av, bv)) diff.push(`${key}.${sub}`);
    } else if (canonicalJson(a[key]) !== canonicalJson(b[key])) {
      diff.push(key);
    }
  }
  return diff;
}
