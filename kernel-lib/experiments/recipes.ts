/**
 * Each method's own training recipe (the `<NAME>_TRAINING` constant in its file, with its sources there), and how a
 * profile applies it. Methods without one train with PyCIL's shared recipe (kernel-lib/train/config.ts DEFAULTS),
 * which is the paper profile's.
 */
import type { BackboneSpec } from '../models/index';
import type { OptimizerSpec, ScheduleSpec } from '../train/optim';
import { ICARL_TRAINING } from '../methods/icarl';
import { IL2A_TRAINING } from '../methods/il2a';
import { LUCIR_TRAINING } from '../methods/lucir';
import { LWF_TRAINING } from '../methods/lwf';
import { PASS_TRAINING } from '../methods/pass';
import { PRAKA_TRAINING } from '../methods/praka';
import { SSIL_TRAINING } from '../methods/ssil';
import type { Profile } from './profiles';

export interface TrainingRecipe {
  optimizer?: OptimizerSpec;
  schedule?: ScheduleSpec;
  epochs?: number;
  initOptimizer?: OptimizerSpec;
  initSchedule?: ScheduleSpec;
  initEpochs?: number;
  batchSize?: number;
  backbone?: Partial<BackboneSpec> & { shortcut?: string };
}

/** A mutable deep copy of a method's (readonly) recipe constant. */
const recipe = (constant: object): TrainingRecipe => JSON.parse(JSON.stringify(constant)) as TrainingRecipe;

export const METHOD_RECIPES: Record<string, TrainingRecipe> = {
  icarl: recipe(ICARL_TRAINING),
  il2a: recipe(IL2A_TRAINING),
  lucir: recipe(LUCIR_TRAINING),
  lwf: recipe(LWF_TRAINING),
  pass: recipe(PASS_TRAINING),
  praka: recipe(PRAKA_TRAINING),
  ssil: recipe(SSIL_TRAINING),
};

/** The training options of one run: the profile's, with the method's recipe applied as the profile says. */
export interface RunTraining {
  backbone: BackboneSpec;
  initEpochs: number;
  epochs: number;
  batchSize: number;
  evalBatchSize: number;
  initOptimizer: OptimizerSpec;
  initSchedule: ScheduleSpec;
  optimizer: OptimizerSpec;
  schedule: ScheduleSpec;
}

/** The fields of a recipe's backbone that the method needs whatever the profile (not its kind or width). */
const ARCHITECTURAL_FIELDS = ['lastRelu', 'shortcut'] as const;

export function runTraining(profile: Profile, method: string, backbone: BackboneSpec): RunTraining {
  const own = METHOD_RECIPES[method] ?? {};
  const needed: Record<string, unknown> = {};
  for (const field of ARCHITECTURAL_FIELDS) if (own.backbone && field in own.backbone) needed[field] = own.backbone[field];
  const base: RunTraining = {
    backbone: { ...backbone, ...needed } as BackboneSpec,
    initEpochs: profile.initEpochs,
    epochs: profile.epochs,
    batchSize: profile.batchSize,
    evalBatchSize: profile.evalBatchSize,
    initOptimizer: profile.initOptimizer,
    initSchedule: profile.initSchedule,
    optimizer: profile.optimizer,
    schedule: profile.schedule,
  };
  if (profile.methodRecipes === 'none') return base;
  if (profile.methodRecipes === 'optimizer') {
    if (!own.optimizer) return base;
    return { ...base, optimizer: own.optimizer, initOptimizer: own.initOptimizer ?? own.optimizer };
  }
  // 'all': a recipe without separate first-task settings uses its settings on every task (as these methods' code does).
  return {
    ...base,
    optimizer: own.optimizer ?? base.optimizer,
    schedule: own.schedule ?? base.schedule,
    epochs: own.epochs ?? base.epochs,
    initOptimizer: own.initOptimizer ?? own.optimizer ?? base.initOptimizer,
    initSchedule: own.initSchedule ?? own.schedule ?? base.initSchedule,
    initEpochs: own.initEpochs ?? own.epochs ?? base.initEpochs,
    batchSize: own.batchSize ?? base.batchSize,
  };
}
