/**
 * Profiles: how big a reproduction is, as data. A profile picks the dataset slice, the backbone, the epochs and
 * the optimiser; the experiment (experiments.ts) picks the methods and scenarios. Method-specific paper settings
 * (e.g. LUCIR's 160 epochs, PASS's Adam) come from the methods' own recipes (`Method.recipe`), as far as the
 * profile's `recipeFields` says (all of them in the paper profile, the optimiser only in the small ones).
 *
 *   ci     a few seconds per run: 20 classes, 10 training images each, one epoch (tests, the notebook CI test)
 *   smoke  minutes: the embedded dataset subsampled per class, a narrow ResNet-32, a few epochs
 *          (`npm run reproduce` with no arguments: the whole main comparison in <= 15 min on 2 cores)
 *   quick  the embedded dataset (or Tiny ImageNet at 32x32), full-width ResNet-32, 30 + 15 epochs: many hours per
 *          experiment on 2 cores (see reproductions/README.md for measured times)
 *   standard  the survey's four experiments over 3 seeds in at most 24 machine-hours on 2 cores (the grid runner:
 *          reproductions/README.md); calibrated by measurement, its results committed under reproductions/results/
 *   paper  the real datasets, reference backbones and epochs (PyCIL's CIFAR-100 recipe): for GPU machines
 */
import { backboneSpecSchema, type BackboneSpec } from '../models/backbone-spec';
import { optimizerSpecSchema, scheduleSpecSchema, type OptimizerSpec } from '../train/optim';
import { describeIssues, positiveInt, z } from '../schema';
import { OPTIMIZER_FIELDS, RECIPE_FIELDS } from '../train/settings';

import { DATASET_NAMES, type DatasetName } from '../data/index';

export { DATASET_NAMES, type DatasetName };

