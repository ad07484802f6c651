/**
 * A run's training settings at a profile: the one rule by which a profile applies a method's recipe.
 *
 *   settings = the profile's settings, with each field in `profile.recipeFields` taken from the method's recipe
 *              (where the recipe sets it), and the recipe's architectural backbone needs (lastRelu, shortcut)
 *
 * The paper profile lists every recipe field, so a method trains as its paper does; the small profiles list the
 * optimiser only (kind, learning rate, weight decay), with their own epochs, schedule shape and batch size. Every
 * profile takes the recipe's resetOptimizerEachTask (SS-IL's momentum carried across tasks). The
 * resolved object is what createRun trains with and what the run's result file records.
 */
import type { Method } from '../methods/types';
import type { BackboneSpec } from '../models/index';
import { recipeSettings, type RunSettings, type TrainingSettings } from '../train/settings';
import type { Profile } from './profiles';

export type { RunSettings };

/** The backbone fields of a recipe that the method needs whatever the profile (not its kind or width). */
const ARCHITECTURAL_FIELDS = ['lastRelu', 'shortcut'] as const;

/** The profile's own settings (what a method without a recipe trains with). */
export function profileSettings(profile: Profile): TrainingSettings {
  return {
    initOptimizer: profile.initOptimizer,
    initSchedule: profile.initSchedule,
    initEpochs: profile.initEpochs,
    optimizer: profile.optimizer,
    schedule: profile.schedule,
    epochs: profile.epochs,
    batchSize: profile.batchSize,
    evalBatchSize: profile.evalBatchSize,
    augment: true,
    resetOptimizerEachTask: true,
  };
}

export function runSettings(profile: Profile, method: Pick<Method, 'recipe'>, backbone: BackboneSpec): RunSettings {
  const recipe = method.recipe;
  const own = recipeSettings(recipe);
  // The recipe's reference backbone, where the profile honours it and would otherwise give the CIFAR-sized ResNet-32
  // (on ImageNet-100 the profile's ImageNet ResNet-18 stays).
  const kind = profile.recipeBackbone && backbone.kind === 'resnet32' ? recipe?.backbone?.kind : undefined;
  const settings: RunSettings = { ...profileSettings(profile), backbone: kind ? ({ kind } as BackboneSpec) : { ...backbone } };
  for (const field of profile.recipeFields) {
    if (own[field] !== undefined) (settings as unknown as Record<string, unknown>)[field] = own[field];
  }
  // Whether the optimiser's momentum carries across tasks is how the method trains, not a budget: it applies in
  // every profile (SS-IL keeps one SGD optimiser for the whole run).
  if (own.resetOptimizerEachTask !== undefined) settings.resetOptimizerEachTask = own.resetOptimizerEachTask;
  for (const field of ARCHITECTURAL_FIELDS) {
    if (recipe?.backbone && field in recipe.backbone) (settings.backbone as unknown as Record<string, unknown>)[field] = recipe.backbone[field];
  }
  return settings;
}
