/**
 * Subprocess probe for test/grid.test.ts: checks a row planned for the engine in argv[2] (JSON) against the engine
 * this process starts, and prints one JSON line, { ok, isa } or { ok: false, error }. A fresh process, because oneDNN
 * reads its ISA cap once, when the engine starts.
 */
import { checkRowEngine } from '../../kernel-lib/grid/row-runner';
import { engineIdentity } from '../../kernel-lib/train/config';

const engine = JSON.parse(process.argv[2]);
const row = { index: 0, name: 'probe_s1', spec: { engine } };
try {
  await checkRowEngine(row as never);
  console.log(JSON.stringify({ ok: true, isa: engineIdentity().isa }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, error: (err as Error).message }));
}
