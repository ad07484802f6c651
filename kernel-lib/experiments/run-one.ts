/**
 * One run of an experiment, as the runner (and the grid runner) executes it: planned first, so that a finished
 * run is recognised by its result file before its checkpoint is touched; locked, so that a second worker on the
 * same run skips it; recorded atomically, and a failure never replaces a finished run's record.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Precision } from '../backend/index';
import type { ImageDataset } from '../data/types';
import { listCheckpoints, readCheckpointFile, writeFileAtomic } from '../train/checkpoint';
import { disposeTensorsIn } from '../train/optimizer-carry';
import { createRunFromPlan, planRun, RunLockedError, type ProgressEvent, type Run } from '../train/index';
import type { RunSpec } from './experiments';
import type { DatasetName, Profile } from './profiles';
import type { RunResult } from './results';
import { failedResult, finishedResult, summarise } from './run-result';
import { runOptionsFor } from './runner-options';

export interface RunOneOptions {
  spec: RunSpec;
  seed: number;
  experiment: string;
  profile: Profile;
  datasetName: DatasetName;
  dataset: ImageDataset;
  outDir: string;
  /** Show the trainer's own progress display. */
  trainerProgress: boolean;
  onTaskEnd?: (event: Extract<ProgressEvent, { type: 'task-end' }>) => void;
  onStart?: (info: { resumedTasks: number; tasks: number; finishedEarlier: boolean }) => void;
  say: (line: string) => void;
  /** Adds fields to the record before it is written (the grid runner's row and provenance). */
  annotate?: (result: RunResult) => RunResult;
  /** The engine's precision (default: KDCL_PRECISION, else fp32); part of the run's identity. */
  precision?: Precision;
  /**
   * Checkpoints in the run's folder written by another config (an earlier version of the run) are moved to
   * checkpoints/retired/ and the run starts afresh, instead of failing. Nothing is deleted.
   */
  retireOtherCheckpoints?: boolean;
}

export type RunOutcome = { kind: 'result'; result: RunResult } | { kind: 'skipped'; reason: string };

export function runFiles(outDir: string, runName: string) {
  return {
    result: path.join(outDir, 'runs', `${runName}.json`),
    failure: path.join(outDir, 'runs', `${runName}.failed.json`),
    checkpoints: path.join(outDir, 'checkpoints', runName),
  };
}

/** Moves a run folder's checkpoints aside when the newest was written by another config (see RunOneOptions). */
function retireOtherCheckpoints(dir: string, hash: string, say: (line: string) => void): void {
  const newest = listCheckpoints(dir).at(-1);
  if (!newest) return;
  const ckpt = readCheckpointFile(newest.file);
  disposeTensorsIn(ckpt);
  if (ckpt.configHash === hash) return;
  const to = path.join(path.dirname(dir), 'retired', `${path.basename(dir)}.${String(ckpt.configHash).slice(0, 12)}`);
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.rmSync(to, { recursive: true, force: true });
  fs.renameSync(dir, to);
  say(`    the checkpoints in ${dir} are another config's (hash ${String(ckpt.configHash).slice(0, 12)}): moved to ${to}`);
}

/** Writes a result file atomically. */
export function writeJson(file: string, value: unknown): void {
  writeFileAtomic(file, new TextEncoder().encode(JSON.stringify(value, null, 1)));
}

function isDone(file: string): boolean {
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as RunResult).status === 'done';
  } catch {
    return false;
  }
}

export async function runOne(o: RunOneOptions): Promise<RunOutcome> {
  const runName = `${o.spec.id}_s${o.seed}`;
  const files = runFiles(o.outDir, runName);
  const started = Date.now();
  const cpuStarted = process.cpuUsage();
  const cpuSeconds = () => {
    const used = process.cpuUsage(cpuStarted);
    return (used.user + used.system) / 1e6;
  };
  let run: Run | null = null;
  let result: RunResult;
  try {
    const plan = planRun({
      ...runOptionsFor(o.spec, o.seed, o.profile, o.datasetName, o.dataset),
      checkpointDir: files.checkpoints,
      resumeFrom: files.checkpoints,
      keepCheckpoints: 'last',
      ...(o.precision ? { precision: o.precision } : {}),
      progress: o.trainerProgress ? 'auto' : 'none',
      onProgress: (event: ProgressEvent) => {
        if (event.type === 'task-end') o.onTaskEnd?.(event);
      },
    });
    // A finished run keeps the result it recorded (its training time above all); its checkpoint is not read.
    const finished = finishedResult(files.result, plan.hash);
    if (finished) {
      const tasks = finished.scenarioShape.tasks;
      o.onStart?.({ resumedTasks: tasks, tasks, finishedEarlier: true });
      return { kind: 'result', result: { ...finished, resumedTasks: tasks } };
    }
    if (o.retireOtherCheckpoints) retireOtherCheckpoints(files.checkpoints, plan.hash, o.say);
    run = await createRunFromPlan(plan);
    const tasks = run.state.tasks.length;
    const resumedTasks = run.state.completedTasks;
    o.onStart?.({ resumedTasks, tasks, finishedEarlier: false });
    const metrics = await run.runAll();
    const scenarioTasks = run.state.tasks;
    result = summarise(o.spec, o.seed, o.experiment, metrics, {
      methodConfig: run.state.method.config as Record<string, unknown>,
      training: run.state.settings as unknown as Record<string, unknown>,
      scenarioShape: {
        numClasses: scenarioTasks[scenarioTasks.length - 1].end,
        initial: scenarioTasks[0].end,
        increment: scenarioTasks.length > 1 ? scenarioTasks[1].end - scenarioTasks[1].start : 0,
        tasks: scenarioTasks.length,
      },
      configHash: run.state.configHash,
      engine: run.state.engine,
      seconds: (Date.now() - started) / 1000,
      cpuSeconds: cpuSeconds(),
      resumedTasks,
    });
    if (o.annotate) result = o.annotate(result);
    writeJson(files.result, result);
    fs.rmSync(files.failure, { force: true });
    return { kind: 'result', result };
  } catch (err) {
    if (err instanceof RunLockedError) return { kind: 'skipped', reason: err.message };
    // A run that fails (e.g. a diverged network) is recorded and the experiment goes on.
    result = failedResult(o.spec, o.seed, o.experiment, err);
    result.seconds = (Date.now() - started) / 1000;
    result.cpuSeconds = cpuSeconds();
    if (o.annotate) result = o.annotate(result);
    if (isDone(files.result)) {
      // A finished run's record is never replaced by a failure (e.g. of a damaged checkpoint, another dataset).
      writeJson(files.failure, result);
      o.say(`    FAILED: ${result.error} (the finished result in ${files.result} is kept; this failure is in ${files.failure})`);
    } else {
      writeJson(files.result, result);
      o.say(`    FAILED: ${result.error}`);
    }
    return { kind: 'result', result };
  } finally {
    run?.dispose();
  }
}
