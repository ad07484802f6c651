/**
 * Is a result kdcl's or the method's? Trains kdcl's PASS, BiC, PRAKA, IL2A and finetune and independent PyTorch ones
 * (pass_torch.py: PASS and finetune; bic_torch.py, praka_torch.py, il2a_torch.py) on the same images, scenario,
 * backbone shape and recipe, and prints their accuracy matrices side by side; for BiC also each bias stage of both sides.
 *
 *   npm run reference                               PASS and finetune at the method-comparison test's first B0 profile, seeds 1993, 1, 2
 *   npm run reference -- --train-per-class 400 --init-epochs 30 --epochs 10 --seeds 1993
 *   npm run reference -- --methods bic ...          BiC, stage by stage (its config: kdcl's, resolved for this profile)
 *   npm run reference -- --methods praka,il2a ...   the other feature-replay methods (config: kdcl's, resolved)
 *
 * Options: --classes 20 --train-per-class 80 --test-per-class 50 --initial 5 --increment 5 --init-epochs 8
 * --epochs 4 --batch 32 --width 0.5 --blocks 1 --seeds 1993,1,2 --methods pass,finetune,bic,praka,il2a --threads 2 (both sides)
 * --out DIR (default .cache/reference-pass; each finished side is kept in DIR/results/ and reused by a later run
 * with the same options, so a longer seed list runs only the new seeds).
 * Needs Debian's python3-torch (/usr/bin/python3). The two sides draw different random numbers (init, batches,
 * noise), so they agree in distribution, not digit for digit: compare the matrices' pattern and the seed spread.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { initBackend } from '../../kernel-lib/backend/index';
import { createRun } from '../../kernel-lib/train/index';
import { EXPERIMENTS, PROFILES, buildMethod, loadExperimentDataset, runOptionsFor, type Profile } from '../../kernel-lib/experiments/index';
import type { BiasCorrection, BiasStageReport } from '../../kernel-lib/methods/bic';
import type { ImageDataset } from '../../kernel-lib/data/types';
import { writeFileAtomic } from '../../kernel-lib/train/checkpoint';
import { ROOT } from '../notebook-exec';

const PYTHON = '/usr/bin/python3';
const METHODS = ['pass', 'finetune', 'bic', 'praka', 'il2a'];
/** The PyTorch side of each method; those in CONFIGURED take kdcl's resolved config (--config), so both run one configuration. */
const torchScript = (method: string) => path.join(ROOT, 'reproductions/reference', method === 'finetune' ? 'pass_torch.py' : `${method}_torch.py`);
const CONFIGURED = ['bic', 'praka', 'il2a'];

interface Options {
  classes: number; trainPerClass: number; testPerClass: number; initial: number; increment: number;
  initEpochs: number; epochs: number; batch: number; width: number; blocks: number; seeds: number[]; methods: string[]; out: string;
  threads: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    classes: 20, trainPerClass: 80, testPerClass: 50, initial: 5, increment: 5, initEpochs: 8, epochs: 4, batch: 32,
    width: 0.5, blocks: 1, seeds: [1993, 1, 2], methods: ['pass', 'finetune'], out: path.join(ROOT, '.cache/reference-pass'), threads: 2,
  };
  const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  for (let i = 0; i < argv.length; i += 2) {
    const key = camel(argv[i].replace(/^--/, '')) as keyof Options;
    const value = argv[i + 1];
    if (!(key in o) || value === undefined) throw new Error(`side-by-side: unknown option or missing value '${argv[i]}'; options: ${Object.keys(o).join(', ')}`);
    if (key === 'out') o.out = path.resolve(value);
    else if (key === 'seeds') o.seeds = value.split(',').map(Number);
    else if (key === 'methods') {
      o.methods = value.split(',');
      const bad = o.methods.filter((m) => !METHODS.includes(m));
      if (bad.length) throw new Error(`side-by-side: --methods takes ${METHODS.join(', ')}, got '${bad.join(',')}'`);
      continue;
    }
    else (o[key] as number) = Number(value);
    if (key !== 'out' && [o[key]].flat().some((v) => !Number.isFinite(v))) throw new Error(`side-by-side: --${argv[i].replace(/^--/, '')} must be a number, got '${value}'`);
  }
  return o;
}

