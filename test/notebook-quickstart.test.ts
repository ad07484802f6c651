/**
 * Notebook 00 (quickstart) end to end through Debian's Jupyter: nbclient runs it on kdcl's tslab kernel (the
 * shared runner in reproductions/notebook-exec.ts), exactly as committed. Checks: no error output, the accuracy
 * matrix and forgetting tables (HTML), the charts (SVG with a vega-lite bundle beside it), and the training lines.
 * Skipped, with the reason, where Python's nbclient or the tslab package is missing. About two minutes on 2 cores.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, executeNotebook, notebookOutputs, notebookRunner } from '../reproductions/notebook-exec';

const runner = notebookRunner();
const skipReason = 'reason' in runner ? runner.reason : null;
const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

const text = (value: unknown) => [value ?? ''].flat().join('');

describe('notebook 00-quickstart', () => {
  it.skipIf(skipReason !== null)(
    `runs on the tslab kernel with no errors and shows tables and charts${skipReason ? ` [skipped: ${skipReason}]` : ''}`,
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-nb00-'));
      tmpDirs.push(dir);
      const executed = path.join(dir, '00-quickstart.executed.ipynb');
      const result = await executeNotebook(path.join(ROOT, 'notebooks', '00-quickstart.ipynb'), executed, {
        python: (runner as { python: string }).python,
        stdio: 'pipe',
      });
      const outputs = notebookOutputs(executed);
      const streams = outputs.filter((o) => o.output_type === 'stream').map((o) => text(o.text)).join('');
      expect(result.errors, streams.slice(-4000)).toEqual([]);
      expect(result.exitCode, `${result.stderr}\n${streams.slice(-4000)}`).toBe(0);
      // tslab reports compile and runtime errors on stderr rather than as error outputs. One message is not the
      // notebook's: tslab's TypeScript file watcher throws "Unexpected pending rebuildTimer" (and logs it, harmlessly)
      // when files under the kernel's folder (the checkout) change twice in quick succession, e.g. other processes
      // writing there while a cell runs.
      const stderr = outputs
        .filter((o) => o.output_type === 'stream' && o.name === 'stderr')
        .map((o) => text(o.text))
        .join('')
        .replace(/UncaughtException: Error: Unexpected pending rebuildTimer\n(?:[ \t]+at .*(?:\n|$))*/g, '');
      expect(stderr).not.toMatch(/error|Error \d|TS\d{4}/i);

      const data = outputs.map((o) => (o.data ?? {}) as Record<string, unknown>);
      const tables = data.map((d) => text(d['text/html'])).filter((h) => h.includes('<table'));
      expect(tables.some((h) => h.includes('all seen (%)')), 'accuracy matrix table').toBe(true);
      expect(tables.some((h) => h.includes('forgetting (points)')), 'forgetting table').toBe(true);
      expect(tables.some((h) => h.includes('AIA (%)')), 'summary table').toBe(true);
      const charts = data.filter((d) => text(d['image/svg+xml']).startsWith('<svg'));
      // accuracy matrix after tasks 0, 1, 2 + curves after 1 and 2 + forgetting + task histogram
      expect(charts.length).toBeGreaterThanOrEqual(7);
      for (const chart of charts) expect(chart['application/vnd.vegalite.v5+json']).toBeTruthy();
      expect(charts.some((d) => text(d['image/svg+xml']).includes('Forgetting'))).toBe(true);
      // It trained three tasks (the trainer's per-epoch lines) and printed their accuracies.
      for (const t of [0, 1, 2]) expect(streams).toMatch(new RegExp(`after task ${t}: \\d+\\.\\d%`));
    },
    420_000,
  );
});
