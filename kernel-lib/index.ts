/**
 * kdcl: the one entry point notebooks and scripts import.
 *
 *   import { initBackend, loadDataset, createRun } from '../kernel-lib/index';
 *   await initBackend();
 *   const run = await createRun({ dataset: await loadDataset('embedded'), scenario: 'b0-10', method: 'finetune',
 *                                 backbone: { kind: 'resnet32' }, seed: 1993 });
 *
 * Flat exports: backend, data, models, trainer, method registry and contracts. Namespaced: `losses`, `memory`,
 * `metrics` (e.g. `metrics.confusionMatrix`, `losses.softTargetCrossEntropy`).
 */
export { tf } from './tf';
export { initBackend, backendInfo, describeBackend, BACKEND_NAMES, type BackendInfo, type BackendName, type InitBackendOptions } from './backend/index';
export type { ImageDataset, ImageSplit } from './data/types';
export { loadDataset, DATASET_NAMES, DatasetError, type DatasetName, type DatasetOptions } from './data/index';
export { classOrder, type ClassOrderName } from './data/class-orders';
export { makeScenario, relabelDataset, SCENARIO_PRESETS, type Scenario, type ScenarioPreset } from './data/scenario';
export { makeBatches, toTensor, type ImageBatch, type MakeBatchesOptions } from './data/batches';
export * from './models/index';
export * as losses from './losses/index';
export * as memory from './memory/index';
export * as metrics from './metrics/index';
export * from './train/index';
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
