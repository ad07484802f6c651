/**
 * kdcl: the one entry point notebooks and scripts import.
 *
 *   import { initBackend, loadDataset, createRun } from './kernel-lib/index';   // notebooks: tslab runs in the checkout's root
 *   await initBackend();
 *   const run = await createRun({ dataset: await loadDataset('embedded'), scenario: 'b0-10', method: 'finetune',
 *                                 backbone: { kind: 'resnet32' }, seed: 1993 });
 *
 * Flat exports: backend, data, models, trainer, method registry and contracts. Namespaced: `losses`, `memory`,
 * `metrics` (e.g. `metrics.confusionMatrix`, `losses.softTargetCE`).
 */
export { tf } from './tf';
export { initBackend, backendInfo, describeBackend, BACKEND_NAMES, type BackendInfo, type BackendName, type InitBackendOptions } from './backend/index';
export type { ImageDataset, ImageSplit } from './data/types';
export { loadDataset, DATASET_NAMES, DatasetError, type DatasetName, type DatasetOptions } from './data/index';
export { classOrder, type ClassOrderName } from './data/class-orders';
export { makeScenario, relabelDataset, SCENARIO_PRESETS, type Scenario, type ScenarioPreset } from './data/scenario';
export { makeBatches, toTensor, type ImageBatch, type MakeBatchesOptions } from './data/batches';
// Named re-exports, not `export *`: ES modules importing this CommonJS build only see names listed explicitly.
export type { Backbone, BackboneOutput, ForwardOptions, Head, Module, NetworkOutput } from './models/index';
export {
  BACKBONE_KINDS,
  ResNet,
  createBackbone,
  resolveBackboneSpec,
  BatchNorm,
  Conv2d,
  BN_EPS,
  BN_MOMENTUM,
  BiasLayer,
  CosineHead,
  LinearHead,
  TaskHeads,
  createAuxHead,
  headFromArchitecture,
  mixedClassIndex,
  rotationLabel,
  Network,
  createNetwork,
  variableSeed,
  type BackboneKind,
  type BackboneSpec,
  type ResolvedBackboneSpec,
  type ShortcutKind,
  type AuxHeadKind,
  type DescribedHead,
  type HeadArchitecture,
  type LogitRange,
  type CreateNetworkOptions,
  type NetworkArchitecture,
} from './models/index';
export * as losses from './losses/index';
export * as memory from './memory/index';
export * as metrics from './metrics/index';
export {
  createRun,
  TRAINING_DEFAULTS,
  summariseRun,
  Optimizer,
  learningRateAt,
  NonFiniteLossError,
  DivergedStateError,
  listCheckpoints,
  readCheckpointFile,
  resolveCheckpoint,
  type Run,
  type RunState,
  type StageOptions,
  type RunOptions,
  type ScenarioSpec,
  type ClassOrderSpec,
  type Evaluation,
  type RunMetrics,
  type StageSummary,
  type TaskMetrics,
  type OptimizerSpec,
  type SgdSpec,
  type AdamSpec,
  type ScheduleSpec,
  type OptimizerState,
  type ProgressEvent,
  type ProgressMode,
  type ProgressSink,
  type StepEvent,
  type EpochEvent,
  type TaskStartEvent,
  type TaskEndEvent,
  type CheckpointEvent,
} from './train/index';
export { createMethod, methodNames, registerMethod, type MethodFactory } from './methods/registry';
export { kdTerm } from './methods/types';
export type {
  Batch,
  LossTerms,
  MemoryPolicy,
  Method,
  NetworkLike,
  StepContext,
  TaskContext,
  TaskSpec,
  TrainerServices,
  TrainingData,
  TrainLoopOptions,
} from './methods/types';
