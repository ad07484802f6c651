/** A run's result record: built from its metrics, recorded as failed, or read back once finished. */
import fs from 'node:fs';
import type { RunMetrics } from '../train/index';
import { runKd, type RunSpec } from './experiments';
import type { RunResult } from './results';

function finite(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/** The fields every record of a run has, before it trains. */
function baseResult(spec: RunSpec, seed: number, experiment: string): RunResult {
  return {
    id: `${spec.id}_s${seed}`,
    specId: spec.id,
    experiment,
    method: spec.method,
    scenario: spec.scenario,
    kd: runKd(spec),
    labels: spec.labels,
    role: spec.role,
    seed,
    status: 'failed',
    aia: null,
    last: null,
    forgetting: null,
    bwt: null,
    accuracies: [],
    seenClasses: [],
    accuracyMatrix: [],
    primary: 'cnn',
    cnn: null,
    methodConfig: {},
    training: {},
    scenarioShape: { numClasses: 0, initial: 0, increment: 0, tasks: 0 },
    configHash: '',
    seconds: 0,
    cpuSeconds: 0,
    trainSeconds: 0,
    resumedTasks: 0,
  };
}

/** A finished run's record from its metrics; `extra` adds what the runner knows (config, settings, times). */
export function summarise(spec: RunSpec, seed: number, experiment: string, metrics: RunMetrics, extra: Partial<RunResult>): RunResult {
  const primary = metrics.tasks.some((t) => t.fromMethod) ? 'method' : 'cnn';
  const cnn = primary === 'method' && metrics.cnnSummary
    ? {
        aia: metrics.cnnSummary.aia,
        last: metrics.cnnSummary.last,
        accuracies: metrics.cnnSteps.map((s) => s.accuracy),
        accuracyMatrix: metrics.cnnSummary.accuracyMatrix,
      }
    : null;
  return {
    ...baseResult(spec, seed, experiment),
    status: 'done',
    aia: finite(metrics.aia),
    last: finite(metrics.last),
    forgetting: finite(metrics.forgetting),
    bwt: finite(metrics.bwt),
    accuracies: metrics.steps.map((s) => s.accuracy),
    seenClasses: metrics.steps.map((s) => s.seenClasses),
    accuracyMatrix: metrics.accuracyMatrix,
    primary,
    cnn,
    scenarioShape: { numClasses: 0, initial: 0, increment: 0, tasks: metrics.totalTasks },
    trainSeconds: metrics.tasks.reduce((s, t) => s + t.seconds, 0),
    taskSeconds: metrics.tasks.map((t) => t.seconds),
    taskCpuSeconds: metrics.tasks.map((t) => t.cpuSeconds ?? null),
    ...extra,
  };
}

/** A failed run's record, with the error's message. */
export function failedResult(spec: RunSpec, seed: number, experiment: string, error: unknown): RunResult {
  return { ...baseResult(spec, seed, experiment), error: error instanceof Error ? error.message : String(error) };
}

/** The result a finished run recorded, if it is for the same configuration (else null: the run is summarised anew). */
export function finishedResult(file: string, configHash: string): RunResult | null {
  try {
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as RunResult;
    return saved.status === 'done' && saved.configHash === configHash ? saved : null;
  } catch {
    return null;
  }
}
