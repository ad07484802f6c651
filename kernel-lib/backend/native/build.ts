/**
 * Builds kdcl's native backend addon (N-API + oneDNN) into kernel-lib/backend/native/build/kdcl_native.node.
 *
 *   npm run build:native              build, or exit 1 saying what is missing
 *   tsx .../build.ts --if-possible    (postinstall) build when the toolchain and oneDNN are present, else
 *                                     print why not and exit 0: the wasm/cpu backends still work
 *
 * Needs a C++17 compiler (g++ or $CXX), Node's headers (node_api.h) and oneDNN (Debian/Ubuntu: `apt-get install
 * g++ libdnnl-dev`). $DNNL_ROOT points at a oneDNN install elsewhere (with include/ and lib/).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../paths';

const here = path.join(repoRoot(), 'kernel-lib', 'backend', 'native');
export const ADDON_PATH = path.join(here, 'build', 'kdcl_native.node');
const SOURCES = ['src/addon.cc', 'src/kernels.cc'].map((f) => path.join(here, f));

function nodeHeaderDir(): string | undefined {
  const candidates = [
    process.env.npm_config_nodedir && path.join(process.env.npm_config_nodedir, 'include', 'node'),
    path.resolve(path.dirname(process.execPath), '..', 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ];
  return candidates.find((dir): dir is string => !!dir && existsSync(path.join(dir, 'node_api.h')));
}

function dnnlDirs(): { include: string; lib?: string } | undefined {
  const root = process.env.DNNL_ROOT;
  const candidates: { include: string; lib?: string }[] = [
    ...(root ? [{ include: path.join(root, 'include'), lib: path.join(root, 'lib') }] : []),
    { include: '/usr/include' }, // system install: the linker finds the library itself
    { include: '/usr/local/include', lib: '/usr/local/lib' },
  ];
  return candidates.find((c) => existsSync(path.join(c.include, 'oneapi', 'dnnl', 'dnnl.hpp')));
}

function commandWorks(cmd: string): boolean {
  try {
    execFileSync(cmd, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Compiles the addon; throws an Error saying what is missing or what failed. */
export function buildNativeAddon(log: (line: string) => void = console.log): string {
  const cxx = process.env.CXX || 'g++';
  if (!commandWorks(cxx)) throw new Error(`no C++ compiler: '${cxx} --version' failed (install g++ or set $CXX)`);
  const nodeInclude = nodeHeaderDir();
  if (!nodeInclude) throw new Error("Node's headers (node_api.h) not found: set npm_config_nodedir or install Node's headers");
  const dnnl = dnnlDirs();
  if (!dnnl) throw new Error('oneDNN headers not found (oneapi/dnnl/dnnl.hpp): apt-get install libdnnl-dev, or set $DNNL_ROOT');

  mkdirSync(path.dirname(ADDON_PATH), { recursive: true });
  const tmp = `${ADDON_PATH}.${process.pid}.tmp`;
  const args = [
    '-std=c++17', '-O3', '-Wall', '-Wextra', process.env.KDCL_NATIVE_MARCH ?? '-march=native', '-fPIC', '-shared', '-fopenmp',
    '-fvisibility=hidden', '-DNAPI_VERSION=8', '-DNODE_GYP_MODULE_NAME=kdcl_native',
    `-I${nodeInclude}`, `-I${dnnl.include}`,
    ...SOURCES,
    ...(dnnl.lib ? [`-L${dnnl.lib}`, `-Wl,-rpath,${dnnl.lib}`] : []),
    '-ldnnl', '-o', tmp,
  ];
  log(`[kdcl] building native addon: ${cxx} ${args.join(' ')}`);
  try {
    execFileSync(cxx, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new Error(`compiling the native addon failed (${(err as Error).message.split('\n')[0]})`);
  }
  // Rename last, so a failed or interrupted build never leaves a half-written addon behind.
  renameSync(tmp, ADDON_PATH);
  log(`[kdcl] native addon built: ${path.relative(process.cwd(), ADDON_PATH)}`);
  return ADDON_PATH;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.join(here, 'build.ts')) {
  const ifPossible = process.argv.includes('--if-possible');
  try {
    buildNativeAddon();
  } catch (err) {
    const why = (err as Error).message;
    if (ifPossible) {
      console.log(`[kdcl] native addon not built (${why}); kdcl will use the wasm or cpu backend.`);
    } else {
      console.error(`[kdcl] ${why}`);
      process.exit(1);
    }
  }
}
