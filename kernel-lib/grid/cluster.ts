/**
 * A grid on a cluster's own engine, with nothing of kdcl's in between: a Slurm job-array script (row =
 * SLURM_ARRAY_TASK_ID, submitted with `sbatch`) and a Kubernetes Indexed Job (row = JOB_COMPLETION_INDEX, applied
 * with `kubectl apply -f`). Each array task or Job index runs `reproductions/grid.ts run <grid> --row i`, which is
 * idempotent: a requeued or retried task skips a finished row and resumes an interrupted one from its checkpoints.
 */
import path from 'node:path';
import { stringify } from 'yaml';
import { repoRoot } from '../paths';
import { resolveStore, type GridFile } from './grid-file';

/** The row command, relative to the repository root (the worker's working directory). */
const ROW_SCRIPT = 'reproductions/grid.ts';

function gridThreads(grid: GridFile): number {
  return grid.rows[0].spec.engine.threads;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface SlurmOptions {
  /** The grid file's path as the cluster's nodes see it. */
  gridFile: string;
  partition?: string;
  /** Wall-time limit per row, Slurm's format (e.g. 12:00:00). */
  time?: string;
  /** CPUs per row: the grid's threads (default; other values are refused, results depend on threads). */
  cpus?: number;
  /** Memory per row, Slurm's format (e.g. 8G). */
  mem?: string;
  /** At most this many rows at once (the array's %K). Default: all. */
  maxParallel?: number;
  /** Results store as the nodes see it (default: the grid's). */
  store?: string;
  /** The repository checkout on the nodes (default: this one). */
  repo?: string;
  /** Node.js binary on the nodes (default: `node` on PATH). */
  node?: string;
  jobName?: string;
}

/** An sbatch job-array script for a grid: one array task per row. */
export function slurmScript(grid: GridFile, o: SlurmOptions): string {
  const threads = gridThreads(grid);
  if (o.cpus !== undefined && o.cpus !== threads) {
    throw new Error(`--cpus ${o.cpus}: the grid's rows were planned for ${threads} thread(s) (results depend on it); plan it again with --threads ${o.cpus}`);
  }
  const n = grid.rows.length;
  const k = o.maxParallel ?? n;
  if (!Number.isInteger(k) || k < 1) throw new Error(`--max-parallel must be a positive integer, got ${o.maxParallel}`);
  const store = o.store ?? resolveStore(grid.store);
  const repo = o.repo ?? repoRoot();
  const rowCommand = [o.node ?? 'node', '--import', 'tsx', ROW_SCRIPT, 'run', o.gridFile, '--row', '"$SLURM_ARRAY_TASK_ID"', '--store', store]
    .map((a) => (a.startsWith('"') ? a : shellQuote(a)))
    .join(' ');
  const directives = [
    `--job-name=${o.jobName ?? `kdcl-${grid.experiment}-${grid.profile}`}`,
    `--array=0-${n - 1}%${k}`,
    '--ntasks=1',
    `--cpus-per-task=${threads}`,
    // A pre-empted or failed node puts the task back in the queue; the row resumes from its checkpoints.
    '--requeue',
    '--open-mode=append',
    `--output=${path.join(store, 'logs', 'slurm-%A_%a.out')}`,
    ...(o.partition ? [`--partition=${o.partition}`] : []),
    ...(o.time ? [`--time=${o.time}`] : []),
    ...(o.mem ? [`--mem=${o.mem}`] : []),
  ];
  return [
    '#!/bin/bash',
    `# kdcl grid: ${grid.experiment}, profile ${grid.profile}, dataset ${grid.dataset}: ${n} rows, one array task each.`,
    `# Submit: sbatch ${o.gridFile.replace(/\.json$/, '')}.sbatch   Watch: npm run grid -- status ${o.gridFile}`,
    ...directives.map((d) => `#SBATCH ${d}`),
    'set -euo pipefail',
    `cd ${shellQuote(repo)}`,
    `export KDCL_THREADS=${threads}`,
    `echo "[slurm] job \${SLURM_ARRAY_JOB_ID:-?}_\${SLURM_ARRAY_TASK_ID} on $(hostname), restart \${SLURM_RESTART_COUNT:-0}"`,
    `exec ${rowCommand}`,
    '',
  ].join('\n');
}

export interface KubernetesOptions {
  /** The grid file's path inside the container. */
  gridFile: string;
  /** Container image holding this kdcl checkout with its node_modules (e.g. built from environment/Dockerfile). */
  image: string;
  /** PersistentVolumeClaim that holds the results store. */
  claim?: string;
  /** Where the claim is mounted in the container. */
  mountPath?: string;
  maxParallel?: number;
  /** Retries per row (backoffLimitPerIndex). */
  retriesPerRow?: number;
  memory?: string;
  /** The checkout's folder inside the image. */
  workingDir?: string;
  name?: string;
}

/** A Kubernetes Indexed Job (batch/v1) for a grid: one completion index per row, results on a volume. */
export function kubernetesJob(grid: GridFile, o: KubernetesOptions): Record<string, unknown> {
  const threads = gridThreads(grid);
  const mountPath = o.mountPath ?? '/results';
  const store = path.posix.join(mountPath, grid.profile, grid.dataset, grid.experiment);
  const name = (o.name ?? `kdcl-${grid.experiment}-${grid.profile}-${grid.dataset}`).toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63);
  const n = grid.rows.length;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, labels: { 'app.kubernetes.io/name': 'kdcl-grid', 'kdcl/experiment': grid.experiment, 'kdcl/profile': grid.profile } },
    spec: {
      completionMode: 'Indexed',
      completions: n,
      parallelism: Math.min(o.maxParallel ?? n, n),
      // A row that fails is retried on its own, up to this many times, without failing the other rows.
      backoffLimitPerIndex: o.retriesPerRow ?? 3,
      maxFailedIndexes: n,
      template: {
        metadata: { labels: { 'app.kubernetes.io/name': 'kdcl-grid' } },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'row',
              image: o.image,
              workingDir: o.workingDir ?? '/kdcl',
              command: ['/bin/sh', '-c', `exec node --import tsx ${ROW_SCRIPT} run ${shellQuote(o.gridFile)} --row "$JOB_COMPLETION_INDEX" --store ${shellQuote(store)}`],
              env: [{ name: 'KDCL_THREADS', value: String(threads) }],
              resources: {
                requests: { cpu: String(threads), memory: o.memory ?? '6Gi' },
                limits: { cpu: String(threads), memory: o.memory ?? '6Gi' },
              },
              volumeMounts: [{ name: 'results', mountPath }],
            },
          ],
          volumes: [{ name: 'results', persistentVolumeClaim: { claimName: o.claim ?? 'kdcl-results' } }],
        },
      },
    },
  };
}

export function kubernetesYaml(job: Record<string, unknown>): string {
  return stringify(job);
}
