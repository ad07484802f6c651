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
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../paths';

const here = path.join(repoRoot(), 'kernel-lib', 'backend', 'native');
export const ADDON_PATH = path.join(here, 'build', 'kdcl_native.node');
/** How the addon was built: { baseFlags, v4Flags } (tests read it to know what to check). */
export const BUILD_INFO_PATH = path.join(here, 'build', 'build-info.json');
const SOURCES = ['src/addon.cc', 'src/kernels.cc'].map((f) => path.join(here, f));
const ELEMENTWISE = path.join(here, 'src', 'elementwise.cc');

/**
 * Portable by default: the addon's baseline is x86-64-v2 (any x86-64 CPU of the last 15 years), and kdcl's own loops
 * (src/elementwise.cc) are built a second time for x86-64-v4 (AVX-512) and picked at load time. oneDNN's kernels
 * dispatch on the CPU by themselves. KDCL_NATIVE_MARCH=native builds for this machine only (the addon may then
 * die with SIGILL on an older CPU of a mixed cluster).
 */
function isaFlags(): { base: string[]; v4: string[] | null } {
  const march = process.env.KDCL_NATIVE_MARCH;
  if (process.arch !== 'x64') return { base: march ? [`-march=${march.replace(/^-march=/, '')}`] : [], v4: null };
  if (march) return { base: [`-march=${march.replace(/^-march=/, '')}`], v4: ['-march=x86-64-v4', '-mtune=generic'] };
  return { base: ['-march=x86-64-v2', '-mtune=generic'], v4: ['-march=x86-64-v4', '-mtune=generic'] };
}

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
  const isa = isaFlags();
  const common = [
    '-std=c++17', '-O3', '-Wall', '-Wextra', '-fPIC', '-fopenmp', '-fvisibility=hidden', '-DNAPI_VERSION=8',
    '-DNODE_GYP_MODULE_NAME=kdcl_native', `-I${nodeInclude}`, `-I${dnnl.include}`,
  ];
  const objects: string[] = [];
  const compile = (source: string, flags: string[], tag: string) => {
    const object = `${ADDON_PATH}.${process.pid}.${tag}.o`;
    const args = [...common, ...flags, '-c', source, '-o', object];
    log(`[kdcl] ${cxx} ${args.join(' ')}`);
    execFileSync(cxx, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    objects.push(object);
  };
  try {
    const v4Flag = isa.v4 ? ['-DKDCL_HAVE_V4'] : [];
    for (const source of SOURCES) compile(source, [...isa.base, ...v4Flag], path.basename(source, '.cc'));
    compile(ELEMENTWISE, [...isa.base, '-DKDCL_ISA_NS=isa_base'], 'elementwise-base');
    if (isa.v4) compile(ELEMENTWISE, [...isa.v4, '-DKDCL_ISA_NS=isa_v4'], 'elementwise-v4');
    const link = [
      '-shared', '-fopenmp', ...objects,
      ...(dnnl.lib ? [`-L${dnnl.lib}`, `-Wl,-rpath,${dnnl.lib}`] : []),
      '-ldnnl', '-o', tmp,
    ];
    log(`[kdcl] ${cxx} ${link.join(' ')}`);
    execFileSync(cxx, link, { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new Error(`compiling the native addon failed (${(err as Error).message.split('\n')[0]})`);
  } finally {
    for (const object of objects) rmSync(object, { force: true });
  }
  writeFileSync(BUILD_INFO_PATH, JSON.stringify({ baseFlags: isa.base, v4Flags: isa.v4, marchOverride: process.env.KDCL_NATIVE_MARCH ?? null }, null, 1));
  // Rename last, so a failed or interrupted build never leaves a half-written addon behind.
  renameSync(tmp, ADDON_PATH);
  log(`[kdcl] native addon built: ${path.relative(process.cwd(), ADDON_PATH)}`);
  return ADDON_PATH;
}

/** Debian / Ubuntu packages the addon needs: a C++ compiler and oneDNN's headers and library. */
export const SYSTEM_PACKAGES = ['g++', 'libdnnl-dev'];
const INSTALL_COMMAND = `apt-get install -y --no-install-recommends ${SYSTEM_PACKAGES.join(' ')}`;

/**
 * Whether the setup may install the system packages itself, or why not: it does so only as root on a machine with
 * apt-get, unless KDCL_NO_SYSTEM_INSTALL=1 says no (CI images and users who manage their own packages).
 */
export function systemInstallPlan(env: NodeJS.ProcessEnv = process.env): { allowed: boolean; why: string } {
  if (env.KDCL_NO_SYSTEM_INSTALL === '1') return { allowed: false, why: 'KDCL_NO_SYSTEM_INSTALL=1' };
  if (process.platform !== 'linux') return { allowed: false, why: `not Linux (${process.platform})` };
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { allowed: false, why: 'not root' };
  if (!commandWorks('apt-get')) return { allowed: false, why: 'no apt-get' };
  return { allowed: true, why: 'root on a machine with apt-get' };
}

/** Installs the missing system packages with apt-get (saying what and why); throws if apt-get fails. */
function installSystemPackages(log: (line: string) => void): void {
  log(`[kdcl] installing ${SYSTEM_PACKAGES.join(' ')} with apt-get: kdcl's native backend (oneDNN) trains several times faster ` +
    'than the wasm fallback. Set KDCL_NO_SYSTEM_INSTALL=1 to skip this.');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...SYSTEM_PACKAGES], { stdio: 'inherit', env });
  } catch {
    // A fresh machine may have no package lists yet.
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...SYSTEM_PACKAGES], { stdio: 'inherit', env });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.join(here, 'build.ts')) {
  const ifPossible = process.argv.includes('--if-possible');
  try {
    try {
      buildNativeAddon();
    } catch (err) {
      const missing = !dnnlDirs() || !commandWorks(process.env.CXX || 'g++');
      const plan = systemInstallPlan();
      if (!missing || !plan.allowed) {
        if (missing && !plan.allowed) (err as Error).message += `; to install them: sudo ${INSTALL_COMMAND} (not done here: ${plan.why})`;
        throw err;
      }
      installSystemPackages(console.log);
      buildNativeAddon();
    }
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
