/**
 * tfjs's wasm backend with every core in Node.
 *
 * tfjs-backend-wasm's own loader cannot start its threaded SIMD build in Node: it hands Emscripten the pthread
 * worker script and the main script as Blobs / blob: URLs, and Node's worker_threads load neither. This loader
 * builds the same Emscripten module (wasm-out/tfjs-backend-wasm-threaded-simd.js, its .wasm binary) with files
 * Node can load: the worker script written to kdcl's cache folder (its text is what tfjs ships), and the main
 * script's own path. It then registers it as tfjs's 'wasm' backend, so the package's kernels (registered for
 * 'wasm') run on it; the JS <-> wasm bridge is the package's (`module.tfjs`, the same cwraps).
 *
 * Two details of the package's C++ (tfjs-backend-wasm src/cc/backend.cc) shape it:
 *   - the threadpool is capped at `emscripten_num_logical_cores() / 2` ("many x86-64 processors have 2 threads per
 *     core"), read once when the module starts; Node reports vCPUs, so a 2-vCPU machine would get 1 thread. The
 *     loader makes `os.cpus()` report twice the machine's count while the module starts, so the cap is the machine's
 *     vCPU count, and asks for the thread count it is given (at most 8: the pthread pool tfjs pre-creates);
 *   - the pool's threads live as long as the process: their workers are unref'd, so a script still ends.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tf } from '../tf';
import { cacheDir, repoRequire } from '../paths';
import { writeFileAtomic } from '../train/checkpoint';

const requireFromRepo = repoRequire();

/** tfjs pre-creates 8 pthread workers (src/cc/BUILD) and caps the pool there. */
export const MAX_WASM_THREADS = 8;

interface EmscriptenWorker {
  unref(): void;
}
interface ThreadedModule {
  cwrap(name: string, returns: string | null, args: string[]): (...args: number[]) => number;
  PThread: { unusedWorkers: EmscriptenWorker[]; runningWorkers: EmscriptenWorker[] };
  tfjs?: Record<string, unknown>;
}
type ModuleFactory = (config: Record<string, unknown>) => Promise<ThreadedModule>;

/** The pthread worker script, as a file Node's worker_threads can start (CommonJS, whatever package.json says). */
function workerScript(wasmOut: string): string {
  const { wasmWorkerContents } = requireFromRepo(path.join(wasmOut, 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
  // The shipped text is a JS string whose escapes were meant for a Blob: tfjs re-escapes newlines the same way.
  const text = wasmWorkerContents.replace(/\n/g, '\\n');
  const file = path.join(cacheDir(), 'wasm', `threaded-simd-worker-${Buffer.from(text).length}.cjs`);
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomic(file, new TextEncoder().encode(text));
  }
  return file;
}

/** Starts the threaded SIMD module with `threads` threads and makes it tfjs's 'wasm' backend; returns the count it got. */
export async function registerThreadedWasm(threads: number): Promise<number> {
  const wasm = requireFromRepo('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  const distDir = path.dirname(requireFromRepo.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  const wasmOut = path.join(path.dirname(distDir), 'wasm-out');
  const mainScript = path.join(wasmOut, 'tfjs-backend-wasm-threaded-simd.js');
  const factory = requireFromRepo(mainScript) as ModuleFactory;
  const worker = workerScript(wasmOut);
  const realCpus = os.cpus;
  let module: ThreadedModule;
  try {
    os.cpus = () => {
      const cpus = realCpus();
      return [...cpus, ...cpus];
    };
    module = await factory({
      locateFile: (file: string, prefix: string) =>
        file.endsWith('.worker.js') ? worker : file.endsWith('.wasm') ? path.join(distDir, 'tfjs-backend-wasm-threaded-simd.wasm') : prefix + file,
      mainScriptUrlOrBlob: mainScript,
    });
  } finally {
    os.cpus = realCpus;
  }
  // The package's bridge (backend_wasm.js `init`), unchanged.
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  wasm.setThreadsCount(Math.min(threads, MAX_WASM_THREADS));
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', () => new wasm.BackendWasm(module as never), 2);
  const ok = await tf.setBackend('wasm');
  if (!ok) throw new Error("tf.setBackend('wasm') returned false for the threaded SIMD module");
  for (const w of [...module.PThread.unusedWorkers, ...module.PThread.runningWorkers]) w.unref();
  return wasm.getThreadsCount();
}