/** The relabelled images as raw files pass_torch.py reads (uint8 NHWC, int32 labels, meta.json). */
function exportImages(dataset: ImageDataset, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const split of ['train', 'test'] as const) {
    const s = dataset[split];
    writeFileAtomic(path.join(dir, `${split}-images.u8`), Buffer.from(s.images.buffer, s.images.byteOffset, s.images.byteLength));
    writeFileAtomic(path.join(dir, `${split}-labels.i32`), Buffer.from(s.labels.buffer, s.labels.byteOffset, s.labels.byteLength));
  }
  writeFileAtomic(path.join(dir, 'meta.json'), Buffer.from(JSON.stringify({ mean: dataset.mean, std: dataset.std, size: dataset.train.height })));
}

/** One BiC bias stage: held-out accuracy (%) with the earlier corrections, then with this task's too. */
interface Stage { task: number; heldOutImages: number; accuracyBefore: number; accuracyAfter: number; alpha: number; beta: number }
interface Result {
  matrix: number[][]; last: number; aia: number;
  /** BiC: the uncorrected network's accuracy matrix and summary, and its bias stages. */
  cnnMatrix?: number[][]; cnnLast?: number; cnnAia?: number; stages?: Stage[];
}

/** kdcl's BiC stages from the run's method state, in percent, with each task's learned alpha and beta. */
function kdclStages(state: Record<string, unknown>): Stage[] {
  const reports = (state.bicStageReports ?? []) as BiasStageReport[];
  const corrections = (state.bicCorrections ?? []) as BiasCorrection[];
  return reports.map((r, i) => ({ task: r.task, heldOutImages: r.heldOutImages, accuracyBefore: 100 * r.accuracyBefore,
    accuracyAfter: 100 * r.accuracyAfter, alpha: corrections[i].alpha, beta: corrections[i].beta }));
}

const o = parseArgs(process.argv.slice(2));
const profile: Profile = {
  ...PROFILES.smoke, classes: o.classes, trainPerClass: o.trainPerClass, testPerClass: o.testPerClass,
  backbone: { kind: 'resnet32', width: o.width, blocksPerStage: o.blocks }, initEpochs: o.initEpochs, epochs: o.epochs,
  batchSize: o.batch, memoryScale: 1,
};
const scenario = { initial: o.initial, increment: o.increment };
process.env.KDCL_THREADS = String(o.threads);
await initBackend({ log: false });
const sliced = await loadExperimentDataset('embedded', profile);
const specs = EXPERIMENTS['main-comparison'].runs.filter((r) => r.scenario === 'b0-10');
// Whole-run cost per side: wall time from building the run (kdcl) or starting the interpreter (PyTorch) to the
// last evaluation, and the process's peak RSS (kdcl's process also holds the loaded dataset).
const results: { method: string; impl: string; seed: number; r: Result; seconds: number; peakRssMiB: number }[] = [];
// Each finished side is kept in <out>/results/, keyed by everything that sets its numbers, so a longer seed list
// reuses the seeds already run (an interrupted check continues).
const optionsKey = createHash('sha256').update(JSON.stringify({ ...o, seeds: undefined, methods: undefined, out: undefined })).digest('hex').slice(0, 12);
const cacheFile = (method: string, impl: string, seed: number) => path.join(o.out, 'results', `${method}-${impl}-${seed}-${optionsKey}.json`);
type Entry = (typeof results)[number];
const cached = (method: string, impl: string, seed: number): Entry | null =>
  fs.existsSync(cacheFile(method, impl, seed)) ? (JSON.parse(fs.readFileSync(cacheFile(method, impl, seed), 'utf8')) as Entry) : null;
