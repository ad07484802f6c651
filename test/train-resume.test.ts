/**
 * Kill-and-resume: a child process trains with per-task checkpoints and is SIGKILLed in the middle of the second
 * task (index 1); a second child resumes from the checkpoint directory and finishes. Its final metrics, memory and
 * weights must equal those of an uninterrupted run (a third child) on the same backend.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-resume-'));

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** The child: one script, three modes (full | killable | resume). Same dataset, method and options in each. */
const CHILD = `
import { createHash } from 'node:crypto';
import { initBackend, createRun, createMethod, loadDataset, losses } from ${JSON.stringify(path.join(repo, 'kernel-lib/index.ts'))};
import { expandLinearHead } from ${JSON.stringify(path.join(repo, 'kernel-lib/methods/shared/heads.ts'))};

const [mode, dir] = process.argv.slice(2);
await initBackend({ log: false });

// A few classes of the embedded dataset, the first few images of each.
function firstPerClass(split, perClass) {
  const taken = new Map(), keep = [];
  for (let i = 0; i < split.count; i++) {
    const n = taken.get(split.labels[i]) ?? 0;
    if (n < perClass) { keep.push(i); taken.set(split.labels[i], n + 1); }
  }
  const pixel = split.height * split.width * 3, images = new Uint8Array(keep.length * pixel);
  keep.forEach((src, dst) => images.set(split.images.subarray(src * pixel, (src + 1) * pixel), dst * pixel));
  return { ...split, images, labels: Int32Array.from(keep, (i) => split.labels[i]), count: keep.length };
}
const full = await loadDataset('embedded', { classesLimit: 6, log: false });
const dataset = { ...full, train: firstPerClass(full.train, 8), test: firstPerClass(full.test, 4) };

// Replay (herding, shared budget) + logit KD from the teacher + method randomness and state: everything resume must restore.
const base = createMethod('finetune');
const method = {
  ...base, name: 'resume-probe', memory: { selection: 'herding', total: 8 },
  beforeTask(ctx) {
    expandLinearHead(ctx.net, ctx.seenClasses, 'resume-probe');
    ctx.state['draw' + ctx.task.index] = new Float32Array([ctx.services.random()()]);
  },
  lossTerms(step) {
    const ce = losses.crossEntropy(step.student().logits, step.batch.y);
    if (!step.teacher) return { ce };
    const kd = losses.logitL2(step.student().logits.slice([0, 0], [-1, step.oldClasses]), step.teacherOut().logits);
    return { ce, kd };
  },
};

const killAt = { task: 1, epoch: 1, step: 1 };
const run = await createRun({
  dataset, scenario: { initial: 2, increment: 2 }, classOrder: [4, 2, 0, 5, 1, 3], method,
  backbone: { kind: 'resnet32', width: 0.25, blocksPerStage: 1 }, seed: 31,
  optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 5e-4, nesterov: true },
  schedule: { kind: 'cosine' }, epochs: 2, batchSize: 6, evalBatchSize: 16, quiet: true,
  checkpointDir: mode === 'full' ? undefined : dir, resumeFrom: mode === 'resume' ? dir : undefined,
  onProgress: (e) => {
    if (e.type !== 'step') return;
    process.stdout.write('STEP ' + e.task + ' ' + e.epoch + ' ' + e.step + '\\n');
    if (mode === 'killable' && e.task === killAt.task && e.epoch === killAt.epoch && e.step === killAt.step) {
      process.stdout.write('KILL-ME\\n');
      // Hold the process mid-task (after this step's update, before the next) until the parent kills it.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
    }
  },
});
if (mode === 'resume') process.stdout.write('RESUMED-AT ' + run.state.completedTasks + '\\n');
const metrics = await run.runAll();
const weights = createHash('sha256');
for (const [name, v] of [...run.state.net.namedVariables()].sort(([a], [b]) => a.localeCompare(b))) {
  weights.update(name);
  weights.update(new Uint8Array(v.dataSync().buffer));
}
const result = {
  tasks: metrics.tasks.map(({ seconds, cpuSeconds, stages, ...rest }) => ({ ...rest, stages: stages.map(({ seconds, ...s }) => s) })),
  aia: metrics.aia, last: metrics.last, forgetting: metrics.forgetting,
  memory: run.state.memory.toJSON(), methodState: Object.keys(run.state.methodState).sort(),
  weights: weights.digest('hex'),
};
process.stdout.write('RESULT ' + JSON.stringify(result) + '\\n');
run.dispose();
`;

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the child script in one node process (tsx as an import hook, so SIGKILL hits the process that trains). */
function child(mode: 'full' | 'killable' | 'resume', dir: string, onLine?: (line: string, kill: () => void) => void): Promise<ChildResult> {
  const script = path.join(work, 'child.mts');
  fs.writeFileSync(script, CHILD);
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', script, mode, dir], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let pending = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) onLine?.(line, () => proc.kill('SIGKILL'));
    });
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    proc.on('error', reject);
    proc.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

function resultOf(r: ChildResult): Record<string, unknown> {
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`child produced no result (code ${r.code}, signal ${r.signal}):\n${r.stderr.slice(-3000)}`);
  return JSON.parse(line.slice('RESULT '.length));
}

describe('kill and resume', () => {
  it('a run SIGKILLed in the middle of task 2 and resumed ends exactly like an uninterrupted run', async () => {
    const dir = path.join(work, 'ckpt');
    let filesAtKill: string[] = [];
    const killed = await child('killable', dir, (line, kill) => {
      if (line === 'KILL-ME') {
        filesAtKill = fs.readdirSync(dir);
        kill();
      }
    });
    expect(killed.signal, killed.stderr.slice(-2000)).toBe('SIGKILL');
    expect(killed.stdout).toContain('STEP 1 1 1');
    // The killed process's run lock stays behind; the resuming process sees its pid is dead and takes it over.
    expect(filesAtKill.sort()).toEqual(['.run.lock', 'task-000.kdcl']);

    // Independent processes: run the resumed and the uninterrupted one side by side.
    const [resumed, full] = await Promise.all([child('resume', dir), child('full', path.join(work, 'unused'))]);
    expect(resumed.code, resumed.stderr.slice(-2000)).toBe(0);
    expect(resumed.stdout).toContain('RESUMED-AT 1');
    expect(resumed.stdout).not.toMatch(/^STEP 0 /m); // task 0 was not retrained
    expect(full.code, full.stderr.slice(-2000)).toBe(0);
    const a = resultOf(resumed);
    const b = resultOf(full);
    expect(a.tasks).toEqual(b.tasks);
    expect(a.memory).toEqual(b.memory);
    expect(a.methodState).toEqual(['draw0', 'draw1', 'draw2']);
    expect(a.weights).toBe(b.weights);
    expect(fs.readdirSync(dir)).toEqual(['task-002.kdcl']);
  }, 180_000);
});
