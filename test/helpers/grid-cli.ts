/** Runs `reproductions/grid.ts` as a user would (`npm run grid -- ...`), and reads a store's row results back. */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../../kernel-lib/paths';

export const ROOT = repoRoot();
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');

export async function grid(args: string[], env: Record<string, string> = {}) {
  return execa(TSX, [path.join(ROOT, 'reproductions', 'grid.ts'), ...args], { cwd: ROOT, env, reject: false, all: true });
}

/** The numbers of every row result in a store (what "digit for digit" compares), by row name. */
export function storeNumbers(store: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const dir = path.join(store, 'runs');
  for (const name of fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    const r = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
    out[name] = { status: r.status, aia: r.aia, last: r.last, accuracies: r.accuracies, accuracyMatrix: r.accuracyMatrix, cnn: r.cnn, rowId: r.row?.id };
  }
  return out;
}