export const PROFILE_NAMES = ['ci', 'smoke', 'quick', 'standard', 'paper'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

const nullablePositiveInt = () => positiveInt().nullable();

export const profileSchema = z.strictObject({
  name: z.enum(PROFILE_NAMES),
  description: z.string(),
  /** Dataset used when none is given. */
  dataset: z.enum(DATASET_NAMES),
  /** Image side passed to loadDataset, per dataset (absent: the loader's default, e.g. 64 for Tiny ImageNet). */
  imageSize: z.partialRecord(z.enum(DATASET_NAMES), positiveInt()),
  /** Use only the first N classes of the dataset (null: all). */
  classes: nullablePositiveInt(),
  /** Keep the first N training / test images of every class (null: all). */
  trainPerClass: nullablePositiveInt(),
  testPerClass: nullablePositiveInt(),
  /** Backbone, and per-dataset replacements (the paper profile's reference backbones). */
  backbone: backboneSpecSchema,
  backboneByDataset: z.partialRecord(z.enum(DATASET_NAMES), backboneSpecSchema).optional(),
  /** Epochs of the first task and of every later one. */
  initEpochs: positiveInt(),
  epochs: positiveInt(),
  batchSize: positiveInt(),
  evalBatchSize: positiveInt(),
  initOptimizer: optimizerSpecSchema,
  initSchedule: scheduleSpecSchema,
  optimizer: optimizerSpecSchema,
  schedule: scheduleSpecSchema,
  /** Seeds to run (results are averaged over them). */
  seeds: z.array(z.number().int()).min(1),
  /**
   * Exemplar budgets are multiplied by this (per-class counts and totals alike, at least 1 per class). Small
   * profiles keep fewer images per class, so they keep fewer exemplars too: replay stays a minority of the data
   * as in the paper setting (20 exemplars against 500 images per class).
   */
  memoryScale: z.number().gt(0).max(1),
  /**
   * The fields of a method's recipe (`Method.recipe`, train/settings.ts) that replace the profile's own settings
   * (experiments/settings.ts applies them): every field in the paper profile; the optimiser (kind, learning rate,
   * weight decay, e.g. Adam 1e-3 for PASS / IL2A / PRAKA) in the small ones, with the profile's epochs, schedule
   * shape and batch size. A recipe's architectural backbone fields (lastRelu, shortcut) apply in every case: the
   * method needs them (LUCIR refuses a backbone with the last ReLU).
   */
  recipeFields: z.array(z.enum(RECIPE_FIELDS)).readonly(),
  /**
   * Whether a recipe's backbone kind (PASS / IL2A / PRAKA: ResNet-18 with a CIFAR stem) replaces the profile's
   * CIFAR-sized ResNet-32. The paper profile: yes. The reduced profiles: no, every method gets the profile's
   * ResNet-32 for cost, and their tables say so next to those methods.
   */
  recipeBackbone: z.boolean(),
  /**
   * Per-method config overrides (extra stages' epochs, mostly), validated by the method's config (an unknown key
   * fails with the valid keys listed).
   */
  methodOverrides: z.record(z.string(), z.record(z.string(), z.unknown())),
  /**
   * Runs left out at this profile (e.g. the joint-training upper bound in smoke: it retrains on all data seen so
   * far, as costly as several methods together). The notebooks and REPORT.md list what was left out.
   */
  excludeMethods: z.array(z.string()),
  /** Rough wall time of the main comparison on this profile's target machine, for the reader. */
  expectedTime: z.string(),
});
export type Profile = z.infer<typeof profileSchema>;

/** Tiny ImageNet at 32x32 (CIFAR-sized) in the small profiles. */
const SMALL_IMAGES: Partial<Record<DatasetName, number>> = { 'tiny-imagenet': 32 };

const SGD = (lr: number, weightDecay: number): OptimizerSpec => ({ kind: 'sgd', lr, momentum: 0.9, weightDecay });

/**
 * Extra stages that train the network, shortened in proportion to the main stage (paper values: 40 / 20 epochs).
 * BiC's stage 2 keeps its 200 epochs everywhere: it trains two numbers on cached logits (methods/bic.ts).
 */
const SHORT_EXTRA_STAGES = (epochs: number): Record<string, Record<string, unknown>> => ({
  // EEIL's /10 every 10 of 40 epochs, scaled with the stage.
  eeil: { balancedEpochs: epochs, balancedDecayEvery: Math.max(1, Math.round(epochs / 4)) },
  lucir: { cbfEpochs: epochs },
});

export const PROFILES: Record<ProfileName, Profile> = {
  ci: {
    name: 'ci',
    description: 'A slice of smoke for CI: 20 classes, 10 training and 5 test images each, 1 epoch, ResNet-32 at 1/4 width with 1 block per stage.',
    dataset: 'embedded',
    imageSize: SMALL_IMAGES,
    classes: 20,
    trainPerClass: 10,
    testPerClass: 5,
    backbone: { kind: 'resnet32', width: 0.25, blocksPerStage: 1 },
    initEpochs: 1,
    epochs: 1,
    batchSize: 32,
    evalBatchSize: 128,
    initOptimizer: SGD(0.05, 5e-4),
    initSchedule: { kind: 'constant' },
    optimizer: SGD(0.05, 5e-4),
    schedule: { kind: 'constant' },
    seeds: [1993],
    // 2000 x 0.5 x 20/100 = 200 exemplars: 10 per class at the end, the least BiC's 9:1 split needs.
    memoryScale: 0.5,
    recipeFields: OPTIMIZER_FIELDS,
    recipeBackbone: false,
    methodOverrides: SHORT_EXTRA_STAGES(1),
    excludeMethods: [],
    expectedTime: 'seconds per run',
  },
  smoke: {
    name: 'smoke',
    description:
      'Minutes: 40 classes of the embedded dataset with 30 training and 10 test images each, ResNet-32 at half width, batch 32, 6 epochs on the first task and 2 after, a quarter of the exemplar budget.',
    dataset: 'embedded',
    imageSize: SMALL_IMAGES,
    // Sized for the 15-min main job on 2 cores with kdcl's native backend, whose cost is per step more than per
    // image at this size: batch 32 keeps enough steps for the first task to learn (b0-10: 4 classes x 30 images),
    // 40 classes keep b0-10 (4 per task) and b50-10 (20, then 2 per task) meaningful.
    classes: 40,
    trainPerClass: 30,
    testPerClass: 10,
    backbone: { kind: 'resnet32', width: 0.5 },
    initEpochs: 6,
    epochs: 2,
    batchSize: 32,
    evalBatchSize: 256,
    initOptimizer: SGD(0.05, 5e-4),
    initSchedule: { kind: 'cosine' },
    optimizer: SGD(0.05, 2e-4),
    schedule: { kind: 'cosine' },
    seeds: [1993],
    // A quarter of the paper's budget, scaled to 40 classes: 200 in total or 5 per class (20 x 0.25), 5 per class
    // at the end either way; BiC holds out 20% instead of 10% so each class keeps a validation exemplar.
    memoryScale: 0.25,
    recipeFields: OPTIMIZER_FIELDS,
    recipeBackbone: false,
    // IL2A: one class-mixup pairing per batch instead of 4 (each pairing adds a batch-sized forward/backward).
    methodOverrides: { ...SHORT_EXTRA_STAGES(2), bic: { validationRatio: 0.2 }, il2a: { mixTimes: 1 } },
    excludeMethods: ['joint'],
    expectedTime: '<= 15 min for the main comparison on 2 cores (see REPORT.md for the measured time)',
  },
  quick: {
    name: 'quick',
    description:
      'Every image of the embedded dataset (or Tiny ImageNet at 32x32), full-width ResNet-32, 30 epochs on the first task and 15 after.',
    dataset: 'embedded',
    imageSize: SMALL_IMAGES,
    classes: null,
    trainPerClass: null,
    testPerClass: null,
    backbone: { kind: 'resnet32' },
    initEpochs: 30,
    epochs: 15,
    batchSize: 128,
    evalBatchSize: 256,
    initOptimizer: SGD(0.1, 5e-4),
    initSchedule: { kind: 'cosine' },
    optimizer: SGD(0.1, 2e-4),
    schedule: { kind: 'cosine' },
    seeds: [1993],
    memoryScale: 1,
    recipeFields: OPTIMIZER_FIELDS,
    recipeBackbone: false,
    methodOverrides: SHORT_EXTRA_STAGES(10),
    excludeMethods: [],
    // About 1M training image-steps per run and 22 runs in the main comparison: far more than the 1-2 h once
    // claimed here. Its time has not been measured end to end, so no time is claimed.
    expectedTime: 'not measured end to end',
  },
  standard: {
    name: 'standard',
    description:
      'The survey\'s experiments overnight on a laptop: all 100 classes of the embedded dataset with 100 training and 50 test images each, ResNet-32 at half width (for every method, PASS / IL2A / PRAKA included: their papers use a ResNet-18), batch 32, 25 epochs on the first task and 12 after, a quarter of the exemplar budget.',
    dataset: 'embedded',
    imageSize: SMALL_IMAGES,
    // Sized so that the whole grid (four experiments, 3 seeds) fits 24 machine-hours on this project's 2-core
    // machine: reproductions/README.md has the calibration runs and the measured time per experiment.
    classes: 100,
    trainPerClass: 100,
    testPerClass: 50,
    backbone: { kind: 'resnet32', width: 0.5 },
    initEpochs: 25,
    epochs: 12,
    // Batch 64 collapses later tasks here, in PyTorch as in kdcl; batch 32 does not (reproductions/README.md).
    batchSize: 32,
    evalBatchSize: 256,
    initOptimizer: SGD(0.05, 5e-4),
    initSchedule: { kind: 'cosine' },
    optimizer: SGD(0.05, 2e-4),
    schedule: { kind: 'cosine' },
    seeds: [1993, 1994, 1995],
    // 20 x 0.25 = 5 exemplars per class (500 in all): replay is a minority of the data, as 20 of 500 in the paper.
    // BiC holds out 20% of them so that every class keeps a validation exemplar.
    memoryScale: 0.25,
    recipeFields: OPTIMIZER_FIELDS,
    recipeBackbone: false,
    methodOverrides: { ...SHORT_EXTRA_STAGES(6), bic: { validationRatio: 0.2 }, il2a: { mixTimes: 1 } },
    excludeMethods: [],
    expectedTime: 'measured per experiment in reproductions/README.md',
  },
  paper: {
    name: 'paper',
    description:
      "The real datasets with the reference backbones and PyCIL's CIFAR-100 recipe (200 epochs on the first task, 80 after), each method's own recipe where it has one: for GPU machines.",
    dataset: 'cifar100',
    imageSize: {},
    classes: null,
    trainPerClass: null,
    testPerClass: null,
    // PyCIL utils/inc_net.py get_convnet: resnet32 for CIFAR-100; ResNet-18 for ImageNet-100 (PyCIL exps/*.json).
    // Tiny ImageNet: the ResNet-18 with a CIFAR stem, as PASS / PRAKA's Tiny ImageNet runs.
    backbone: { kind: 'resnet32' },
    backboneByDataset: {
      'tiny-imagenet': { kind: 'resnet18-cifar' },
      imagenet100: { kind: 'resnet18-imagenet' },
    },
    // kernel-lib/train/config.ts DEFAULTS (PyCIL models/finetune.py, commit 27a5ed8).
    initEpochs: 200,
    epochs: 80,
    batchSize: 128,
    evalBatchSize: 256,
    initOptimizer: SGD(0.1, 5e-4),
    initSchedule: { kind: 'multistep', milestones: [60, 120, 170], gamma: 0.1 },
    optimizer: SGD(0.1, 2e-4),
    schedule: { kind: 'multistep', milestones: [40, 70], gamma: 0.1 },
    seeds: [1993],
    memoryScale: 1,
    recipeFields: RECIPE_FIELDS,
    recipeBackbone: true,
    methodOverrides: {},
    excludeMethods: [],
    expectedTime: 'GPU hours',
  },
};

/** The named profile, or an error listing the valid names. */
export function getProfile(name: string): Profile {
  if (!Object.hasOwn(PROFILES, name)) {
    throw new Error(`unknown profile '${name}'; valid profiles: ${PROFILE_NAMES.join(', ')}`);
  }
  return PROFILES[name as ProfileName];
}

/** Checks a dataset name, or throws listing the valid names. */
export function checkDatasetName(name: string): DatasetName {
  if (!(DATASET_NAMES as readonly string[]).includes(name)) {
    throw new Error(`unknown dataset '${name}'; valid datasets: ${DATASET_NAMES.join(', ')}`);
  }
  return name as DatasetName;
}

/** The backbone a profile uses on a dataset. */
export function backboneFor(profile: Profile, dataset: DatasetName): BackboneSpec {
  return profile.backboneByDataset?.[dataset] ?? profile.backbone;
}

/** Problems in a profile (empty when valid): positive sizes, known datasets, sane memory scale. */
export function validateProfile(profile: Profile): string[] {
  const parsed = profileSchema.safeParse(profile);
  if (!parsed.success) return [describeIssues(`profile '${(profile as { name?: unknown }).name}'`, profileSchema, profile, parsed.error.issues)];
  if (profile.classes !== null && profile.classes % 20 !== 0) {
    // b0-10 needs classes divisible by 10 and b50-10 by 20 (half, then a twentieth per step).
    return [`profile '${profile.name}': classes must be a multiple of 20 so that b0-10 and b50-10 split evenly, got ${profile.classes}`];
  }
  return [];
}
