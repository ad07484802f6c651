/**
 * The native addon is portable: built for the x86-64-v2 baseline, with kdcl's own loops built a second time for
 * x86-64-v4 and picked at load time. Checked on the built addon itself: no VEX/EVEX instruction (AVX and later)
 * outside the kdcl::isa_v4 functions (objdump), and the baseline loops, forced with KDCL_NATIVE_KERNELS=baseline in
 * a subprocess, compute what the v4 loops compute. Skipped, with the reason, where the addon is not built, was built
 * with KDCL_NATIVE_MARCH, or objdump is missing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADDON_PATH, BUILD_INFO_PATH } from '../kernel-lib/backend/native/build';

const ROOT = path.resolve(__dirname, '..');

function skipReason(): string | null {
  if (process.arch !== 'x64') return `not an x86-64 machine (${process.arch})`;
  if (!fs.existsSync(ADDON_PATH) || !fs.existsSync(BUILD_INFO_PATH)) return 'native addon not built (npm run build:native)';
  const info = JSON.parse(fs.readFileSync(BUILD_INFO_PATH, 'utf8')) as { marchOverride: string | null };
  if (info.marchOverride) return `addon built with KDCL_NATIVE_MARCH=${info.marchOverride} (not the portable build)`;
  if (spawnSync('objdump', ['--version'], { stdio: 'ignore' }).status !== 0) return 'objdump not found (apt-get install binutils)';
  return null;
}

const skip = skipReason();
if (skip) console.warn(`[native-portable-build.test] skipped: ${skip}`);

/** Demangled names of the functions that hold at least one VEX/EVEX-encoded (AVX or later) instruction. */
function functionsWithAvx(file: string): Set<string> {
  const listing = execFileSync('objdump', ['-d', '--no-show-raw-insn', '-C', file], { maxBuffer: 1 << 30 }).toString();
  const found = new Set<string>();
  let current = '';
  for (const line of listing.split('\n')) {
    const header = /^[0-9a-f]+ <(.*)>:$/.exec(line);
    if (header) {
      current = header[1];
      continue;
    }
    // AVX mnemonics start with 'v' (vaddps, vmovdqu64, vfmadd...) and name xmm/ymm/zmm or mask registers.
    if (/\tv[a-z0-9]+\s.*%([xyz]mm|k[0-7])/.test(line)) found.add(current);
  }
  return found;
}

const PROBE = `
import { tf } from ${JSON.stringify(path.join(ROOT, 'kernel-lib/tf.ts'))};
import { initBackend, backendInfo } from ${JSON.stringify(path.join(ROOT, 'kernel-lib/backend/index.ts'))};
import { batchNormTrain } from ${JSON.stringify(path.join(ROOT, 'kernel-lib/backend/ops.ts'))};
await initBackend({ backend: 'native', log: false });
const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + i * 0.37) * 3);
const x = tf.tensor4d(values(8 * 9 * 9 * 16, 1), [8, 9, 9, 16]);
const y = tf.tensor4d(values(8 * 9 * 9 * 16, 2), [8, 9, 9, 16]);
const outs = [
  tf.add(x, y), tf.mul(x, y), tf.div(x, tf.add(tf.abs(y), 1)), tf.squaredDifference(x, y), tf.exp(tf.mul(x, 0.3)),
  tf.sqrt(tf.abs(x)), tf.relu(x), tf.sum(x, [0, 1, 2]), tf.max(x, 3), tf.mean(x, [1, 2]),
  ...Object.values(batchNormTrain(x, tf.ones([16]), tf.zeros([16]), 1e-5)),
];
const grads = tf.grads((a: tf.Tensor) => tf.sum(tf.square(batchNormTrain(a as tf.Tensor4D, tf.ones([16]), tf.zeros([16]), 1e-5).y)))([x]);
const flat = [...outs, ...grads].map((t) => Array.from(t.dataSync()));
console.log(JSON.stringify({ loops: backendInfo().details?.loops, flat }));
`;

function probe(env: Record<string, string>): { loops: string; flat: number[][] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-portable-'));
  const script = path.join(dir, 'probe.mts');
  fs.writeFileSync(script, PROBE);
  try {
    const out = execFileSync(path.join(ROOT, 'node_modules', '.bin', 'tsx'), [script], {
      env: { ...process.env, ...env }, cwd: ROOT, maxBuffer: 1 << 28,
    }).toString();
    return JSON.parse(out.trim().split('\n').pop()!) as { loops: string; flat: number[][] };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!!skip)('portable native build', () => {
  it('has AVX instructions only in the x86-64-v4 copy of kdcl\'s loops', () => {
    const withAvx = [...functionsWithAvx(ADDON_PATH)];
    expect(withAvx.length).toBeGreaterThan(0);
    expect(withAvx.filter((name) => !name.includes('kdcl::isa_v4::'))).toEqual([]);
  });

  it('the baseline loops compute what the x86-64-v4 loops compute', () => {
    const v4 = probe({});
    const base = probe({ KDCL_NATIVE_KERNELS: 'baseline' });
    expect(base.loops).toBe('baseline');
    const cpuHasV4 = v4.loops === 'x86-64-v4';
    expect(base.flat.length).toBe(v4.flat.length);
    let worst = 0;
    for (let k = 0; k < v4.flat.length; k++) {
      for (let i = 0; i < v4.flat[k].length; i++) {
        const a = v4.flat[k][i], b = base.flat[k][i];
        worst = Math.max(worst, Math.abs(a - b) / Math.max(1, Math.abs(b)));
      }
    }
    // FMA contraction in the v4 build may change the last bits of batch norm's affine step; nothing more.
    expect(worst, cpuHasV4 ? 'v4 vs baseline' : 'both baseline (no AVX-512 here)').toBeLessThan(1e-5);
  }, 120_000);
});
