#!/usr/bin/env node
/**
 * `npm run kernel:install [-- --user | --sys-prefix | --prefix DIR]`: registers the 'tslab' TypeScript kernel for
 * this checkout (scripts/tslab-kernel.cjs, which starts tslab in the checkout's root so notebooks can import
 * ./kernel-lib). The kernel spec is installed with the Python that runs Jupyter: $KDCL_PYTHON, else the first of
 * python3, /usr/bin/python3, python that has jupyter_client.
 */
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function hasJupyter(python) {
  const probe = spawnSync(python, ['-c', 'import jupyter_client'], { stdio: 'ignore' });
  return probe.status === 0;
}

const candidates = process.env.KDCL_PYTHON ? [process.env.KDCL_PYTHON] : ['python3', '/usr/bin/python3', 'python'];
const python = candidates.find(hasJupyter);
if (!python) {
  console.error(
    `kernel:install: no Python with Jupyter found (tried ${candidates.join(', ')}).\n` +
      '  Install Jupyter (e.g. `apt-get install jupyter-notebook` or `python3 -m pip install jupyterlab`),\n' +
      '  or point KDCL_PYTHON at the Python that runs it: KDCL_PYTHON=/path/to/python npm run kernel:install',
  );
  process.exit(1);
}

const tslab = require.resolve('tslab/bin/tslab', { paths: [root] });
const kernel = path.join(root, 'scripts', 'tslab-kernel.cjs');
const result = spawnSync(process.execPath, [tslab, 'install', '--python', python, '--binary', kernel, ...process.argv.slice(2)], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
