/**
 * The grid runner: the local pool (interrupted and continued), the faults of a grid (hand edits, another code
 * version, a result of another spec, two workers on one row, a corrupt result) and the Kubernetes manifest checked
 * against the batch/v1 Job schema by kubernetes-models' validator.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RESULTS_VERSION,
  gridStatus,
  rowId,
  kubernetesJob,
  mergeGrid,
  readGrid,
  runPool,
  rowStatus,
  runRow,
  sameRunBeside,
  type GridFile,
} from '../kernel-lib/grid/index';
import { runFiles } from '../kernel-lib/experiments/run-one';
import { RunLock } from '../kernel-lib/train/index';
import { LOCK_FILE } from '../kernel-lib/train/run-lock';
import { ROOT, grid } from './helpers/grid-cli';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-grid-'));
const gridFile = path.join(work, 'grid.json');
const store = path.join(work, 'store');
let planned: GridFile;

beforeAll(async () => {
  const result = await grid(['plan', 'main-comparison', '--profile', 'ci', '--methods', 'lwf,icarl,finetune', '--scenarios', 'b0-10',
    '--seeds', '1993,7', '--threads', '1', '--store', store, '--out', gridFile]);
  expect(result.exitCode, result.all).toBe(0);
  planned = readGrid(gridFile);
}, 120_000);

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** A copy of the grid file with `edit` applied, as a user's editor would leave it. */
function edited(name: string, edit: (g: Record<string, any>) => void): string {
  const raw = JSON.parse(fs.readFileSync(gridFile, 'utf8'));
  edit(raw);
  const file = path.join(work, name);
  fs.writeFileSync(file, JSON.stringify(raw));
  return file;
}

describe('grid file', () => {
  it('plans one row per run and seed, with content-hash ids and the engine in the spec', () => {
    expect(planned.rows.map((r) => r.name)).toEqual([
      'lwf_b0-10_s1993', 'lwf_b0-10_s7', 'icarl_b0-10_s1993', 'icarl_b0-10_s7', 'finetune_b0-10_s1993', 'finetune_b0-10_s7',
    ]);
    expect(new Set(planned.rows.map((r) => r.id)).size).toBe(6);
    expect(planned.resultsVersion).toBe(RESULTS_VERSION);
    expect(planned.rows[0].spec.engine).toMatchObject({ threads: 1, precision: 'fp32' });
    // The git commit is provenance of the plan, not part of any id.
    expect(JSON.stringify(planned.rows[0].spec)).not.toContain(planned.plannedAt.commit ?? 'no-commit');
  });

  it('names the row and the field of a hand edit, of another code version, and of a broken shape', () => {
    expect(() => readGrid(edited('epochs.json', (g) => { g.rows[1].spec.profile.initEpochs = 3; }))).toThrow(
      /row 1: field 'spec\.profile\.initEpochs' is 3, this code version plans 1/,
    );
    expect(() => readGrid(edited('id.json', (g) => { g.rows[2].id = '0123456789abcdef'; }))).toThrow(/row 2: field 'id' is 0123456789abcdef, but its spec hashes to/);
    expect(() => readGrid(edited('shape.json', (g) => { g.rows[3].spec.seed = 'seven'; }))).toThrow(/rows\.3\.spec\.seed/);
    expect(() => readGrid(edited('version.json', (g) => { g.resultsVersion = RESULTS_VERSION + 1; }))).toThrow(
      new RegExp(`planned with resultsVersion ${RESULTS_VERSION + 1}, this code is resultsVersion ${RESULTS_VERSION}`),
    );
    expect(() => readGrid(edited('method-version.json', (g) => { g.rows[0].methodVersion = 2; }))).toThrow(
      /row 0: field 'methodVersion' is 2, this code has lwf at results version 1/,
    );
    expect(() => readGrid(edited('run.json', (g) => { g.rows[0].spec.run.id = 'nope_b0-10'; }))).toThrow(/row 0: field 'name'/);
    const cli = grid(['status', edited('cli.json', (g) => { g.rows[4].spec.engine.threads = 2; })]);
    return cli.then((r) => {
      expect(r.exitCode).toBe(2);
      expect(r.all).toMatch(/row 4: field 'id'/);
    });
  });
});

