/** Where a result was computed: the git commit and whether the tree was dirty (the results store left out). */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../paths';

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
 * Whether the working tree differs from HEAD, leaving out the results store (its own result files are written while
 * the grid runs, and are committed as they land). null when git cannot tell.
 */
export function treeDirty(storeDir: string): boolean | null {
  const relative = path.relative(repoRoot(), storeDir);
  const inside = relative && !relative.startsWith('..') && !path.isAbsolute(relative);
  const status = git(['status', '--porcelain', '--', '.', ...(inside ? [`:(exclude)${relative}`] : [])]);
  return status === null ? null : status.length > 0;
}

export function hostName(): string {
  return os.hostname();
}

export function cpuDescription(): { model: string; isaCap: string | null } {
  return { model: os.cpus()[0]?.model ?? 'unknown', isaCap: process.env.DNNL_MAX_CPU_ISA ?? null };
}
