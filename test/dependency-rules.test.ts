/**
 * kdcl's import rules (.dependency-cruiser.cjs), checked with dependency-cruiser: no import circles (type-only
 * imports count), no method file importing another method file. A planted circle and a planted method-to-method
 * import show that the check can fail.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');
const DEPCRUISE = path.join(ROOT, 'node_modules', '.bin', 'depcruise');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

async function violations(cwd: string): Promise<Violation[]> {
  const config = path.join(ROOT, '.dependency-cruiser.cjs');
  const result = await execa(DEPCRUISE, ['kernel-lib', '--config', config, '--output-type', 'json'], { cwd, reject: false });
  const report = JSON.parse(result.stdout) as { summary: { violations: Violation[] } };
  return report.summary.violations;
}

const planted = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-deps-'));
afterAll(() => fs.rmSync(planted, { recursive: true, force: true }));

describe('import rules', () => {
  it('kernel-lib has no import circle and no method file imports another', async () => {
    const found = await violations(ROOT);
    expect(found.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`)).toEqual([]);
  }, 120_000);

  it('fails on a planted type-only circle and on a method importing another method', async () => {
    const write = (file: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(planted, file)), { recursive: true });
      fs.writeFileSync(path.join(planted, file), text);
    };
    fs.copyFileSync(path.join(ROOT, 'tsconfig.json'), path.join(planted, 'tsconfig.json'));
    write('kernel-lib/train/a.ts', "import type { B } from './b';\nexport interface A { b: B }\n");
    write('kernel-lib/train/b.ts', "import type { A } from './a';\nexport interface B { a?: A }\n");
    write('kernel-lib/methods/types.ts', 'export interface Method { name: string }\n');
    write('kernel-lib/methods/shared/heads.ts', 'export const expand = 1;\n');
    write('kernel-lib/methods/lwf.ts', "import type { Method } from './types';\nimport { expand } from './shared/heads';\nexport const lwf: Method = { name: 'lwf' + expand };\n");
    write('kernel-lib/methods/praka.ts', "import { lwf } from './lwf';\nexport const praka = lwf;\n");
    const found = await violations(planted);
    const rules = found.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();
    // The circle is reported once, at the edge that closes it.
    expect(rules).toHaveLength(2);
    expect(rules[0]).toMatch(/^no-circular: kernel-lib\/train\/[ab]\.ts -> kernel-lib\/train\/[ab]\.ts$/);
    expect(rules[1]).toBe('no-method-to-method: kernel-lib/methods/praka.ts -> kernel-lib/methods/lwf.ts');
  }, 120_000);
});