const keep = (entry: Entry) => {
  fs.mkdirSync(path.dirname(cacheFile(entry.method, entry.impl, entry.seed)), { recursive: true });
  writeFileAtomic(cacheFile(entry.method, entry.impl, entry.seed), Buffer.from(JSON.stringify(entry)));
  results.push(entry);
};
let exported = false;
for (const seed of o.seeds) {
  for (const method of o.methods) {
    const spec = specs.find((r) => r.method === method)!;
    const kdcl = cached(method, 'kdcl', seed);
    const torch = cached(method, 'pytorch', seed);
    if (kdcl) results.push(kdcl);
    if (!kdcl || (!torch && !exported)) {
      const started = Date.now();
      const run = await createRun({ ...runOptionsFor(spec, seed, profile, 'embedded', sliced), scenario, quiet: true });
      try {
        let exportMs = 0;
        if (!exported) {
          const t0 = Date.now();
          exportImages(run.state.dataset, o.out); // arrival-ordered labels: task t owns [start, end)
          exportMs = Date.now() - t0; // the PyTorch side's input, not kdcl's cost
          exported = true;
        }
        if (!kdcl) {
          const m = await run.runAll();
          const percent = (matrix: number[][]) => matrix.map((row) => row.map((x) => 100 * x));
          const r: Result = { matrix: percent(m.accuracyMatrix), last: 100 * m.last, aia: 100 * m.aia };
          if (method === 'bic' && m.cnnSummary) {
            Object.assign(r, { cnnMatrix: percent(m.cnnSummary.accuracyMatrix), cnnLast: 100 * m.cnnSummary.last, cnnAia: 100 * m.cnnSummary.aia,
              stages: kdclStages(run.state.methodState) });
          }
          keep({ method, impl: 'kdcl', seed, r, seconds: (Date.now() - started - exportMs) / 1000, peakRssMiB: process.resourceUsage().maxRSS / 1024 });
        }
      } finally {
        run.dispose();
      }
    }
    if (torch) {
      results.push(torch);
      continue;
    }
    const pyStarted = Date.now();
    // BiC's, PRAKA's and IL2A's PyTorch sides run kdcl's resolved config for this profile (BiC: memory, held-out
    // ratio, stage-2 settings; PRAKA, IL2A: loss weights, temperature, augmentation settings).
    const methodArgs = CONFIGURED.includes(method) ? ['--config', JSON.stringify(buildMethod(spec, profile, o.classes).config)] : ['--method', method];
    const py = await execa(PYTHON, [torchScript(method), '--data', o.out, '--seed', String(seed), ...methodArgs,
      '--initial', String(o.initial), '--increment', String(o.increment), '--init-epochs', String(o.initEpochs),
      '--epochs', String(o.epochs), '--batch', String(o.batch), '--width', String(o.width), '--blocks', String(o.blocks), '--threads', String(o.threads)]);
    const { peakRssMiB, ...pyResult } = JSON.parse(py.stdout.trim().split('\n').at(-1)!) as Result & { peakRssMiB: number };
    keep({ method, impl: 'pytorch', seed, r: pyResult, seconds: (Date.now() - pyStarted) / 1000, peakRssMiB });
  }
}
const fmt = (x: number) => x.toFixed(0);
console.log(`\n${o.classes} classes, ${o.trainPerClass} train / ${o.testPerClass} test per class, tasks ${o.initial} + ${o.increment}s, ` +
  `${o.initEpochs} + ${o.epochs} epochs, batch ${o.batch}, ResNet-32 width ${o.width} x ${o.blocks} block(s)\n`);
console.log('| method | implementation | seed | accuracy matrix (%, row = after task t) | newest task after each task | last | AIA | wall s | peak RSS MiB |');
console.log('| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: |');
for (const { method, impl, seed, r, seconds, peakRssMiB } of results) {
  const rows = r.matrix.map((row) => row.map(fmt).join(' ')).join(' / ');
  const newest = r.matrix.map((row) => fmt(row.at(-1)!)).join(' ');
  console.log(`| ${method} | ${impl} | ${seed} | ${rows} | ${newest} | ${r.last.toFixed(1)} | ${r.aia.toFixed(1)} | ${seconds.toFixed(0)} | ${peakRssMiB.toFixed(0)} |`);
}

