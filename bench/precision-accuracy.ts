/**
 * bf16 against fp32 where it matters, in accuracy: the same CIL runs (method x seeds) in both precisions on the
 * native backend, at a budget where accuracy is well above chance, with AIA and last accuracy per seed and their
 * mean ± sd, and the wall time of each run.
 *
 *   npm run bench:precision -- [--method lwf] [--seeds 1993,1994,1995] [--classes 30] [--initial 10] [--increment 10]
 *                              [--init-epochs 15] [--epochs 8] [--threads 2] [--json out.json]
 *
 * The data and recipe are the `standard` profile's (embedded dataset, 100 training images per class, half-width
 * ResNet-32, batch 32, SGD 0.05 cosine), on the first `classes` classes with fewer epochs.
 */
import { writeFileSync, renameSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { initBackend, type Precision } from '../kernel-lib/backend/index';
import { getProfile, loadExperimentDataset } from '../kernel-lib/experiments/index';
import { runOptionsFor } from '../kernel-lib/experiments/runner-options';
import { createRun } from '../kernel-lib/train/index';

const { values } = parseArgs({
  options: {
    method: { type: 'string', default: 'lwf' },
    seeds: { type: 'string', default: '1993,1994,1995' },
    classes: { type: 'string', default: '30' },
    initial: { type: 'string', default: '10' },
    increment: { type: 'string', default: '10' },
    'init-epochs': { type: 'string', default: '15' },
    epochs: { type: 'string', default: '8' },
    threads: { type: 'string', default: '2' },
    json: { type: 'string' },
  },
});
const int = (name: keyof typeof values) => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: '${values[name]}' is not a positive integer`);
  return n;
};

interface Row { precision: Precision; seed: number; aia: number; last: number; seconds: number }

// bench/ is CommonJS (bench/package.json): no top-level await.
async function main(): Promise<void> {
  process.env.KDCL_THREADS = String(int('threads'));
  const info = await initBackend({ backend: 'native', log: false });
  const profile = { ...getProfile('standard'), classes: int('classes'), initEpochs: int('init-epochs'), epochs: int('epochs') };
  const dataset = await loadExperimentDataset('embedded', profile);
  const seeds = values.seeds!.split(',').map(Number);
  const spec = { id: values.method!, method: values.method!, scenario: { initial: int('initial'), increment: int('increment') }, config: {} } as never;

  const rows: Row[] = [];
  for (const seed of seeds) {
    for (const precision of ['fp32', 'bf16'] as const) {
      const started = Date.now();
      const run = await createRun({ ...runOptionsFor(spec, seed, profile, 'embedded', dataset), precision, quiet: true });
      try {
        const m = await run.runAll();
        rows.push({ precision, seed, aia: m.aia, last: m.last, seconds: (Date.now() - started) / 1000 });
      } finally {
        run.dispose();
      }
      const r = rows.at(-1)!;
      process.stderr.write(`[bench:precision] seed ${seed} ${precision}: AIA ${(100 * r.aia).toFixed(2)} last ${(100 * r.last).toFixed(2)} (${r.seconds.toFixed(0)} s)\n`);
    }
  }

  const pct = (x: number) => (100 * x).toFixed(2);
  const stats = (xs: number[]) => {
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : NaN;
    return `${pct(mean)} ± ${pct(sd)}`;
  };
  const by = (p: Precision) => rows.filter((r) => r.precision === p);
  const lines = [
    `${values.method} on the embedded dataset, ${profile.classes} classes x ${profile.trainPerClass} training images, tasks ` +
      `${int('initial')} + ${int('increment')}s, ${profile.initEpochs} + ${profile.epochs} epochs, batch ${profile.batchSize}, ` +
      `half-width ResNet-32, native backend (${info.details?.isa}), ${info.threads} thread(s). AIA and last accuracy in %, mean ± sd over seeds.`,
    '',
    '| precision | AIA per seed | last per seed | AIA | last | wall s per run |',
    '| --- | --- | --- | ---: | ---: | ---: |',
    ...(['fp32', 'bf16'] as const).map((p) => {
      const rs = by(p);
      return `| ${p} | ${rs.map((r) => pct(r.aia)).join(', ')} | ${rs.map((r) => pct(r.last)).join(', ')} | ` +
        `${stats(rs.map((r) => r.aia))} | ${stats(rs.map((r) => r.last))} | ${rs.map((r) => r.seconds.toFixed(0)).join(', ')} |`;
    }),
    '',
    `Paired by seed, bf16 - fp32: AIA ${stats(seeds.map((s, i) => by('bf16')[i].aia - by('fp32')[i].aia))}, last ` +
      `${stats(seeds.map((s, i) => by('bf16')[i].last - by('fp32')[i].last))} points.`,
  ];
  console.log(lines.join('\n'));
  if (values.json) {
    writeFileSync(`${values.json}.tmp`, JSON.stringify({ rows }, null, 1) + '\n');
    renameSync(`${values.json}.tmp`, values.json);
  }
}

main().catch((err) => {
  console.error(`bench:precision: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
