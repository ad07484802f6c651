/** Where things live in a checkout, for code that runs as CommonJS (tslab, tsx) and under vitest alike. */
import fs from 'node:fs';
import { createRequire } from 'node:module';
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
  // As CommonJS (tslab) and under vitest __dirname is this file's folder; as an ES module (tsx scripts) there is
  // none, and kernel-lib avoids import.meta so that tslab can compile it, so start from the running script.
  const starts = [typeof __dirname === 'string' ? __dirname : null, process.argv[1] ? path.dirname(path.resolve(process.argv[1])) : null, process.cwd()];
  let root: string | null = null;
  for (const start of starts) if (!root && start) root = findUp(start);
  if (!root) throw new Error(`cannot find the kdcl checkout from ${process.cwd()}: run from inside the repository`);
  cached = root;
  return root;
}

/** A require() that resolves packages from the checkout (works where `require` itself does not: ES modules). */
export function repoRequire(): NodeJS.Require {
  return createRequire(path.join(repoRoot(), 'package.json'));
}

/** Default cache folder for decoded datasets and extracted archives (KDCL_CACHE_DIR overrides). */
export function cacheDir(): string {
  return process.env.KDCL_CACHE_DIR ? path.resolve(process.env.KDCL_CACHE_DIR) : path.join(repoRoot(), '.cache');
}
