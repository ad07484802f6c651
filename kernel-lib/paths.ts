/** Where things live in a checkout, for code that runs as CommonJS (tslab, tsx) and under vitest alike. */
import fs from 'node:fs';
import path from 'node:path';

declare const __dirname: string | undefined;

function findUp(start: string): string | null {
  for (let dir = path.resolve(start); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        if (JSON.parse(fs.readFileSync(manifest, 'utf8')).name === 'kdcl') return dir;
      } catch {
        // an unreadable package.json is not ours; keep walking
      }
    }
    if (path.dirname(dir) === dir) return null;
  }
}

let cached: string | undefined;

/** The kdcl checkout's root folder (the one holding package.json, kernel-lib/, data/). */
export function repoRoot(): string {
  if (cached) return cached;
  // This file sits in kernel-lib/, one level below the root.
  const root = (typeof __dirname === 'string' ? findUp(__dirname) : null) ?? findUp(process.cwd());
  if (!root) throw new Error(`cannot find the kdcl checkout from ${process.cwd()}: run from inside the repository`);
  cached = root;
  return root;
}

/** Default cache folder for decoded datasets and extracted archives (KDCL_CACHE_DIR overrides). */
export function cacheDir(): string {
  return process.env.KDCL_CACHE_DIR ? path.resolve(process.env.KDCL_CACHE_DIR) : path.join(repoRoot(), '.cache');
}
