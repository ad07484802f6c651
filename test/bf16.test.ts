/**
 * bf16 mixed precision on the native backend (setPrecision('bf16'): bf16 convolution inputs and filters, f32
 * outputs, master weights, batch norm and loss): gradients against the float64 PyTorch fixture, the loss
 * trajectory of a short training run against fp32, the clear error on a CPU without bf16 (oneDNN capped for real
 * with DNNL_MAX_CPU_ISA in a subprocess), and the precision recorded in a run's engine. Skipped, with the reason,
 * where the addon is not built or the CPU has no bf16 kernels.
 */
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../kernel-lib/tf';
import { initBackend, setPrecision } from '../kernel-lib/backend/index';
import { convolutionImplementations } from '../kernel-lib/backend/native/kernels';
import { loadAddon } from '../kernel-lib/backend/native/index';
import { createRun, type RunOptions } from '../kernel-lib/train/index';
import { classColouredDataset } from './data-helpers';
import { fixture, lossAndGrads, networkWithFixtureWeights, relativeError } from './helpers/torch-fixture';

let unavailable: string | undefined;
try {
  const addon = loadAddon();
  if (!addon.init(1).bf16) unavailable = 'this CPU has no bf16 kernels in oneDNN (needs AVX512-BF16 or AMX)';
} catch (err) {
  unavailable = (err as Error).message;
}
if (unavailable) console.warn(`[bf16.test] skipped: ${unavailable}`);

/**
 * One convolution pass in bf16 against float64 arithmetic on the same bf16-rounded inputs: products of two bf16
 * values are exact in f32, so what remains is f32 summation (K <= 144 terms here: ~1e-6 relative). A kernel that
 * read f32 inputs, a wrong layout or a dropped batch chunk is off by 1e-3 or more. The filter gradient is computed
 * in f32 in bf16 mode too, so its reference is float64 on the f32 inputs.
 */
const KERNEL_TOLERANCE = 1e-5;

/**
 * The whole chain (a training step of the fixture's network) against PyTorch float64. On this network (batch 6,
 * batch norm over few values) bf16 rounding alone moves gradients by up to 30%: the fixture's bf16 emulation
 * (float64 with bf16-rounded convolution inputs, as kdcl's bf16 mode rounds them) is that far from float64, and two bf16
 * computations that round a few values differently are as far from each other. So the check is that kdcl's bf16
 * is no further from float64 than twice bf16 arithmetic itself, plus 2% of the tensor's largest magnitude; the
 * precise check is the per-kernel one above.
 */
const CHAIN_MARGIN = 2e-2;

const PROBE = path.join(__dirname, 'helpers/precision-probe.ts');

