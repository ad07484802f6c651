/**
 * The survey's experiments as data, the runner that trains them with resumable checkpoints, and what notebooks
 * and REPORT.md show of them.
 *
 *   import { experimentParameters, runExperiment, experimentCharts, writeReport } from '../kernel-lib/experiments';
 *   const params = experimentParameters();            // KDCL_PROFILE, KDCL_DATASET, ... with defaults
 *   const outcome = await runExperiment({ experiment: 'main-comparison', ...params });
 */
export {
  EXPERIMENTS,
  EXPERIMENT_NAMES,
  KD_LOSSES,
  KD_LOSS_LABELS,
  METHOD_LABELS,
  SCENARIO_NAMES,
  SURVEY_METHODS,
  getExperiment,
  runKd,
  selectRuns,
  validateExperiment,
  type Claim,
  type ExperimentDefinition,
  type ExperimentName,
  type RunSpec,
  type ScenarioName,
} from './experiments';
export {
  DATASET_NAMES,
  PROFILES,
  PROFILE_NAMES,
  backboneFor,
  checkDatasetName,
  getProfile,
  validateProfile,
  type DatasetName,
  type Profile,
  type ProfileName,
} from './profiles';
export { profileSettings, runSettings, type RunSettings } from './settings';
export { DATA_INSTRUCTIONS, MissingDataError, loadExperimentDataset, sliceDataset, type DatasetLoader } from './dataset';
export {
  buildMethod,
  defaultOutDir,
  readOutcome,
  runExperiment,
  runOptionsFor,
  scaledMemoryOverrides,
  writeResults,
  type ExperimentOutcome,
  type ExperimentResults,
  type RunExperimentOptions,
  type RunResult,
  type RunnerEvent,
} from './runner';
export { curvesTable, experimentTable, runLabel, runsTable, verdict } from './analysis';
export { experimentCharts, type NamedChart } from './experiment-charts';
export { pairedVerdict, type PairedComparison, type Verdict } from './paired-verdict';
export { REFERENCES, SOURCES_CHECKED, referencesFor, validateReferences, type ReferenceNumber } from './references';
export { markdownTable, writeReport, type ReportOptions } from './report';
export { committedOutcome, experimentParameters, showCharts, showClaims, showOutcome, showTable, showVerdict, type ExperimentParameters } from './notebook';
