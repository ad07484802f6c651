/**
 * A run's per-task checkpoint: what createRun writes after each task and resumes from (the byte format and its
 * atomic write live in checkpoint.ts).
 */
import fs from 'node:fs';
import { tf } from '../tf';
import { backendInfo } from '../backend/index';
import { ExemplarMemory, type ExemplarMemoryJSON } from '../memory/index';
import { Network, type NetworkArchitecture } from '../models/index';
import {
  checkpointFileName,
  encodeCheckpoint,
  listCheckpoints,
  readCheckpointFile,
  removeStaleTempFiles,
  writeFileAtomic,
} from './checkpoint';
import { identityDiff } from './config';
import type { Evaluation } from './evaluate';
import type { TaskMetrics } from './metrics';
import type { OptimizerState } from './optim';
import { disposeTensorsIn } from './optimizer-carry';
import { firstDivergedVariable } from './step';

const CHECKPOINT_KIND = 'kdcl-run-checkpoint';

/** Everything a resumed run needs after a task. */
export interface RunSnapshot {
  configHash: string;
  identity: Record<string, unknown>;
  seed: number;
  completedTasks: number;
  net: Network;
  /** Carried optimiser slots (null when every task starts a fresh optimiser). Disposed by saveRunCheckpoint. */
  optimizer: OptimizerState | null;
  memory: ExemplarMemory;
  methodState: Record<string, unknown>;
  metrics: TaskMetrics[];
  evaluations: Evaluation[];
}

export type RestoredRun = Omit<RunSnapshot, 'configHash' | 'identity' | 'seed'>;

export function safeBackendName(): string | null {
  try {
    return backendInfo().name;
  } catch {
    return null;
  }
}

/** Writes the checkpoint of the last completed task into `dir` (atomically); returns its path. */
export function saveRunCheckpoint(dir: string, snapshot: RunSnapshot, keep: 'all' | 'last'): string {
  // Never from a diverged state (the step guard stops a run first; this is the last line).
  const diverged = firstDivergedVariable(snapshot.net.namedVariables());
  if (diverged) {
    disposeTensorsIn(snapshot.optimizer);
    throw new Error(`checkpoint not written: variable '${diverged.name}' holds ${diverged.value} (the network diverged)`);
  }
  const previous = listCheckpoints(dir);
  let bytes: Uint8Array;
  try {
    bytes = encodeCheckpoint({
      kind: CHECKPOINT_KIND,
      configHash: snapshot.configHash,
      identity: snapshot.identity,
      completedTasks: snapshot.completedTasks,
      backend: safeBackendName(),
      architecture: snapshot.net.architecture() as unknown as Record<string, unknown>,
      weights: snapshot.net.namedVariables(),
      optimizer: snapshot.optimizer,
      memory: snapshot.memory.toJSON() as unknown as Record<string, unknown>,
      methodState: snapshot.methodState,
      metrics: snapshot.metrics,
      evaluations: snapshot.evaluations,
      // Every random stream is derived from (seed, labels); nothing random carries over between tasks.
      rng: { seed: snapshot.seed, scheme: 'sfc32(streamSeed(seed, stream, task, ...))' },
      savedAt: new Date().toISOString(),
    });
  } finally {
    disposeTensorsIn(snapshot.optimizer);
  }
  const file = `${dir}/${checkpointFileName(snapshot.completedTasks - 1)}`;
  removeStaleTempFiles(dir);
  writeFileAtomic(file, bytes);
  if (keep === 'last') {
    for (const old of previous) if (old.file !== file) fs.rmSync(old.file, { force: true });
  }
  return file;
}

/** Reads a checkpoint written by a run with the same config hash (else a clear error naming what differs). */
export function loadRunCheckpoint(file: string, expected: { configHash: string; identity: Record<string, unknown>; seed: number }): RestoredRun {
  const ckpt = readCheckpointFile(file);
  if (ckpt.kind !== CHECKPOINT_KIND) throw new Error(`checkpoint ${file} is not a kdcl run checkpoint`);
  if (ckpt.configHash !== expected.configHash) {
    const diff = identityDiff(ckpt.identity as Record<string, unknown>, expected.identity);
    throw new Error(
      `createRun: cannot resume from ${file}: it was written by a run with a different config ` +
        `(hash ${String(ckpt.configHash).slice(0, 12)} vs ${expected.configHash.slice(0, 12)}; differing: ${diff.join(', ') || 'unknown'}). ` +
        `Use the same options, or a new checkpointDir for the new config.`,
    );
  }
  const weights = ckpt.weights as Map<string, tf.Tensor>;
  const net = Network.fromArchitecture(ckpt.architecture as unknown as NetworkArchitecture, expected.seed);
  try {
    net.loadVariables(weights);
  } catch (err) {
    net.dispose();
    disposeTensorsIn(ckpt.optimizer);
    throw err;
  } finally {
    for (const t of weights.values()) t.dispose();
  }
  const backend = safeBackendName();
  if (ckpt.backend && backend && ckpt.backend !== backend) {
    console.warn(`[kdcl] resuming a checkpoint written on backend '${ckpt.backend}' on '${backend}': results may differ from an uninterrupted run`);
  }
  return {
    net,
    completedTasks: ckpt.completedTasks as number,
    optimizer: (ckpt.optimizer as OptimizerState | null) ?? null,
    memory: ExemplarMemory.fromJSON(ckpt.memory as unknown as ExemplarMemoryJSON),
    methodState: (ckpt.methodState ?? {}) as Record<string, unknown>,
    metrics: ckpt.metrics as TaskMetrics[],
    evaluations: ckpt.evaluations as Evaluation[],
  };
}
