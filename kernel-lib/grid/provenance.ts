/** Where a result was computed: the git commit and whether the tree was dirty (the results store left out). */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../paths';

/** Where the committed results of every profile live (experiments/results.ts resultsStore). */
const RESULTS_ROOT = path.join('reproductions', 'results');

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: repoRoot(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null; // not a git checkout (a copied tree, a container image), or no git
  }
}

export function gitCommit(): string | null {
  return git(['rev-parse', 'HEAD']);
}

/**
 * Whether the code differs from HEAD: the working tree, leaving out the results store and the committed results
 * (reproductions/results/): result files of this and the other grids are written while grids run and committed as
 * they land, and are not code. null when git cannot tell.
 */
export function treeDirty(storeDir: string): boolean | null {
  const excluded = [path.relative(repoRoot(), storeDir), RESULTS_ROOT]
    .filter((p) => p && !p.startsWith('..') && !path.isAbsolute(p))
    .map((p) => `:(exclude)${p}`);
  const status = git(['status', '--porcelain', '--', '.', ...excluded]);
  return status === null ? null : status.length > 0;
}

export function hostName(): string {
  return os.hostname();
}

export function cpuDescription(): { model: string; isaCap: string | null } {
  return { model: os.cpus()[0]?.model ?? 'unknown', isaCap: process.env.DNNL_MAX_CPU_ISA ?? null };
}