/** Deterministic values in [-1, 1) (mulberry32). */
function seeded(shape: number[], seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(shape.reduce((p, d) => p * d, 1));
  for (let i = 0; i < out.length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** f32 -> bf16 -> f32, round to nearest even (what oneDNN's reorder does). */
function bf16Array(values: Float32Array): Float64Array {
  const bits = new Uint32Array(Float32Array.from(values).buffer);
  for (let i = 0; i < bits.length; i++) bits[i] = ((bits[i] + 0x7fff + ((bits[i] >>> 16) & 1)) >>> 0) & 0xffff0000;
  return Float64Array.from(new Float32Array(bits.buffer));
}

/** A 3x3 'same' convolution (NHWC, HWIO) and its two gradients for dy, in float64. */
function conv64(x: Float64Array, w: Float64Array, dy: Float64Array,
  g: { n: number; size: number; ci: number; co: number; stride: number; out: number }): Float64Array[] {
  const { n, size, ci, co, stride, out } = g;
  const pad = Math.floor((Math.max((out - 1) * stride + 3 - size, 0)) / 2);
  const y = new Float64Array(n * out * out * co), dx = new Float64Array(x.length), dw = new Float64Array(w.length);
  for (let b = 0; b < n; b++) for (let oh = 0; oh < out; oh++) for (let ow = 0; ow < out; ow++) {
    for (let kh = 0; kh < 3; kh++) for (let kw = 0; kw < 3; kw++) {
      const ih = oh * stride + kh - pad, iw = ow * stride + kw - pad;
      if (ih < 0 || iw < 0 || ih >= size || iw >= size) continue;
      for (let c = 0; c < ci; c++) {
        const xi = ((b * size + ih) * size + iw) * ci + c;
        for (let o = 0; o < co; o++) {
          const yi = ((b * out + oh) * out + ow) * co + o, wi = ((kh * 3 + kw) * ci + c) * co + o;
          y[yi] += x[xi] * w[wi];
          dx[xi] += dy[yi] * w[wi];
          dw[wi] += x[xi] * dy[yi];
        }
      }
    }
  }
  return [y, dx, dw];
}

describe.skipIf(!!unavailable)('bf16 mixed precision (native backend)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'native', log: false });
  });
  afterAll(() => setPrecision('fp32'));

  it.each([
    { label: '16 -> 16 channels, batch 5 (the blocked layout, chunks of 4 + 1)', n: 5, size: 8, ci: 16, co: 16, stride: 1 },
    { label: '3 -> 8 channels, batch 4', n: 4, size: 8, ci: 3, co: 8, stride: 1 },
    { label: '8 -> 16 channels, stride 2, batch 3', n: 3, size: 8, ci: 8, co: 16, stride: 2 },
  ])('conv forward and input gradient equal float64 on bf16-rounded inputs, the filter gradient float64 on f32 ones: $label', ({ n, size, ci, co, stride }) => {
    const x = seeded([n, size, size, ci], 1), w = seeded([3, 3, ci, co], 2);
    const out = Math.ceil(size / stride);
    const dy = seeded([n, out, out, co], 3);
    const run = () => tf.tidy(() => {
      const [xt, wt, dyt] = [tf.tensor4d(x, [n, size, size, ci]), tf.tensor4d(w, [3, 3, ci, co]), tf.tensor4d(dy, [n, out, out, co])];
      const conv = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, 'same');
      const [dx, dw] = tf.grads(conv)([xt, wt], dyt);
      return [conv(xt, wt), dx, dw].map((t) => t.dataSync() as Float32Array);
    });
    const geometry = { n, size, ci, co, stride, out };
    const rounded = conv64(bf16Array(x), bf16Array(w), bf16Array(dy), geometry);
    const exact = conv64(Float64Array.from(x), Float64Array.from(w), Float64Array.from(dy), geometry);
    // The filter gradient stays f32 in bf16 mode (kernels.cc): its reference is the unrounded one.
    const expected = [rounded[0], rounded[1], exact[2]];
    setPrecision('bf16');
    const got = run();
    setPrecision('fp32');
    const f32 = run();
    ['forward', 'input gradient', 'filter gradient'].forEach((pass, i) => {
      expect(relativeError(got[i], expected[i]), pass).toBeLessThan(KERNEL_TOLERANCE);
    });
    // fp32 computes forward and input gradient on unrounded inputs: measurably another result, so the switch is real.
    for (const i of [0, 1]) expect(relativeError(f32[i], expected[i]), `pass ${i} (fp32)`).toBeGreaterThan(1e-4);
    expect(relativeError(f32[2], got[2]), 'filter gradient: f32 in both modes').toBeLessThan(KERNEL_TOLERANCE);
  });

  it('loss and every gradient of a training step match PyTorch float64 with bf16-emulating convolutions', () => {
    setPrecision('bf16');
    convolutionImplementations(true);
    const net = networkWithFixtureWeights();
    const { loss, grads } = lossAndGrads(net, 0);
    const used = Object.keys(convolutionImplementations(true));
    setPrecision('fp32');
    // Every convolution pass ran a bf16 kernel: not a silent fp32 run.
    expect(used.length).toBeGreaterThan(0);
    // Every forward and input-gradient pass ran a bf16 kernel (the filter gradient runs f32 by design).
    expect(used.some((impl) => /bf16/.test(impl))).toBe(true);
    expect(Math.abs(loss - fixture.loss) / fixture.loss).toBeLessThan(2 * Math.abs(fixture.bf16.loss - fixture.loss) / fixture.loss + CHAIN_MARGIN);
    let worst = { name: '', vsFloat64: 0, emulationVsFloat64: 0 };
    for (const [name, g] of grads) {
      const values = g.dataSync();
      const vsFloat64 = relativeError(values, fixture.grads[name]);
      const emulationVsFloat64 = relativeError(fixture.bf16.grads[name], fixture.grads[name]);
      expect(vsFloat64, `${name} against float64`).toBeLessThan(2 * emulationVsFloat64 + CHAIN_MARGIN);
      if (vsFloat64 > worst.vsFloat64) worst = { name, vsFloat64, emulationVsFloat64 };
    }
    console.log(`[bf16] largest gradient error against float64 ${worst.vsFloat64.toExponential(2)} (${worst.name}; the bf16 emulation's: ${worst.emulationVsFloat64.toExponential(2)})`);
    // bf16 is really another computation than fp32 (a no-op switch would sit at fp32's 1e-6 from float64).
    expect(relativeError(grads.get('backbone/stem/conv')!.dataSync(), fixture.grads['backbone/stem/conv'])).toBeGreaterThan(1e-3);
    tf.dispose([...grads.values()]);
    net.dispose();
  });

  it('the loss trajectory of a short run in bf16 follows fp32 (every epoch within 2% of the starting loss), and the run records bf16', async () => {
    const dataset = classColouredDataset('bf16-trajectory', { classes: 4, trainPerClass: 24, testPerClass: 4, size: 16 });
    const trajectory = async (precision: 'fp32' | 'bf16') => {
      const losses: number[] = [];
      const options: RunOptions = {
        dataset, scenario: { initial: 4, increment: 4 }, method: 'finetune', seed: 3, precision,
        backbone: { kind: 'resnet32', width: 0.5, blocksPerStage: 1 }, epochs: 6, initEpochs: 6, batchSize: 16,
        optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 5e-4 }, schedule: { kind: 'constant' }, quiet: true,
        onProgress: (e) => {
          if (e.type === 'epoch') losses.push(e.loss);
        },
      };
      const run = await createRun(options);
      try {
        expect(run.state.engine.precision).toBe(precision);
        await run.runAll();
      } finally {
        run.dispose();
      }
      return losses;
    };
    const fp32 = await trajectory('fp32');
    const bf16 = await trajectory('bf16');
    console.log(`[bf16] epoch losses fp32 ${fp32.map((l) => l.toFixed(4)).join(' ')} | bf16 ${bf16.map((l) => l.toFixed(4)).join(' ')}`);
    expect(bf16).toHaveLength(fp32.length);
    // It trains (the loss falls), and stays on fp32's path.
    expect(bf16.at(-1)!).toBeLessThan(0.8 * bf16[0]);
    // Two rounding schemes drift apart like two seeds do, slowly: 2% of the starting loss, epoch by epoch.
    for (let i = 0; i < fp32.length; i++) expect(Math.abs(bf16[i] - fp32[i]) / fp32[0], `epoch ${i + 1}`).toBeLessThan(0.02);
  });
});

