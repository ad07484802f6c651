/**
 * Headless notebook execution on the tslab kernel, shared by `npm run reproduce` and the notebook CI test:
 * nbclient (Python) runs the notebook; the kernel is this checkout's scripts/tslab-kernel.cjs, registered in a
 * private kernel-spec folder put first on JUPYTER_PATH, so it works whether or not (and however) the user
 * registered a 'tslab' kernel.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** A Python that can run nbclient, or why there is none. */
export function findNotebookPython(): { python: string } | { reason: string } {
  const candidates = process.env.KDCL_PYTHON ? [process.env.KDCL_PYTHON] : ['python3', '/usr/bin/python3', 'python'];
  for (const python of candidates) {
    const probe = spawnSync(python, ['-c', 'import nbclient, nbformat, jupyter_client'], { stdio: 'ignore' });
    if (probe.status === 0) return { python };
  }
  return { reason: `no Python with nbclient, nbformat and jupyter_client (tried ${candidates.join(', ')}; KDCL_PYTHON chooses one)` };
}

/** Why the tslab kernel cannot start here, or null when it can. */
export function tslabMissing(): string | null {
  try {
    createRequire(path.join(ROOT, 'package.json')).resolve('tslab/dist/main.js');
    return null;
  } catch {
    return 'the tslab package is not installed (run `npm ci`)';
  }
}

/** Why notebooks cannot be executed headlessly here, or the Python to do it with. */
export function notebookRunner(): { python: string } | { reason: string } {
  const missing = tslabMissing();
  return missing ? { reason: missing } : findNotebookPython();
}

/** A temporary JUPYTER_PATH entry holding a 'tslab' kernel spec for this checkout; remove it when done. */
export function privateKernelSpec(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-kernels-'));
  const spec = path.join(dir, 'kernels', 'tslab');
  fs.mkdirSync(spec, { recursive: true });
  const argv = [process.execPath, path.join(ROOT, 'scripts', 'tslab-kernel.cjs'), 'kernel', '--config-path', '{connection_file}'];
  fs.writeFileSync(path.join(spec, 'kernel.json'), JSON.stringify({ argv, display_name: 'TypeScript (kdcl)', language: 'typescript' }));
  return dir;
}

/** Runs a notebook with nbclient; writes the executed copy even when a cell fails (exit status 3 then). */
const NBCLIENT = `
import sys, nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
src, dst, cwd = sys.argv[1:4]
nb = nbformat.read(src, as_version=4)
client = NotebookClient(nb, timeout=None, kernel_name='tslab', resources={'metadata': {'path': cwd}})
status = 0
try:
    client.execute()
except CellExecutionError as err:
    print(str(err)[:4000], file=sys.stderr)
    status = 3
finally:
    nbformat.write(nb, dst)
sys.exit(status)
`;

export interface ExecuteOptions {
  python: string;
  /** Extra environment for the kernel (the notebook's parameters). */
  env?: Record<string, string>;
  /** Passed to execa: where nbclient's own output goes (default: inherited). */
  stdio?: 'inherit' | 'pipe';
}

/** Executes `source` into `executed`; returns nbclient's exit code and the error outputs found in the executed copy. */
export async function executeNotebook(source: string, executed: string, options: ExecuteOptions): Promise<{ exitCode: number; errors: string[]; stderr: string }> {
  const jupyterPath = privateKernelSpec();
  try {
    const { execa } = await import('execa');
    const result = await execa(options.python, ['-c', NBCLIENT, source, executed, ROOT], {
      env: { ...process.env, ...options.env, JUPYTER_PATH: [jupyterPath, process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter) },
      stdio: ['ignore', options.stdio ?? 'inherit', options.stdio ?? 'inherit'],
      reject: false,
    });
    const errors = fs.existsSync(executed) ? notebookErrors(executed) : [`no executed notebook was written to ${executed}`];
    return { exitCode: result.exitCode ?? 1, errors, stderr: typeof result.stderr === 'string' ? result.stderr : '' };
  } finally {
    fs.rmSync(jupyterPath, { recursive: true, force: true });
  }
}

export interface NotebookOutput {
  output_type: string;
  name?: string;
  ename?: string;
  evalue?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
}

/** Every output of every code cell of a notebook file. */
export function notebookOutputs(file: string): NotebookOutput[] {
  const nb = JSON.parse(fs.readFileSync(file, 'utf8')) as { cells: { outputs?: NotebookOutput[] }[] };
  return nb.cells.flatMap((cell) => cell.outputs ?? []);
}

/** Error outputs of an executed notebook. */
export function notebookErrors(file: string): string[] {
  return notebookOutputs(file)
    .filter((out) => out.output_type === 'error')
    .map((out) => `${out.ename}: ${out.evalue}`);
}
