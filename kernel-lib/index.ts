/**
 * kdcl: the one entry point notebooks and scripts import.
 *
 *   import { initBackend, loadDataset, createRun } from '../kernel-lib/index.ts';
 *   await initBackend();
 *   const run = await createRun({ dataset: await loadDataset('embedded'), scenario: 'b0-10', method: 'finetune',
 *                                 backbone: { kind: 'resnet32' }, seed: 1993 });
 *
 * Flat exports: backend, data, models, trainer, method registry and contracts. Namespaced: `losses`, `memory`,
 * `metrics` (e.g. `metrics.confusionMatrix`, `losses.softTargetCrossEntropy`).
 */
export { tf } from './tf.ts';
export { initBackend, backendInfo, describeBackend, BACKEND_NAMES, type BackendInfo, type BackendName, type InitBackendOptions } from './backend/index.ts';
export type { ImageDataset, ImageSplit } from './data/types.ts';
export { loadDataset, DATASET_NAMES, DatasetError, type DatasetName, type DatasetOptions } from './data/index.ts';
export { classOrder, type ClassOrderName } from './data/class-orders.ts';
export { makeScenario, relabelDataset, SCENARIO_PRESETS, type Scenario, type ScenarioPreset } from './data/scenario.ts';
export { makeBatches, toTensor, type ImageBatch, type MakeBatchesOptions } from './data/batches.ts';
export * from './models/index.ts';
export * as losses from './losses/index.ts';
export * as memory from './memory/index.ts';
export * as metrics from './metrics/index.ts';
export * from './train/index.ts';
export { createMethod, methodNames, registerMethod, type MethodFactory } from './methods/registry.ts';
export { kdTerm } from './methods/types.ts';
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
} from './methods/types.ts';
