/**
 * Is a PASS result kdcl's or PASS's? Trains kdcl's PASS and finetune and an independent PyTorch PASS and finetune
 * (pass_torch.py) on the same images, scenario, backbone shape and recipe, and prints their accuracy matrices side by side.
 *
 *   npm run reference:pass                          the method-comparison test's first B0 profile, seeds 1993, 1, 2
 *   npm run reference:pass -- --train-per-class 400 --init-epochs 30 --epochs 10 --seeds 1993
 *
 * Options: --classes 20 --train-per-class 80 --test-per-class 50 --initial 5 --increment 5 --init-epochs 8
 * --epochs 4 --batch 32 --width 0.5 --blocks 1 --seeds 1993,1,2 --methods pass,finetune --out DIR (default .cache/reference-pass).
 * Needs Debian's python3-torch (/usr/bin/python3). The two sides draw different random numbers (init, batches,
 * noise), so they agree in distribution, not digit for digit: compare the matrices' pattern and the seed spread.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { initBackend } from '../../kernel-lib/backend/index';
import { createRun } from '../../kernel-lib/train/index';
import { EXPERIMENTS, PROFILES, loadExperimentDataset, runOptionsFor, type Profile } from '../../kernel-lib/experiments/index';
import type { ImageDataset } from '../../kernel-lib/data/types';
import { writeFileAtomic } from '../../kernel-lib/train/checkpoint';
import { ROOT } from '../notebook-exec';

const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(ROOT, 'reproductions/reference/pass_torch.py');

interface Options {
  classes: number; trainPerClass: number; testPerClass: number; initial: number; increment: number;
  initEpochs: number; epochs: number; batch: number; width: number; blocks: number; seeds: number[]; methods: string[]; out: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    classes: 20, trainPerClass: 80, testPerClass: 50, initial: 5, increment: 5, initEpochs: 8, epochs: 4, batch: 32,
    width: 0.5, blocks: 1, seeds: [1993, 1, 2], methods: ['pass', 'finetune'], out: path.join(ROOT, '.cache/reference-pass'),
  };
  const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  for (let i = 0; i < argv.length; i += 2) {
    const key = camel(argv[i].replace(/^--/, '')) as keyof Options;
    const value = argv[i + 1];
    if (!(key in o) || value === undefined) throw new Error(`pass-check: unknown option or missing value '${argv[i]}'; options: ${Object.keys(o).join(', ')}`);
    if (key === 'out') o.out = path.resolve(value);
    else if (key === 'seeds') o.seeds = value.split(',').map(Number);
    else if (key === 'methods') {
      o.methods = value.split(',');
      const bad = o.methods.filter((m) => m !== 'pass' && m !== 'finetune');
      if (bad.length) throw new Error(`pass-check: --methods takes pass and/or finetune, got '${bad.join(',')}'`);
      continue;
    }
    else (o[key] as number) = Number(value);
    if (key !== 'out' && [o[key]].flat().some((v) => !Number.isFinite(v))) throw new Error(`pass-check: --${argv[i].replace(/^--/, '')} must be a number, got '${value}'`);
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

interface Result { matrix: number[][]; last: number; aia: number }

const o = parseArgs(process.argv.slice(2));
const profile: Profile = {
  ...PROFILES.smoke, classes: o.classes, trainPerClass: o.trainPerClass, testPerClass: o.testPerClass,
  backbone: { kind: 'resnet32', width: o.width, blocksPerStage: o.blocks }, initEpochs: o.initEpochs, epochs: o.epochs,
  batchSize: o.batch, memoryScale: 1,
};
const scenario = { initial: o.initial, increment: o.increment };
await initBackend({ log: false });
const sliced = await loadExperimentDataset('embedded', profile);
const specs = EXPERIMENTS['main-comparison'].runs.filter((r) => r.scenario === 'b0-10');
// Whole-run cost per side: wall time from building the run (kdcl) or starting the interpreter (PyTorch) to the
// last evaluation, and the process's peak RSS (kdcl's process also holds the loaded dataset).
const results: { method: string; impl: string; seed: number; r: Result; seconds: number; peakRssMiB: number }[] = [];
let exported = false;
for (const seed of o.seeds) {
  for (const method of o.methods) {
    const spec = specs.find((r) => r.method === method)!;
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
      const m = await run.runAll();
      results.push({ method, impl: 'kdcl', seed, r: { matrix: m.accuracyMatrix.map((row) => row.map((x) => 100 * x)), last: 100 * m.last, aia: 100 * m.aia },
        seconds: (Date.now() - started - exportMs) / 1000, peakRssMiB: process.resourceUsage().maxRSS / 1024 });
    } finally {
      run.dispose();
    }
    const pyStarted = Date.now();
    const py = await execa(PYTHON, [SCRIPT, '--data', o.out, '--seed', String(seed), '--method', method,
      '--initial', String(o.initial), '--increment', String(o.increment), '--init-epochs', String(o.initEpochs),
      '--epochs', String(o.epochs), '--batch', String(o.batch), '--width', String(o.width), '--blocks', String(o.blocks)]);
    const pyResult = JSON.parse(py.stdout.trim().split('\n').at(-1)!) as Result & { peakRssMiB: number };
    results.push({ method, impl: 'pytorch', seed, r: pyResult, seconds: (Date.now() - pyStarted) / 1000, peakRssMiB: pyResult.peakRssMiB });
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
