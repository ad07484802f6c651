/** The stepwise trainer: createRun and what it reports. */
export { createRun, type Run, type RunState, type StageOptions } from './run.ts';
export { DEFAULTS as TRAINING_DEFAULTS, type RunOptions, type ScenarioSpec, type ClassOrderSpec } from './config.ts';
export type { Evaluation } from './evaluate.ts';
export type { RunMetrics, StageSummary, TaskMetrics } from './metrics.ts';
export { summariseRun } from './metrics.ts';
export { Optimizer, learningRateAt, type OptimizerSpec, type SgdSpec, type AdamSpec, type ScheduleSpec, type OptimizerState } from './optim.ts';
export type { ProgressEvent, ProgressMode, ProgressSink, StepEvent, EpochEvent, TaskStartEvent, TaskEndEvent, CheckpointEvent } from './progress.ts';
export { NonFiniteLossError } from './step.ts';
export { listCheckpoints, readCheckpointFile, resolveCheckpoint } from './checkpoint.ts';