// The first task of both sides, paired by seed (issue: kdcl's first task is equivalent to PyTorch's when the 95%
// interval of the paired difference lies within +-2 points): mean +- sd per side, and the paired difference's
// mean with its t interval (df = seeds - 1).
const T95 = [NaN, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131];
const meanSd = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { m, sd: Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1)) };
};
for (const method of o.methods) {
  const firstTask = (impl: string) => new Map(results.filter((x) => x.method === method && x.impl === impl).map((x) => [x.seed, x.r.matrix[0][0]]));
  const [k, p] = [firstTask('kdcl'), firstTask('pytorch')];
  const seeds = [...k.keys()].filter((s) => p.has(s));
  if (seeds.length < 2) continue;
  const a = meanSd(seeds.map((s) => k.get(s)!));
  const b = meanSd(seeds.map((s) => p.get(s)!));
  const d = meanSd(seeds.map((s) => k.get(s)! - p.get(s)!));
  const half = (T95[seeds.length - 1] ?? 1.96) * d.sd / Math.sqrt(seeds.length);
  const [lo, hi] = [d.m - half, d.m + half];
  console.log(`\n${method}, first-task accuracy over ${seeds.length} paired seeds: kdcl ${a.m.toFixed(2)} ± ${a.sd.toFixed(2)}, PyTorch ${b.m.toFixed(2)} ± ${b.sd.toFixed(2)}; ` +
    `kdcl - PyTorch ${d.m.toFixed(2)} ± ${d.sd.toFixed(2)}, 95% interval [${lo.toFixed(2)}, ${hi.toFixed(2)}]: ` +
    `${lo > -2 && hi < 2 ? 'equivalent within ±2 points' : 'not shown equivalent within ±2 points'}`);
}

// BiC stage by stage (issue 15 point 8): what each bias stage trains on and what it does to the held-out accuracy
// it optimises, then the whole run with and without the correction.
const bic = results.filter((x) => x.method === 'bic' && x.r.stages);
if (bic.length) {
  console.log('\nBiC bias stages (held-out accuracy with the earlier corrections -> with this task\'s too):\n');
  console.log('| seed | implementation | task | held-out images | before | after | alpha | beta |');
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const { seed, impl, r } of bic) {
    for (const st of r.stages!) {
      console.log(`| ${seed} | ${impl} | ${st.task} | ${st.heldOutImages} | ${st.accuracyBefore.toFixed(1)} | ${st.accuracyAfter.toFixed(1)} | ` +
        `${st.alpha.toFixed(3)} | ${st.beta.toFixed(3)} |`);
    }
  }
  console.log('\n| implementation | seeds | last, corrected | last, uncorrected | AIA, corrected | AIA, uncorrected | stages that lowered held-out accuracy |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const impl of ['kdcl', 'pytorch']) {
    const runs = bic.filter((x) => x.impl === impl);
    if (!runs.length) continue;
    const mean = (pick: (r: Result) => number) => meanSd(runs.map((x) => pick(x.r)));
    const cell = (pick: (r: Result) => number) => { const { m, sd } = mean(pick); return `${m.toFixed(1)} ± ${sd.toFixed(1)}`; };
    const stages = runs.flatMap((x) => x.r.stages!);
    const lowered = stages.filter((st) => st.accuracyAfter < st.accuracyBefore).length;
    console.log(`| ${impl} | ${runs.length} | ${cell((r) => r.last)} | ${cell((r) => r.cnnLast!)} | ${cell((r) => r.aia)} | ${cell((r) => r.cnnAia!)} | ${lowered} of ${stages.length} |`);
  }
}
