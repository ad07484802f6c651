/** The stepwise trainer: createRun and what it reports. */
export { createRun, createRunFromPlan, type Run, type RunState, type StageOptions } from './run';
export { DEFAULTS as TRAINING_DEFAULTS, type RunOptions, type ScenarioSpec, type ClassOrderSpec } from './config';
export type { Evaluation } from './evaluate';
export type { RunMetrics, StageSummary, TaskMetrics } from './metrics';
export { summariseRun } from './metrics';
export { Optimizer, learningRateAt, type OptimizerSpec, type SgdSpec, type AdamSpec, type ScheduleSpec, type OptimizerState } from './optim';
export type { ProgressEvent, ProgressMode, ProgressSink, StepEvent, EpochEvent, TaskStartEvent, TaskEndEvent, CheckpointEvent } from './progress';
export { DivergedStateError, NonFiniteLossError } from './step';
export { listCheckpoints, readCheckpointFile, resolveCheckpoint } from './checkpoint';
export { PYCIL_SETTINGS, RECIPE_FIELDS, recipeSettings, type RecipeField, type RunSettings, type TrainingRecipe, type TrainingSettings } from './settings';
export { planRun, type RunPlan } from './plan';
export { RunLock, RunLockedError } from './run-lock';
