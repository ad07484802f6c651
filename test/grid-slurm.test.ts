/**
 * The grid on a real single-node Slurm cluster (Debian's slurm-wlm + munge, started by this test and stopped after):
 * a small grid goes through `sbatch --array`, one array task is requeued mid-run (`scontrol requeue`) and resumes
 * from its checkpoints, and the merged results equal a local-pool run of the same grid, digit for digit.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGrid } from '../kernel-lib/grid/index';
import { grid, storeNumbers } from './helpers/grid-cli';
import { slurmUnavailable, startSlurmCluster, type SlurmCluster } from './helpers/slurm-cluster';

const unavailable = slurmUnavailable();
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-grid-slurm-'));
const gridFile = path.join(work, 'grid.json');
const poolStore = path.join(work, 'pool-store');
const slurmStore = path.join(work, 'slurm-store');
// The smoke profile: a row trains long enough (tens of seconds) to be caught mid-run.
const ROWS = ['lwf', 'finetune'];

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(unavailable)(`grid on a single-node Slurm cluster${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let cluster: SlurmCluster;

  beforeAll(async () => {
    cluster = await startSlurmCluster({ cpus: 2 });
    const planned = await grid(['plan', 'main-comparison', '--profile', 'smoke', '--methods', ROWS.join(','), '--scenarios', 'b0-10',
      '--threads', '1', '--store', poolStore, '--out', gridFile]);
    expect(planned.exitCode, planned.all).toBe(0);
  });

  afterAll(() => {
    cluster?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('runs the grid as a job array, survives a requeue mid-run, and matches the local pool digit for digit', { timeout: 600_000 }, async () => {
    const pool = await grid(['run', gridFile, '--jobs', '2'], { CI: 'true' });
    expect(pool.exitCode, pool.all).toBe(0);

    const script = path.join(work, 'grid.sbatch');
    const made = await grid(['slurm', gridFile, '--store', slurmStore, '--max-parallel', '2', '--time', '30:00', '--out', script]);
    expect(made.exitCode, made.all).toBe(0);
    const text = fs.readFileSync(script, 'utf8');
    expect(text).toContain(`#SBATCH --array=0-${ROWS.length - 1}%2`);
    expect(text).toContain('#SBATCH --requeue');
    expect(text).toContain('--row "$SLURM_ARRAY_TASK_ID"');

    const jobId = cluster.client('sbatch', ['--parsable', script]).trim().split(';')[0];
    // Requeue row 0 once it has checkpointed a task and before it finishes.
    const rowName = readGrid(gridFile).rows[0].name;
    const checkpoints = path.join(slurmStore, 'checkpoints', rowName);
    // The runner keeps the latest checkpoint only: task-001.kdcl or later means two tasks are done.
    const tasksDone = () => (fs.existsSync(checkpoints) ? Math.max(0, ...fs.readdirSync(checkpoints).map((n) => Number(/^task-(\d+)\.kdcl$/.exec(n)?.[1] ?? -1) + 1)) : 0);
    const slurmLogs = () => (fs.existsSync(path.join(slurmStore, 'logs')) ? fs.readdirSync(path.join(slurmStore, 'logs')).map((n) => `--- ${n}\n${fs.readFileSync(path.join(slurmStore, 'logs', n), 'utf8').slice(-1500)}`).join('\n') : 'no logs');
    const arrayGone = () => cluster.client('squeue', ['-h', '-j', jobId]).trim() === '';
    await waitFor('row 0 to checkpoint its second task', () => {
      if (tasksDone() >= 2) return true;
      if (arrayGone()) throw new Error('the array ended before row 0 checkpointed two tasks');
      return false;
    }, 180_000).catch((err) => {
      throw new Error(`${err.message}\n${cluster.client('squeue', [])}\n${slurmLogs()}`);
    });
    expect(fs.existsSync(path.join(slurmStore, 'runs', `${rowName}.json`))).toBe(false);
    cluster.client('scontrol', ['requeue', `${jobId}_0`]);
    // A requeued task waits for its begin time; release it now rather than in a minute or two.
    await new Promise((r) => setTimeout(r, 2000));
    try {
      cluster.client('scontrol', ['update', `jobid=${jobId}_0`, 'starttime=now']);
    } catch {
      // already started again
    }
    await waitFor('the array to finish', () => cluster.client('squeue', ['-h', '-j', jobId]).trim() === '', 400_000);

    const requeued = JSON.parse(fs.readFileSync(path.join(slurmStore, 'runs', `${rowName}.json`), 'utf8'));
    expect(requeued.status).toBe('done');
    // It resumed from its checkpoints rather than starting over.
    expect(requeued.resumedTasks).toBeGreaterThanOrEqual(2);
    const logs = fs.readdirSync(path.join(slurmStore, 'logs')).filter((n) => n.startsWith(`slurm-${jobId}_0`));
    expect(fs.readFileSync(path.join(slurmStore, 'logs', logs[0]), 'utf8')).toMatch(/restart 1/);

    expect(storeNumbers(slurmStore)).toEqual(storeNumbers(poolStore));
    const merged = await grid(['merge', gridFile, '--store', slurmStore]);
    expect(merged.exitCode, merged.all).toBe(0);
    const poolMerged = await grid(['merge', gridFile]);
    expect(poolMerged.exitCode, poolMerged.all).toBe(0);
    // The merged tables, less the timing columns (wall and CPU seconds differ from run to run).
    const table = (store: string) => {
      const [header, ...lines] = fs.readFileSync(path.join(store, 'results.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
      const keep = header.map((h, i) => (['seconds', 'cpuSeconds'].includes(h) ? -1 : i)).filter((i) => i >= 0);
      return [header, ...lines].map((cells) => keep.map((i) => cells[i]).join(','));
    };
    expect(table(slurmStore).length).toBe(ROWS.length + 1);
    expect(table(slurmStore)).toEqual(table(poolStore));
  });
});