describe.skipIf(!!unavailable)('bf16 where the CPU cannot run it', () => {
  it('oneDNN capped below avx512_core_bf16 (DNNL_MAX_CPU_ISA=AVX512_CORE): a clear error naming the ISA, never a silent fp32 run', async () => {
    const probe = async (env: Record<string, string>) => {
      const { stdout } = await execa('npx', ['tsx', PROBE, 'bf16'], { cwd: path.join(__dirname, '..'), env });
      return JSON.parse(stdout.trim().split('\n').at(-1)!) as { ok: boolean; isa: string; error?: string; precision?: string };
    };
    const capped = await probe({ DNNL_MAX_CPU_ISA: 'AVX512_CORE' });
    expect(capped.isa).toBe('avx512_core');
    expect(capped.ok).toBe(false);
    expect(capped.error).toMatch(/bf16 precision needs oneDNN's avx512_core_bf16 ISA/);
    expect(capped.error).toMatch(/effective ISA here is avx512_core \(capped by DNNL_MAX_CPU_ISA=AVX512_CORE\)/);
    const full = await probe({});
    expect(full).toMatchObject({ ok: true, precision: 'bf16' });
  }, 60_000);
});

describe('bf16 on another backend', () => {
  it('setPrecision names the backend it needs', async () => {
    const { stdout } = await execa('npx', ['tsx', '-e',
      "import { initBackend, setPrecision } from './kernel-lib/backend/index'; (async () => { await initBackend({ backend: 'cpu', log: false }); try { setPrecision('bf16'); console.log('no error'); } catch (e) { console.log(e.message); } })();"],
      { cwd: path.join(__dirname, '..') });
    expect(stdout).toMatch(/bf16 precision runs on the native backend only; the active backend is cpu/);
  }, 60_000);
});
