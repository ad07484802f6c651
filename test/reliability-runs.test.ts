/**
 * Finished results are never lost, and one writer per run:
 * - a damaged checkpoint of a finished run leaves its recorded result as it was (the run is not retrained);
 * - a failure of a run that had finished goes to a separate file, never over the finished record;
 * - two processes on one run: the second gets a clear "in use by host H, pid N" error (RunLockedError);
 * - two experiment processes on one output folder: every run is recorded exactly once, and results.json holds all;
 * - a subset run rebuilds results.json from every run on disk; an empty method list is an error;
 * - a resume on another thread count is refused, naming the engine field that differs.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../kernel-lib/backend/index';
import type { ImageDataset } from '../kernel-lib/data/types';
import { EXPERIMENTS, PROFILES, runExperiment, type ExperimentDefinition, type Profile } from '../kernel-lib/experiments/index';
import { runOptionsFor } from '../kernel-lib/experiments/runner';
import { createRun, RunLockedError } from '../kernel-lib/train/index';
import { loadAddon } from '../kernel-lib/backend/native/index';
import { classColouredDataset } from './data-helpers';

const ROOT = path.resolve(__dirname, '..');
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');
const dirs: string[] = [];
const tmp = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-reliable-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const MICRO: Profile = {
  ...PROFILES.ci,
  classes: 20,
  trainPerClass: 4,
  testPerClass: 2,
  backbone: { kind: 'resnet32', width: 0.25, blocksPerStage: 1 },
  batchSize: 16,
};
const DATASET_SHAPE = { classes: 20, trainPerClass: 4, testPerClass: 2, size: 8 };
const dataset = (): ImageDataset => classColouredDataset('reliable', DATASET_SHAPE);

/** Standalone-KD runs: soft-target CE, KL and no KD. */
function microExperiment(losses = ['ce', 'kl', 'none']): ExperimentDefinition {
  const base = EXPERIMENTS['standalone-kd'];
  return { ...base, runs: base.runs.filter((r) => losses.includes(r.labels.kdLoss)) };
}

