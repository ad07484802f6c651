/**
 * Subprocess probe for test/bf16.test.ts: starts the native backend, asks for a precision (argv[2]) and prints one
 * JSON line, { ok, isa, precision } or { ok: false, error }. Run with DNNL_MAX_CPU_ISA set to see what a CPU
 * without bf16 gets.
 */
import { initBackend, setPrecision } from '../../kernel-lib/backend/index';
import { engineIdentity } from '../../kernel-lib/train/config';

await initBackend({ backend: 'native', log: false });
try {
  setPrecision(process.argv[2] as never);
  const e = engineIdentity();
  console.log(JSON.stringify({ ok: true, isa: e.isa, precision: e.precision }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, isa: engineIdentity().isa, error: (err as Error).message }));
}
