/**
 * The PyTorch reference methods (reproductions/reference/*_torch.py) and the side-by-side runner that feeds them
 * kdcl's images and resolved configs: a whole tiny run of every method on both sides, and the PyTorch helpers
 * that decide a method's semantics (IL2A's pair columns and ISDA logits, PRAKA's reminiscent prototypes) against
 * hand-computed values. Needs Debian's python3-torch; skips, saying so, without it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, execaSync } from 'execa';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');
const REFERENCE = path.join(ROOT, 'reproductions/reference');
const PYTHON = '/usr/bin/python3';
const hasTorch = (() => {
  try {
    execaSync(PYTHON, ['-c', 'import torch']);
    return true;
  } catch {
    return false;
  }
})();
const why = hasTorch ? '' : ' (skipped: /usr/bin/python3 cannot import torch; apt-get install python3-torch)';

/** Runs Python in the reference folder and returns its stdout parsed as JSON. */
async function python(code: string): Promise<unknown> {
  const { stdout } = await execa(PYTHON, ['-c', code], { cwd: REFERENCE });
  return JSON.parse(stdout);
}

describe.skipIf(!hasTorch)(`PyTorch reference methods${why}`, () => {
  it('IL2A: each unordered pair of 5 classes has its own column in 0..9, the same either way round', async () => {
    const columns = (await python(
      'import json, numpy as np; from il2a_torch import pair_index\n' +
        'pairs = [(a, b) for a in range(5) for b in range(5) if a != b]\n' +
        'print(json.dumps([[a, b, int(pair_index(np.array([a]), np.array([b]), 5)[0])] for a, b in pairs]))',
    )) as [number, number, number][];
    const byPair = new Map(columns.map(([a, b, c]) => [`${Math.min(a, b)},${Math.max(a, b)}`, c]));
    for (const [a, b, c] of columns) expect(byPair.get(`${Math.min(a, b)},${Math.max(a, b)}`)).toBe(c);
    expect([...new Set(byPair.values())].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(byPair.get('0,1')).toBe(0);
    expect(byPair.get('3,4')).toBe(9);
  });

  it('IL2A: ISDA logits add (ratio / 2) (w_j - w_c)^T Sigma_c (w_j - w_c)', async () => {
    // w_0 = (1, 0), w_1 = (0, 2); class 0 with Sigma_0 = diag(1, 3), ratio 2:
    // j = 0: 0;  j = 1: d = (-1, 2), d^T Sigma d = 1 + 12 = 13, times ratio / 2 = 13.
    const out = (await python(
      'import json, torch; from il2a_torch import isda_logits\n' +
        'w = torch.tensor([[1., 0.], [0., 2.]]); cov = torch.stack([torch.diag(torch.tensor([1., 3.])), torch.eye(2)])\n' +
        'print(json.dumps(isda_logits(torch.tensor([[0.5, -1.]]), w, torch.tensor([0]), cov, 2.0).tolist()))',
    )) as number[][];
    expect(out[0][0]).toBeCloseTo(0.5, 6);
    expect(out[0][1]).toBeCloseTo(-1 + 13, 5);
  });

  it("PRAKA: a reminiscent prototype is (1 + l) mu - l f or (1 - l) mu + l f of its class's prototype", async () => {
    // One old class, mu = (2, 4), every feature row f = (1, 1): the two forms for the drawn lambda l.
    const out = (await python(
      'import json, numpy as np, torch; from praka_torch import reminiscent_prototypes\n' +
        "cfg = {'reminiscenceAlpha': 0.5, 'lambdaCap': 0.6, 'extrapolationProbability': 0.5}\n" +
        'p, c = reminiscent_prototypes([torch.tensor([2., 4.])], torch.ones(8, 2), 200, cfg, np.random.default_rng(1))\n' +
        'print(json.dumps({"p": p.tolist(), "c": c.tolist()}))',
    )) as { p: number[][]; c: number[] };
    expect(new Set(out.c)).toEqual(new Set([0]));
    let away = 0;
    for (const [x, y] of out.p) {
      // Extrapolation: x = 2 + l, y = 4 + 3l (l = x - 2 in [0, 0.6]); interpolation: x = 2 - l, y = 4 - 3l.
      const l = Math.abs(x - 2);
      expect(l).toBeLessThanOrEqual(0.6 + 1e-6);
      expect(Math.abs(y - 4)).toBeCloseTo(3 * l, 5);
      if (x > 2) away++;
    }
    expect(away).toBeGreaterThan(60); // probability 1/2 over 200 draws
    expect(away).toBeLessThan(140);
  });

  it('side by side: every method trains on both sides and reports a full accuracy matrix', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-reference-'));
    try {
      const methods = ['pass', 'finetune', 'bic', 'praka', 'il2a'];
      const { stdout } = await execa('npx', ['tsx', 'reproductions/reference/side-by-side.ts', '--classes', '20', '--train-per-class', '6',
        '--test-per-class', '5', '--init-epochs', '1', '--epochs', '1', '--width', '0.25', '--blocks', '1', '--seeds', '1993',
        '--methods', methods.join(','), '--threads', '1', '--out', out], { cwd: ROOT });
      const files = fs.readdirSync(path.join(out, 'results'));
      expect(files).toHaveLength(2 * methods.length);
      for (const file of files) {
        const { r } = JSON.parse(fs.readFileSync(path.join(out, 'results', file), 'utf8')) as { r: { matrix: number[][]; last: number; aia: number } };
        expect(r.matrix.map((row) => row.length), file).toEqual([1, 2, 3, 4]);
        for (const x of [...r.matrix.flat(), r.last, r.aia]) expect(x >= 0 && x <= 100, file).toBe(true);
      }
      for (const method of methods) {
        for (const impl of ['kdcl', 'pytorch']) expect(stdout).toMatch(new RegExp(`\\| ${method} \\| ${impl} \\| 1993 \\|`));
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  }, 600_000);
});
