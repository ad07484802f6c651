/**
 * One shape for a run's training settings. createRun trains with a TrainingSettings (options it is not given come
 * from PYCIL_SETTINGS), a profile produces one per run from the method's recipe, and a result file records the one
 * its run used.
 *
 * A method's recipe (`Method.recipe`) is what its paper or official code trains with, with its sources. A profile
 * applies a recipe in one way (experiments/settings.ts): it starts from its own settings and takes the recipe's
 * value of each field it lists in `recipeFields` (the paper profile lists every field; the small ones the optimiser).
 */
import type { BackboneSpec } from '../models/backbone-spec';
import type { OptimizerSpec, ScheduleSpec } from './optim';

export interface TrainingSettings {
  /** Task 0 (PyCIL's init_lr / init_weight_decay / init_milestones / init_epoch). */
  initOptimizer: OptimizerSpec;
  initSchedule: ScheduleSpec;
  initEpochs: number;
  /** Every task after the first. */
  optimizer: OptimizerSpec;
  schedule: ScheduleSpec;
  epochs: number;
  batchSize: number;
  /** Evaluation batch size (does not change results). */
  evalBatchSize: number;
  /** Training augmentation (random crop + flip, per kernel-lib/data's makeBatches). */
  augment: boolean;
  /**
   * A fresh optimiser (zero momentum) each task, as PyCIL and FACIL build a new torch.optim object per task.
   * With false, the main stage's optimiser slots (momentum, Adam moments) carry over to the next task, which
   * uses its own spec (lr, weight decay), and are restored on resume; a change of optimiser kind starts fresh.
   */
  resetOptimizerEachTask: boolean;
}

/** A run's resolved training settings and the backbone it builds (after the method's adaptations). */
export interface RunSettings extends TrainingSettings {
  backbone: BackboneSpec;
}

/**
 * PyCIL models/finetune.py (commit 27a5ed8), its ResNet-32 / CIFAR-100 training recipe, which the other PyCIL
 * methods share up to the epoch counts: task 0 runs 200 epochs of SGD (lr 0.1, momentum 0.9, weight decay 5e-4)
 * with milestones [60, 120, 170] and decay 0.1; later tasks 80 epochs (lr 0.1, weight decay 2e-4, milestones
 * [40, 70]); batch size 128.
 * FACIL's defaults (src/main_incremental.py: 200 epochs, lr 0.1, momentum 0, weight decay 0, gradient clipping
 * 10000, lr divided by 3 on a validation plateau of 5 epochs) are not the default here: the plateau schedule
 * needs a validation split, which kdcl's runs do not hold out; SGD's `clipGradNorm` gives FACIL's clipping.
 */
export const PYCIL_SETTINGS: TrainingSettings = {
  initOptimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 5e-4 },
  initSchedule: { kind: 'multistep', milestones: [60, 120, 170], gamma: 0.1 },
  initEpochs: 200,
  optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 2e-4 },
  schedule: { kind: 'multistep', milestones: [40, 70], gamma: 0.1 },
  epochs: 80,
  batchSize: 128,
  evalBatchSize: 256,
  augment: true,
  resetOptimizerEachTask: true,
};

/** The settings a method's recipe may set. */
export const RECIPE_FIELDS = [
  'initOptimizer', 'initSchedule', 'initEpochs', 'optimizer', 'schedule', 'epochs', 'batchSize', 'resetOptimizerEachTask',
] as const;
export type RecipeField = (typeof RECIPE_FIELDS)[number];

/** The optimiser fields of a recipe (what the small profiles keep: e.g. Adam 1e-3 for PASS, IL2A, PRAKA). */
export const OPTIMIZER_FIELDS: readonly RecipeField[] = ['initOptimizer', 'optimizer'];

/** Backbone fields a recipe names: `kind` (the reference backbone), and architectural needs applied in every profile. */
export interface RecipeBackbone {
  kind?: string;
  lastRelu?: boolean;
  shortcut?: string;
}

/**
 * A method's own training recipe. A recipe without first-task settings uses its settings on every task (as these
 * methods' code does): `initOptimizer` defaults to `optimizer`, and so on.
 */
export interface TrainingRecipe extends Partial<Pick<TrainingSettings, RecipeField>> {
  backbone?: RecipeBackbone;
  /** Where the numbers come from (paper section, official code file and defaults). */
  source: string;
}

/** The recipe's value for each field it sets, its first-task fields filled from the later-task ones. */
export function recipeSettings(recipe: TrainingRecipe | undefined): Partial<Pick<TrainingSettings, RecipeField>> {
  if (!recipe) return {};
  const out: Partial<Pick<TrainingSettings, RecipeField>> = {};
  const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
  for (const field of RECIPE_FIELDS) if (recipe[field] !== undefined) (out as Record<string, unknown>)[field] = copy(recipe[field]);
  if (out.initOptimizer === undefined && out.optimizer) out.initOptimizer = copy(out.optimizer);
  if (out.initSchedule === undefined && out.schedule) out.initSchedule = copy(out.schedule);
  if (out.initEpochs === undefined && out.epochs !== undefined) out.initEpochs = out.epochs;
  return out;
}
