/**
 * Experiment grids: rows planned from an experiment (grid-file), run one at a time idempotently (row-runner), by a
 * local pool (pool), or by Slurm / Kubernetes (cluster); read back from the results store (store).
 */
export { RESULTS_VERSION, METHOD_RESULTS_VERSIONS, methodResultsVersion, GridFileError, defaultStore, planGrid, readGrid, resolveStore, rowId, rowName, writeGrid } from './grid-file';
export type { GridFile, GridRow, PlanOptions, RowEngine, RowSpec } from './grid-file';
export { RowConflictError, checkRowEngine, runRow, sameRunBeside, storedRow, type RowOutcome, type RunRowOptions, type StoredRow } from './row-runner';
export { gridStatus, mergeGrid, rowLogFile, rowOutputFile, rowStatus, runsPlannedBeside, type MergeOutcome, type RowState, type RowStatus } from './store';
export { formatDuration, runPool, type PoolOptions, type PoolSummary } from './pool';
export { kubernetesJob, kubernetesYaml, slurmScript, type KubernetesOptions, type SlurmOptions } from './cluster';
export { gitCommit, treeDirty } from './provenance';
export { describeCost, gridCost, rowCpuSeconds, type GridCost } from './cost';
