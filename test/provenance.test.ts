import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { treeDirty } from '../kernel-lib/grid/provenance';
import { repoRoot } from '../kernel-lib/paths';

describe("a result's provenance", () => {
  it('counts code as dirty, but not result files written by this grid or by other grids beside it', () => {
    const root = repoRoot();
    const store = path.join(root, 'reproductions', 'results', 'provenance-test', 'embedded', 'exp-a');
    const sibling = path.join(root, 'reproductions', 'results', 'provenance-test', 'embedded', 'exp-b', 'runs');
    const code = path.join(root, 'kernel-lib', `provenance-test-${process.pid}.ts`);
    const before = treeDirty(store);
    try {
      fs.mkdirSync(path.join(store, 'runs'), { recursive: true });
      fs.mkdirSync(sibling, { recursive: true });
      fs.writeFileSync(path.join(store, 'runs', 'row.json'), '{}');
      fs.writeFileSync(path.join(sibling, 'row.json'), '{}');
      expect(treeDirty(store)).toBe(before);
      fs.writeFileSync(code, '// not committed\n');
      expect(treeDirty(store)).toBe(true);
    } finally {
      fs.rmSync(path.join(root, 'reproductions', 'results', 'provenance-test'), { recursive: true, force: true });
      fs.rmSync(code, { force: true });
    }
  });
});