/** A child process running a script (its last stdout line is returned). */
function child(script: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dir = tmp();
  const file = path.join(dir, 'child.mts');
  fs.writeFileSync(file, script);
  return new Promise((resolve) => {
    const proc = spawn(TSX, [file], { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const imports = `
import { initBackend } from ${JSON.stringify(path.join(ROOT, 'kernel-lib/backend/index.ts'))};
import { EXPERIMENTS, PROFILES, runExperiment } from ${JSON.stringify(path.join(ROOT, 'kernel-lib/experiments/index.ts'))};
import { runOptionsFor } from ${JSON.stringify(path.join(ROOT, 'kernel-lib/experiments/runner.ts'))};
import { createRun } from ${JSON.stringify(path.join(ROOT, 'kernel-lib/train/index.ts'))};
import { classColouredDataset } from ${JSON.stringify(path.join(ROOT, 'test/data-helpers.ts'))};
const MICRO = { ...PROFILES.ci, classes: 20, trainPerClass: 4, testPerClass: 2, backbone: { kind: 'resnet32', width: 0.25, blocksPerStage: 1 }, batchSize: 16 };
const dataset = classColouredDataset('reliable', ${JSON.stringify(DATASET_SHAPE)});
const base = EXPERIMENTS['standalone-kd'];
`;

beforeAll(async () => {
  await initBackend({ log: false });
});

describe('finished results are never lost', () => {
  it('a damaged checkpoint of a finished run keeps its result; a later failure goes beside it', async () => {
    const outDir = tmp();
    const experiment = microExperiment(['ce']);
    const first = await runExperiment({ experiment, profile: MICRO, preloaded: dataset(), outDir, verbosity: 'none' });
    const record = first.results.runs[0];
    expect(record.status).toBe('done');
    const runName = record.id;
    const ckptDir = path.join(outDir, 'checkpoints', runName);
    const ckpt = fs.readdirSync(ckptDir).find((f) => f.endsWith('.kdcl'))!;
    fs.writeFileSync(path.join(ckptDir, ckpt), 'KDCLCKPT damaged');
    const resultFile = path.join(outDir, 'runs', `${runName}.json`);
    const before = fs.readFileSync(resultFile, 'utf8');

    const again = await runExperiment({ experiment, profile: MICRO, preloaded: dataset(), outDir, verbosity: 'none' });
    expect(again.results.runs).toEqual([record]);
    expect(fs.readFileSync(resultFile, 'utf8')).toBe(before);

    // Another dataset in the same folder: the run fails (different config, damaged checkpoint), the record stays.
    const other = classColouredDataset('other', DATASET_SHAPE, { offset: 7, multiplier: 31, range: 150, noise: 20 });
    const failed = await runExperiment({ experiment, profile: MICRO, preloaded: other, outDir, verbosity: 'none' });
    expect(fs.readFileSync(resultFile, 'utf8')).toBe(before);
    expect(failed.results.runs).toEqual([record]);
    const failure = JSON.parse(fs.readFileSync(path.join(outDir, 'runs', `${runName}.failed.json`), 'utf8'));
    expect(failure.status).toBe('failed');
    expect(failure.error).toMatch(/unreadable/);
  }, 120_000);

  it('a subset run rebuilds results.json from every run on disk; an empty method list is an error', async () => {
    const outDir = tmp();
    const experiment = microExperiment(['ce', 'none']);
    await runExperiment({ experiment, profile: MICRO, preloaded: dataset(), outDir, verbosity: 'none' });
    const subset = await runExperiment({ experiment, profile: MICRO, preloaded: dataset(), outDir, verbosity: 'none', methods: ['lwf'], scenarios: ['b0-10'] });
    expect(subset.results.runs.map((r) => r.labels.kdLoss)).toEqual(['ce', 'none']);
    const json = JSON.parse(fs.readFileSync(path.join(outDir, 'results.json'), 'utf8'));
    expect(json.runs).toHaveLength(2);
    await expect(runExperiment({ experiment, profile: MICRO, preloaded: dataset(), outDir, verbosity: 'none', methods: [] })).rejects.toThrow(/method list is empty/);
  }, 120_000);
});

describe('one writer per run', () => {
  it('a second createRun on the same checkpoint folder gets RunLockedError naming host and pid', async () => {
    const dir = tmp();
    const spec = microExperiment(['ce']).runs[0];
    const options = { ...runOptionsFor(spec, 1993, MICRO, 'embedded', dataset()), checkpointDir: dir, quiet: true };
    const holder = await createRun(options);
    const second = await createRun(options).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(RunLockedError);
    expect((second as Error).message).toMatch(new RegExp(`in use by host ${os.hostname().replace(/\./g, '\\.')}, pid ${process.pid}`));
    holder.dispose();
    const third = await createRun(options);
    third.dispose();
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('two experiment processes on one output folder record every run once, and results.json holds all', async () => {
    const outDir = tmp();
    const script = `${imports}
await initBackend({ log: false });
const experiment = { ...base, runs: base.runs.filter((r) => ['ce', 'kl', 'none'].includes(r.labels.kdLoss)) };
const out = await runExperiment({ experiment, profile: MICRO, preloaded: dataset, outDir: ${JSON.stringify(outDir)}, verbosity: 'runs' });
console.log('DONE ' + out.results.runs.length);
`;
    const [a, b] = await Promise.all([child(script), child(script)]);
    expect(a.code, a.stderr.slice(-1500)).toBe(0);
    expect(b.code, b.stderr.slice(-1500)).toBe(0);
    const runs = fs.readdirSync(path.join(outDir, 'runs')).sort();
    expect(runs.filter((f) => f.endsWith('.failed.json'))).toEqual([]);
    expect(runs).toHaveLength(3);
    const json = JSON.parse(fs.readFileSync(path.join(outDir, 'results.json'), 'utf8'));
    expect(json.runs.map((r: { status: string }) => r.status)).toEqual(['done', 'done', 'done']);
    // Each process either trained a run or found it in use / finished: no run failed.
    expect(`${a.stdout}${b.stdout}`).not.toMatch(/FAILED/);
  }, 240_000);
});

describe.skipIf(!!(() => { try { loadAddon(); return null; } catch (e) { return (e as Error).message; } })())('engine identity', () => {
  it('refuses to resume a checkpoint written with another thread count, naming engine.threads', async () => {
    const dir = tmp();
    const script = (tasks: number) => `${imports}
await initBackend({ backend: 'native', log: false });
const spec = base.runs.find((r) => r.labels.kdLoss === 'ce');
try {
  const run = await createRun({ ...runOptionsFor(spec, 1993, MICRO, 'embedded', dataset), checkpointDir: ${JSON.stringify(dir)}, resumeFrom: ${JSON.stringify(dir)}, quiet: true });
  for (let t = 0; t < ${tasks}; t++) await run.trainTask();
  run.dispose();
  console.log('OK');
} catch (e) { console.log('ERROR ' + e.message); }
`;
    const first = await child(script(1), { KDCL_THREADS: '2' });
    expect(first.stdout.trim().split('\n').pop(), first.stderr.slice(-1500)).toBe('OK');
    const second = await child(script(1), { KDCL_THREADS: '1' });
    expect(second.stdout).toMatch(/ERROR createRun: cannot resume .*differing: engine\.threads/);
  }, 120_000);
});