describe('committed grid files', () => {
  it('every grid file under reproductions/results reads under this code (a change that moves numbers needs them planned again)', () => {
    // reproductions/results/<profile>/<dataset>/<experiment>/grid.json
    const results = path.join(ROOT, 'reproductions', 'results');
    const below = (dir: string) => fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => path.join(dir, d.name));
    const files = below(results).flatMap(below).flatMap(below).map((d) => path.join(d, 'grid.json')).filter((f) => fs.existsSync(f)).map((f) => path.relative(ROOT, f));
    expect(files.length).toBeGreaterThanOrEqual(8);
    for (const file of files) expect(() => readGrid(path.join(ROOT, file)), file).not.toThrow();
  });
});

describe('local pool', () => {
  it('runs rows as child processes, stops cleanly when interrupted or drained, and continues where it stopped', { timeout: 300_000 }, async () => {
    const controller = new AbortController();
    const workerArgs = (row: { index: number }) => ['--import', 'tsx', path.join(ROOT, 'reproductions', 'grid.ts'), 'run', gridFile, '--row', String(row.index)];
    const firstResult = path.join(store, 'runs', `${planned.rows[0].name}.json`);
    const watcher = setInterval(() => {
      if (fs.existsSync(firstResult)) controller.abort();
    }, 100);
    const first = await runPool(planned, { jobs: 1, rows: [0, 1, 2], workerArgs, display: 'none', signal: controller.signal });
    clearInterval(watcher);
    expect(first.interrupted).toBe(true);
    expect(first.done).toEqual([0]);
    // Drained while row 1 runs (the pool starts its first row before runPool returns): row 1 finishes, row 2 never starts.
    const drain = new AbortController();
    const draining = runPool(planned, { jobs: 1, rows: [0, 1, 2], workerArgs, display: 'none', drain: drain.signal });
    drain.abort();
    const second = await draining;
    expect(second.interrupted).toBe(false);
    expect(second.doneEarlier).toEqual([0]);
    expect(second.done).toEqual([1]);
    expect(second.notStarted).toEqual([2]);
    const third = await runPool(planned, { jobs: 2, rows: [0, 1, 2], workerArgs, display: 'none' });
    expect(third.doneEarlier).toEqual([0, 1]);
    expect(third.done).toEqual([2]);
    const log = fs.readFileSync(path.join(store, 'grid.log'), 'utf8');
    expect(log).toMatch(/row 1 lwf_b0-10_s7: done, AIA/);
    expect(log).toMatch(/\[grid\] draining: 1 running row\(s\) finish, 1 not started/);
    expect(log).toMatch(/1 not started \(drained: 2\)/);
    await expect(runPool(planned, { jobs: 3, threads: 1, cores: 2, workerArgs })).rejects.toThrow(/--jobs 3 x --threads 1 = 3 exceeds this machine's 2 cores/);
    await expect(runPool(planned, { jobs: 1, threads: 2, workerArgs })).rejects.toThrow(/planned for 1 thread/);
  });

  it("counts a pending row's checkpointed tasks from its latest checkpoint (the only one kept)", () => {
    const row = planned.rows[3];
    const dir = runFiles(store, row.name).checkpoints;
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'task-004.kdcl'), '');
    try {
      expect(rowStatus(planned, row, store)).toMatchObject({ state: 'pending', tasksDone: 5 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(rowStatus(planned, row, store)).toMatchObject({ state: 'pending', tasksDone: 0 });
  });

  it('records provenance with each row result', () => {
    const result = JSON.parse(fs.readFileSync(path.join(store, 'runs', `${planned.rows[1].name}.json`), 'utf8'));
    expect(result.row).toMatchObject({ id: planned.rows[1].id, index: 1, resultsVersion: RESULTS_VERSION });
    expect(result.provenance).toMatchObject({ host: os.hostname(), threads: 1, seed: 7, precision: 'fp32' });
    expect(result.provenance.cpu.model).toBe(os.cpus()[0].model);
    expect(result.provenance.commit === null || /^[0-9a-f]{40}$/.test(result.provenance.commit)).toBe(true);
    expect(typeof result.provenance.dirty === 'boolean' || result.provenance.dirty === null).toBe(true);
    expect(result.taskSeconds).toHaveLength(10);
    expect(result.accuracyMatrix).toHaveLength(10);
    // iCaRL has both heads: its NME numbers are primary, the CNN's are kept beside them.
    const icarl = JSON.parse(fs.readFileSync(path.join(store, 'runs', `${planned.rows[2].name}.json`), 'utf8'));
    expect(icarl.primary).toBe('method');
    expect(icarl.cnn.accuracyMatrix).toHaveLength(10);
  });
});

describe('runs shared between experiments', () => {
  it("records a row whose run another experiment finished (KD removal's with-KD rows are main-comparison runs) without training it", { timeout: 120_000 }, async () => {
    const kdStore = path.join(work, 'kd-store');
    const kdFile = path.join(work, 'kd-removal.json');
    const made = await grid(['plan', 'kd-removal', '--profile', 'ci', '--methods', 'lwf', '--seeds', '1993', '--threads', '1', '--store', kdStore, '--out', kdFile]);
    expect(made.exitCode, made.all).toBe(0);
    const kd = readGrid(kdFile);
    const withKd = kd.rows.findIndex((r) => r.name === planned.rows[0].name);
    const noKd = kd.rows.findIndex((r) => r.name !== planned.rows[0].name);
    expect(withKd).toBeGreaterThanOrEqual(0);
    expect(kd.rows[withKd].id).not.toBe(planned.rows[0].id); // the experiment is in the spec
    const main = JSON.parse(fs.readFileSync(path.join(store, 'runs', `${planned.rows[0].name}.json`), 'utf8'));
    expect(main.status).toBe('done');
    const lines: string[] = [];
    expect((await runRow(kd, withKd, { say: (l) => lines.push(l) })).status).toBe('done-earlier');
    expect(fs.existsSync(path.join(kdStore, 'checkpoints', kd.rows[withKd].name))).toBe(false); // copied, not trained
    expect(lines.join('\n')).toContain(`the same run is done in main-comparison (row id ${planned.rows[0].id})`);
    const adopted = JSON.parse(fs.readFileSync(path.join(kdStore, 'runs', `${kd.rows[withKd].name}.json`), 'utf8'));
    expect(adopted.accuracyMatrix).toEqual(main.accuracyMatrix);
    expect(adopted).toMatchObject({ experiment: 'kd-removal', row: { id: kd.rows[withKd].id, index: withKd } });
    expect(adopted.provenance.sameRunAs).toEqual({ experiment: 'main-comparison', rowId: planned.rows[0].id, file: path.relative(kdStore, path.join(store, 'runs', `${planned.rows[0].name}.json`)) });
    expect(gridStatus(kd)[withKd].status.state).toBe('done');
    const table = await grid(['status', kdFile, '--markdown']);
    expect(table.stdout).toContain(`| ${kd.rows[withKd].spec.run.id.replaceAll('_', ' ')}, seed 1993 (main-comparison's run) |`);
    // The KD-off row is another run: nothing beside it is its result.
    expect(gridStatus(kd)[noKd].status.state).toBe('pending');
    expect(sameRunBeside(kdStore, kd.rows[noKd], kd.resultsVersion)).toBeNull();
    // Another seed, method version or spec is never taken: only the experiment's name may differ.
    const otherSeed = { ...kd.rows[withKd], spec: { ...kd.rows[withKd].spec, seed: 7 } };
    expect(sameRunBeside(kdStore, otherSeed, kd.resultsVersion)).toBeNull();
    expect(sameRunBeside(kdStore, { ...kd.rows[withKd], methodVersion: kd.rows[withKd].methodVersion + 1 }, kd.resultsVersion)).toBeNull();
    expect(sameRunBeside(kdStore, kd.rows[withKd], kd.resultsVersion + 1)).toBeNull();
    // A main-comparison result still under the earlier id rule (the whole profile hashed) is shared too.
    const mainFile = path.join(store, 'runs', `${planned.rows[0].name}.json`);
    const wholeSpec = { ...main.row.spec, profile: { ...main.row.spec.profile, methodOverrides: { ...main.row.spec.profile.methodOverrides, bic: { biasEpochs: 1 } } } };
    const earlierId = rowId(wholeSpec, RESULTS_VERSION, planned.rows[0].methodVersion);
    fs.writeFileSync(mainFile, JSON.stringify({ ...main, row: { ...main.row, id: earlierId, spec: wholeSpec } }));
    try {
      expect(sameRunBeside(kdStore, kd.rows[withKd], kd.resultsVersion)?.result.row?.id).toBe(earlierId);
      expect(sameRunBeside(kdStore, otherSeed, kd.resultsVersion)).toBeNull();
    } finally {
      fs.writeFileSync(mainFile, JSON.stringify(main));
    }
  });
});

describe('engine of a row', () => {
  const PROBE = path.join(ROOT, 'test', 'helpers', 'row-engine-probe.ts');
  const probe = async (engine: Record<string, unknown>, env: Record<string, string> = {}) => {
    const out = await execa(path.join(ROOT, 'node_modules', '.bin', 'tsx'), [PROBE, JSON.stringify(engine)], { cwd: ROOT, env, reject: false });
    return JSON.parse(out.stdout.trim().split('\n').pop() ?? '{}');
  };
  const isaOrder = ['sse41', 'avx', 'avx2', 'avx2_vnni', 'avx512_core', 'avx512_core_vnni', 'avx512_core_bf16', 'avx512_core_amx'];

  it('a row planned for an older ISA runs with oneDNN capped to it; a missing ISA is a clear error', { timeout: 120_000 }, async (ctx) => {
    const own = planned.rows[0].spec.engine;
    if (own.backend !== 'native' || !own.isa || isaOrder.indexOf(own.isa) < isaOrder.indexOf('avx2')) ctx.skip(); // needs the native engine on an AVX2 CPU
    expect(await probe(own)).toEqual({ ok: true, isa: own.isa });
    expect(await probe({ ...own, isa: 'avx2' })).toEqual({ ok: true, isa: 'avx2' });
    // The user's own cap wins, and a planned ISA above it is refused with both named.
    const refused = await probe({ ...own, isa: 'avx2' }, { DNNL_MAX_CPU_ISA: 'SSE41' });
    expect(refused.ok).toBe(false);
    expect(refused.error).toContain(`field 'spec.engine.isa' is "avx2" in the grid, but this machine computes with "sse41"`);
    expect(refused.error).toContain('DNNL_MAX_CPU_ISA is SSE41 here');
  });
});

describe('faults', () => {
  it('refuses a stored result of another spec and never overwrites it; --retire-other-specs moves it aside', { timeout: 120_000 }, async () => {
    const row = planned.rows[3];
    const file = path.join(store, 'runs', `${row.name}.json`);
    const foreign = JSON.stringify({ id: row.name, status: 'done', accuracies: [0.5], row: { id: 'ffffffffffffffff' } });
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, foreign);
    await expect(runRow(planned, 3, { say: () => {} })).rejects.toThrow(/holds a result of another spec \(row id ffffffffffffffff, this row's is [0-9a-f]{16}\); it is never overwritten/);
    expect(fs.readFileSync(file, 'utf8')).toBe(foreign);
    expect(gridStatus(planned)[3].status.state).toBe('other-spec');
    // Asked to, the row moves it aside (nothing deleted) and runs.
    const ran = await runRow(planned, 3, { say: () => {}, retireOtherSpec: true });
    expect(ran.status).toBe('done');
    expect(fs.readFileSync(path.join(store, 'runs', 'retired', `${row.name}.ffffffffffffffff.json`), 'utf8')).toBe(foreign);
  });

  it('ids hash the row\'s own method overrides only; a result stored under the whole-profile id is the row\'s, and takes its id', { timeout: 120_000 }, async () => {
    // Another method's overrides are not in a row's spec, so changing them leaves this row's id (and result) alone.
    for (const row of planned.rows) expect(Object.keys(row.spec.profile.methodOverrides)).toEqual(row.spec.run.method in row.spec.profile.methodOverrides ? [row.spec.run.method] : []);
    const index = 1;
    const row = planned.rows[index];
    const file = path.join(store, 'runs', `${row.name}.json`);
    const result = JSON.parse(fs.readFileSync(file, 'utf8'));
    // The same run as recorded before the reduction: the whole profile in its spec, the id hashed from that.
    const wholeSpec = { ...row.spec, profile: { ...row.spec.profile, methodOverrides: { ...row.spec.profile.methodOverrides, bic: { biasEpochs: 1 } }, excludeMethods: ['joint'] } };
    const earlierId = rowId(wholeSpec as never, RESULTS_VERSION, row.methodVersion);
    fs.writeFileSync(file, JSON.stringify({ ...result, row: { ...result.row, id: earlierId, spec: wholeSpec } }));
    expect(gridStatus(planned)[index].status.state).toBe('done');
    const lines: string[] = [];
    expect((await runRow(planned, index, { say: (l) => lines.push(l) })).status).toBe('done-earlier');
    expect(lines.join('\n')).toContain(`under the earlier row id ${earlierId}`);
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).row).toMatchObject({ id: row.id, index, spec: row.spec });
    // Not under another method results version: that is another spec, refused as before.
    const otherVersion = rowId(wholeSpec as never, RESULTS_VERSION, row.methodVersion + 1);
    fs.writeFileSync(file, JSON.stringify({ ...result, row: { ...result.row, id: otherVersion, spec: wholeSpec } }));
    expect(gridStatus(planned)[index].status.state).toBe('other-spec');
    fs.writeFileSync(file, JSON.stringify(result));
  });

  it('lets one of two workers run a row: the other skips it; a stale lock of a dead worker is taken over', { timeout: 120_000 }, async () => {
    const row = planned.rows[4];
    const lock = RunLock.acquire(path.join(store, 'checkpoints', row.name));
    expect(gridStatus(planned)[4].status.state).toBe('running');
    const outcome = await runRow(planned, 4, { say: () => {} });
    expect(outcome.status).toBe('skipped');
    if (outcome.status === 'skipped') expect(outcome.reason).toMatch(new RegExp(`in use by host ${os.hostname()}, pid ${process.pid}`));
    lock.release();
    // A lock left by a worker on another host that stopped beating ten minutes ago.
    const stale = { host: 'node-17', pid: 4242, token: 't', startedAt: '2026-01-01T00:00:00Z', heartbeatAt: new Date(Date.now() - 600_000).toISOString() };
    fs.writeFileSync(path.join(store, 'checkpoints', row.name, LOCK_FILE), JSON.stringify(stale));
    const ran = await runRow(planned, 4, { say: () => {} });
    expect(ran.status).toBe('done');
    expect((await runRow(planned, 4, { say: () => {} })).status).toBe('done-earlier');
  });

  it('reports a truncated result file in status and leaves it out of merge, saying so', { timeout: 120_000 }, async () => {
    const row = planned.rows[1];
    const file = path.join(store, 'runs', `${row.name}.json`);
    const text = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, text.slice(0, text.length / 2));
    const status = gridStatus(planned)[1].status;
    expect(status.state).toBe('corrupt');
    const merged = await mergeGrid(planned);
    expect(merged.leftOut.map((l) => l.row.index)).toContain(1);
    expect(merged.outcome.results.runs.map((r) => r.id)).not.toContain(row.name);
    expect(fs.readFileSync(merged.report, 'utf8')).toMatch(/lwf_b0-10_s7 \(corrupt: .*lwf_b0-10_s7\.json/);
    const cli = await grid(['status', gridFile]);
    expect(cli.all).toMatch(/1\s+corrupt\s+lwf_b0-10_s7/);
    fs.writeFileSync(file, text);
  });

  it('fails on checkpoints of another config, naming it; with --retire-other-specs moves them aside and runs the row', { timeout: 120_000 }, async () => {
    // Row 5's checkpoint folder holds row 4's last checkpoint (another seed: another config), and row 5 has no result.
    const [from, to] = [planned.rows[4], planned.rows[5]];
    const runFile = path.join(store, 'runs', `${to.name}.json`);
    if (fs.existsSync(runFile)) fs.rmSync(runFile);
    const ckptDir = (name: string) => path.join(store, 'checkpoints', name);
    if (!fs.existsSync(ckptDir(from.name))) expect((await runRow(planned, 4, { say: () => {} })).status).toMatch(/done/);
    fs.rmSync(ckptDir(to.name), { recursive: true, force: true });
    fs.cpSync(ckptDir(from.name), ckptDir(to.name), { recursive: true });
    const copied = fs.readdirSync(ckptDir(to.name)).filter((f) => f.endsWith('.kdcl'));
    expect(copied.length).toBeGreaterThan(0);
    const failed = await runRow(planned, 5, { say: () => {} });
    expect(failed.status).toBe('failed');
    expect(JSON.stringify(failed)).toMatch(/different config .*differing: seed/);
    const lines: string[] = [];
    expect((await runRow(planned, 5, { say: (l) => lines.push(l), retireOtherSpec: true })).status).toBe('done');
    expect(lines.join('\n')).toMatch(/are another config's \(hash [0-9a-f]{12}\): moved to .*checkpoints[\/\\]retired/);
    const retired = fs.readdirSync(path.join(store, 'checkpoints', 'retired')).filter((d) => d.startsWith(`${to.name}.`));
    expect(fs.readdirSync(path.join(store, 'checkpoints', 'retired', retired[0])).filter((f) => f.endsWith('.kdcl'))).toEqual(copied);
  });
});

describe('Kubernetes Indexed Job', () => {
  it('writes a manifest that the batch/v1 Job schema accepts', async () => {
    const out = path.join(work, 'grid.k8s.yaml');
    const made = await grid(['k8s', gridFile, '--image', 'registry.example/kdcl:1', '--max-parallel', '4', '--out', out]);
    expect(made.exitCode, made.all).toBe(0);
    const manifest = parseYaml(fs.readFileSync(out, 'utf8'));
    expect(() => new Job(manifest).validate()).not.toThrow();
    expect(manifest.spec).toMatchObject({ completionMode: 'Indexed', completions: 6, parallelism: 4, backoffLimitPerIndex: 3 });
    const container = manifest.spec.template.spec.containers[0];
    expect(container.command.join(' ')).toContain('--row "$JOB_COMPLETION_INDEX"');
    expect(container.env).toContainEqual({ name: 'KDCL_THREADS', value: '1' });
    // The validator is not a rubber stamp: a wrong type or value is refused.
    const broken = kubernetesJob(planned, { gridFile, image: 'x' }) as any;
    broken.spec.completionMode = 'Indexd';
    expect(() => new Job(broken).validate()).toThrow(/completionMode/);
  });
});
