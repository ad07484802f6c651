import { describe, expect, it } from 'vitest';
import { describeCost, gridCost, rowCpuSeconds } from '../kernel-lib/grid/cost';
import type { RowStatus } from '../kernel-lib/grid/store';

const row = (name: string, runId: string, method: string, scenario = 'b0-10') => ({ name, spec: { run: { id: runId, method, scenario } } });
const done = (cpuSeconds: number, seconds: number, sameRunAs?: object) =>
  ({ state: 'done', result: { cpuSeconds, seconds, provenance: sameRunAs ? { sameRunAs } : {} } });
const pending = { state: 'pending', tasksDone: 0 };

describe('grid cost', () => {
  it('measures finished rows, scales the rest from the same run or else the same method and scenario, and names what it cannot', () => {
    const rows = [
      { row: row('lwf_b0-10_s1', 'lwf_b0-10', 'lwf'), status: done(3600, 4000) },
      { row: row('lwf_b0-10_s2', 'lwf_b0-10', 'lwf'), status: done(5400, 6000) },
      { row: row('lwf_b0-10_s3', 'lwf_b0-10', 'lwf'), status: pending }, // same run: (3600 + 5400) / 2 = 4500 s
      { row: row('lwf_no-kd_b0-10_s1', 'lwf_no-kd_b0-10', 'lwf'), status: pending }, // same method and scenario: 4500 s
      { row: row('lwf_b50-10_s1', 'lwf_b50-10', 'lwf', 'b50-10'), status: pending }, // nothing like it
      { row: row('icarl_b0-10_s1', 'icarl_b0-10', 'icarl'), status: done(7200, 7200, { experiment: 'main-comparison' }) },
    ] as unknown as RowStatus[];
    // lwf_b0-10_s3's run is planned by the main comparison too: it runs once, for both grids.
    const cost = gridCost(rows, new Map([['lwf_b0-10_s3', 'main-comparison']]));
    expect(cost.finished).toEqual({ rows: 2, cpuHours: 2.5, wallHours: 10000 / 3600, partial: [] });
    expect(cost.shared).toBe(1);
    expect(cost.estimated).toEqual({ rows: 2, cpuHours: 2.5 });
    expect(cost.plannedBeside).toEqual([{ experiment: 'main-comparison', rows: 1, cpuHours: 1.25 }]);
    expect(cost.unestimated).toEqual(['lwf_b50-10_s1']);
    expect(describeCost(cost)).toBe('cost: finished rows: 2, 2.50 CPU-hours measured (2.78 h of row wall time); 1 recorded from another ' +
      "experiment's identical runs, at no cost here; 2 more: about 2.5 CPU-hours, scaled from finished rows of the same run or method and scenario " +
      '(of which 1, about 1.3 CPU-hours, main-comparison plans too: each runs once, for both); ' +
      '1 with nothing finished to scale from (lwf_b50-10_s1)');
  });

  it("counts a resumed row's earlier tasks from its checkpoint, and says which rows it cannot", () => {
    // Resumed after 2 of 3 tasks: this session 100 CPU s, the earlier tasks 30 + 50 (kept in the checkpoint).
    expect(rowCpuSeconds({ cpuSeconds: 100, resumedTasks: 2, taskCpuSeconds: [30, 50, 100] })).toBe(180);
    expect(rowCpuSeconds({ cpuSeconds: 100, resumedTasks: 0 })).toBe(100);
    expect(rowCpuSeconds({ cpuSeconds: 100, resumedTasks: 2, taskCpuSeconds: [null, null, 90] })).toBeNull();
    const rows = [
      { row: row('lwf_b0-10_s1', 'lwf_b0-10', 'lwf'), status: { state: 'done', result: { cpuSeconds: 3600, seconds: 3600, resumedTasks: 1, taskCpuSeconds: [3600, 3600] } } },
      { row: row('lwf_b0-10_s2', 'lwf_b0-10', 'lwf'), status: { state: 'done', result: { cpuSeconds: 1800, seconds: 1800, resumedTasks: 1 } } },
      { row: row('lwf_b0-10_s3', 'lwf_b0-10', 'lwf'), status: pending },
    ] as unknown as RowStatus[];
    const cost = gridCost(rows);
    // 7200 s + 1800 s (only its last session) measured; the estimate scales from the complete row alone.
    expect(cost.finished).toMatchObject({ rows: 2, cpuHours: 2.5, partial: ['lwf_b0-10_s2'] });
    expect(cost.estimated).toEqual({ rows: 1, cpuHours: 2 });
    expect(describeCost(cost)).toContain('1 of them resumed before tasks kept their CPU time, only their last session counted (lwf_b0-10_s2)');
  });
});
