/**
 * Backend selection (kernel-lib/backend/index.ts): auto order, KDCL_BACKEND / option forcing, backendInfo() fields,
 * errors for unknown or unloadable names. initBackend() remembers its first result for the whole process (on
 * globalThis, so that two instances of the module agree), so every test forgets it and imports a fresh copy.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tf } from '../kernel-lib/tf';

type BackendModule = typeof import('../kernel-lib/backend/index');

const require = createRequire(import.meta.url);
const savedEnv = process.env.KDCL_BACKEND;

async function freshBackendModule(): Promise<BackendModule> {
  delete (globalThis as Record<symbol, unknown>)[Symbol.for('kdcl.backend.selection')];
  vi.resetModules();
  return import('../kernel-lib/backend/index');
}

function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

beforeEach(() => {
  delete process.env.KDCL_BACKEND;
});

afterEach(() => {
  if (savedEnv === undefined) delete process.env.KDCL_BACKEND;
  else process.env.KDCL_BACKEND = savedEnv;
  vi.restoreAllMocks();
});

describe('initBackend: automatic selection', () => {
  it('takes the first backend of the order that loads and says why each one before it was skipped', async () => {
    const { initBackend, backendInfo, BACKEND_NAMES } = await freshBackendModule();
    const info = await initBackend({ log: false });
    const order = ['tfjs-node-gpu', 'tfjs-node', 'native', 'wasm', 'cpu'] as const;
    const chosen = order.indexOf(info.name as (typeof order)[number]);
    expect(chosen, `chose ${info.name}`).toBeGreaterThanOrEqual(0);
    for (const earlier of order.slice(0, chosen)) {
      expect(typeof info.skipped[earlier], `reason for skipping ${earlier}`).toBe('string');
      expect(info.skipped[earlier]!.length).toBeGreaterThan(0);
    }
    for (const later of order.slice(chosen + 1)) expect(info.skipped[later]).toBe(`lower priority than ${info.name}`);
    expect(info.skipped.webgpu).toMatch(/only when asked for/);
    expect(info.skipped[info.name]).toBeUndefined();
    // Every other backend is accounted for.
    expect(Object.keys(info.skipped).sort()).toEqual(BACKEND_NAMES.filter((n) => n !== info.name).sort());
    expect(info.tfBackend).toBe(tf.getBackend());
    expect(info.version, 'a version string (package or library)').toMatch(/\d+\.\d+/);
    expect(Number.isInteger(info.threads) && info.threads >= 1).toBe(true);
    expect(backendInfo()).toBe(info);
  });

  it('on this machine (no tfjs-node) reports tfjs-node and tfjs-node-gpu as not installed', async () => {
    if (installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu')) return;
    const { initBackend } = await freshBackendModule();
    const info = await initBackend({ log: false });
    expect(info.skipped['tfjs-node-gpu']).toMatch(/Cannot find module|not found/i);
    expect(info.skipped['tfjs-node']).toMatch(/Cannot find module|not found/i);
  });

  it('is idempotent and prints its summary line once', async () => {
    const { initBackend, describeBackend } = await freshBackendModule();
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const first = await initBackend();
    const second = await initBackend({ backend: 'cpu' });
    expect(second).toBe(first);
    expect(log).toHaveBeenCalledTimes(1);
    const line = String(log.mock.calls[0][0]);
    expect(line).toBe(describeBackend(first));
    expect(line).toContain(`backend ${first.name}`);
    expect(line).toContain(`v${first.version}`);
    expect(line).toContain(`${first.threads} thread(s)`);
    expect(line).toContain('skipped:');
  });

  it('backendInfo() before initBackend() says to call it', async () => {
    const { backendInfo } = await freshBackendModule();
    expect(() => backendInfo()).toThrow(/initBackend/);
  });
});

describe('initBackend: forcing a backend', () => {
  it("{ backend: 'cpu' } loads cpu and marks every other backend as not tried", async () => {
    const { initBackend, BACKEND_NAMES } = await freshBackendModule();
    const info = await initBackend({ backend: 'cpu', log: false });
    expect(info).toMatchObject({ name: 'cpu', tfBackend: 'cpu', version: tf.version_core, threads: 1 });
    expect(tf.getBackend()).toBe('cpu');
    for (const other of BACKEND_NAMES.filter((n) => n !== 'cpu')) expect(info.skipped[other]).toBe('not tried: KDCL_BACKEND=cpu');
  });

  it('KDCL_BACKEND=cpu forces cpu', async () => {
    process.env.KDCL_BACKEND = 'cpu';
    const { initBackend } = await freshBackendModule();
    expect((await initBackend({ log: false })).name).toBe('cpu');
  });

  it('the option wins over KDCL_BACKEND', async () => {
    process.env.KDCL_BACKEND = 'cpu';
    const { initBackend } = await freshBackendModule();
    const info = await initBackend({ backend: 'wasm', log: false });
    expect(info.name).toBe('wasm');
  });

  it('wasm loads with its version, every core (the threaded SIMD build) and the training kernels registered', async () => {
    const { initBackend } = await freshBackendModule();
    const info = await initBackend({ backend: 'wasm', log: false });
    const wasmPackage = require('@tensorflow/tfjs-backend-wasm/package.json') as { version: string };
    const cores = Number(process.env.KDCL_THREADS) || os.availableParallelism();
    expect(info).toMatchObject({ name: 'wasm', tfBackend: 'wasm', version: wasmPackage.version, threads: Math.min(cores, 8) });
    expect(info.details?.build).toBe(cores > 1 ? 'threaded-simd' : 'simd');
    expect(tf.getBackend()).toBe('wasm');
    const { wasmGradientsRegistered } = await import('../kernel-lib/backend/wasm-gradients');
    expect(wasmGradientsRegistered()).toBe(true);
  });

  it('wasm with 2 threads computes what the 1-thread build computes (a conv, its gradients, a matmul), and the process ends', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-wasm-threads-'));
    try {
      const script = path.join(dir, 'script.mts');
      fs.writeFileSync(script, [
        `import { initBackend } from ${JSON.stringify(path.resolve('kernel-lib/backend/index.ts'))};`,
        `import { tf } from ${JSON.stringify(path.resolve('kernel-lib/tf.ts'))};`,
        `const info = await initBackend({ log: false });`,
        `const x = tf.randomNormal([8, 16, 16, 8], 0, 1, 'float32', 1);`,
        `const w = tf.randomNormal([3, 3, 8, 16], 0, 1, 'float32', 2);`,
        `const m = tf.randomNormal([64, 96], 0, 1, 'float32', 3);`,
        `const f = (a, b) => tf.sum(tf.square(tf.conv2d(a, b, 1, 'same')));`,
        `const [dx, dw] = tf.grads(f)([x, w]);`,
        `const out = { threads: info.threads, build: info.details.build, y: Array.from(tf.conv2d(x, w, 1, 'same').dataSync()),`,
        `  dx: Array.from(dx.dataSync()), dw: Array.from(dw.dataSync()), mm: Array.from(tf.matMul(m, m, false, true).dataSync()) };`,
        `console.log(JSON.stringify(out));`,
      ].join('\n'));
      const { execFileSync } = await import('node:child_process');
      const run = (threads: string) => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', script], {
        encoding: 'utf8', cwd: process.cwd(), env: { ...process.env, KDCL_BACKEND: 'wasm', KDCL_THREADS: threads }, timeout: 60_000,
      }).trim().split('\n').pop()!);
      const [one, two] = [run('1'), run('2')];
      expect([one.threads, one.build, two.threads, two.build]).toEqual([1, 'simd', 2, 'threaded-simd']);
      for (const key of ['y', 'dx', 'dw', 'mm']) {
        const scale = Math.max(...one[key].map(Math.abs));
        const largest = Math.max(...one[key].map((v: number, i: number) => Math.abs(v - two[key][i])));
        expect(largest / scale, key).toBeLessThan(1e-5);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('an unknown name is refused with the list of valid names (option or KDCL_BACKEND)', async () => {
    const { initBackend, BACKEND_NAMES } = await freshBackendModule();
    const refusal = initBackend({ backend: 'tpu' as never, log: false });
    await expect(refusal).rejects.toThrow(/'tpu' is not a backend/);
    await expect(refusal).rejects.toThrow(BACKEND_NAMES.join(', '));

    process.env.KDCL_BACKEND = 'tensorflow';
    const viaEnv = (await freshBackendModule()).initBackend({ log: false });
    await expect(viaEnv).rejects.toThrow(/KDCL_BACKEND='tensorflow' is not a backend; valid names: tfjs-node-gpu, tfjs-node, native, wasm, cpu, webgpu/);
  });

  it('a forced backend that does not load is an error, not a silent fallback; a later call may pick another', async () => {
    if (installed('@tensorflow/tfjs-node')) return;
    const { initBackend } = await freshBackendModule();
    await expect(initBackend({ backend: 'tfjs-node', log: false })).rejects.toThrow(/backend 'tfjs-node' was forced .* but did not load: .+/);
    expect((await initBackend({ backend: 'cpu', log: false })).name).toBe('cpu');
  });
});

describe('kernel-lib from a tsx script that is an ES module', () => {
  it('gets the same backend as here (kernel-lib loads its own modules without dynamic import())', async () => {
    const { initBackend } = await freshBackendModule();
    const here = await initBackend({ log: false });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-esm-'));
    try {
      const script = path.join(dir, 'script.mts');
      const backendModule = path.resolve('kernel-lib/backend/index.ts');
      fs.writeFileSync(script, [
        `import { initBackend } from ${JSON.stringify(backendModule)};`,
        `const info = await initBackend({ log: false });`,
        `console.log(JSON.stringify({ name: info.name, skipped: info.skipped }));`,
      ].join('\n'));
      const { execFileSync } = await import('node:child_process');
      const stdout = execFileSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', cwd: process.cwd() });
      const there = JSON.parse(stdout.trim().split('\n').pop()!);
      expect(there.name, JSON.stringify(there.skipped)).toBe(here.name);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
