/**
 * Notebooks: the committed experiment notebooks are what scripts/make-notebooks.ts generates (tslab kernel, no
 * outputs), and one experiment notebook runs end to end at the ci profile through Debian's Jupyter (nbclient) on
 * the tslab kernel: no error outputs, and the outputs hold the table (HTML), the charts (SVG) and the verdict.
 * Skipped, with the reason, where Python's nbclient or the tslab package is missing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXPERIMENTS } from '../kernel-lib/experiments/index';
import { allNotebooks, matchesDefinition, notebookJson } from '../scripts/make-notebooks';
import { ROOT, executeNotebook, notebookOutputs, notebookRunner } from '../reproductions/notebook-exec';

const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('committed notebooks', () => {
  it('are generated from their definitions, on the tslab kernel; outputs, where committed, hold no error', async () => {
    const defs = await allNotebooks();
    for (const experiment of Object.values(EXPERIMENTS)) expect(defs.map((d) => d.file)).toContain(experiment.notebook);
    for (const def of defs) {
      const file = path.join(ROOT, 'notebooks', def.file);
      expect(fs.existsSync(file), `${def.file} is missing: run npx tsx scripts/make-notebooks.ts`).toBe(true);
      const text = fs.readFileSync(file, 'utf8');
      expect(matchesDefinition(text, def), `${def.file} differs from its definition: run npx tsx scripts/make-notebooks.ts`).toBe(true);
      expect(matchesDefinition(notebookJson(def), def)).toBe(true);
      const nb = JSON.parse(text);
      expect(nb.metadata.kernelspec).toMatchObject({ name: 'tslab', language: 'typescript' });
      const errors = nb.cells.flatMap((cell: { outputs?: { output_type: string; ename?: string }[] }) => cell.outputs ?? []).filter((o: { output_type: string }) => o.output_type === 'error');
      expect(errors, def.file).toEqual([]);
    }
  });
});

const runner = notebookRunner();
const skipReason = 'reason' in runner ? runner.reason : null;

describe('headless execution on the tslab kernel', () => {
  it.skipIf(skipReason !== null)(
    `runs notebook 03 (standalone KD losses) at the ci profile with nbclient${skipReason ? ` [skipped: ${skipReason}]` : ''}`,
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-nb-'));
      tmpDirs.push(dir);
      const outDir = path.join(dir, 'out');
      const executed = path.join(dir, 'executed.ipynb');
      const source = path.join(ROOT, 'notebooks', EXPERIMENTS['standalone-kd'].notebook);
      const result = await executeNotebook(source, executed, {
        python: (runner as { python: string }).python,
        env: { KDCL_RETRAIN: '1', KDCL_PROFILE: 'ci', KDCL_OUT: outDir, KDCL_FRESH: '1' },
        stdio: 'pipe',
      });
      const outputs = notebookOutputs(executed);
      const streams = outputs.filter((o) => o.output_type === 'stream').map((o) => [o.text].flat().join('')).join('\n');
      expect(result.errors, streams).toEqual([]);
      expect(result.exitCode, `${result.stderr}\n${streams}`).toBe(0);

      const data = outputs.map((o) => o.data ?? {});
      const html = data.map((d) => [d['text/html'] ?? ''].flat().join('')).find((h) => h.includes('<table'));
      expect(html, 'no HTML table in the outputs').toBeTruthy();
      expect(html).toContain('Feature cosine');
      const svgs = data.map((d) => [d['image/svg+xml'] ?? ''].flat().join('')).filter((s) => s.startsWith('<svg'));
      expect(svgs.length).toBeGreaterThanOrEqual(2);
      expect(data.some((d) => 'application/vnd.vegalite.v5+json' in d)).toBe(true);
      const verdict = data.map((d) => [d['text/markdown'] ?? ''].flat().join('')).find((m) => m.startsWith('**Verdict.**'));
      expect(verdict).toMatch(/claim/);
      const claims = data.map((d) => [d['text/markdown'] ?? ''].flat().join('')).find((m) => m.startsWith("### The survey's claims"));
      expect(claims, 'no claims table in the outputs').toMatch(/\| Among logit losses, L2 > KL > CE\. \| \*\*(holds|fails|undecided)\*\*/);

      const results = JSON.parse(fs.readFileSync(path.join(outDir, 'results.json'), 'utf8'));
      expect(results.profile).toBe('ci');
      expect(results.runs.map((r: { status: string }) => r.status)).toEqual(Array(6).fill('done'));
      expect(fs.readFileSync(path.join(outDir, 'REPORT.md'), 'utf8')).toContain('# KD losses on their own');
      expect(fs.readdirSync(path.join(outDir, 'figures')).sort()).toEqual(['accuracy-curves.svg', 'aia-last.svg']);
    },
    600_000,
  );
});
