#!/usr/bin/env node
/**
 * The tslab kernel for kdcl's notebooks, started in the checkout's root folder.
 *
 * tslab compiles a notebook's local imports with the kernel's working directory as TypeScript's rootDir, and
 * Jupyter starts kernels in the notebook's folder (notebooks/), which puts kernel-lib/ outside rootDir. Starting
 * tslab from the root makes `import ... from './kernel-lib/...'` compile in every notebook, whatever its folder.
 * `npm run kernel:install` registers this file as the 'tslab' kernel (scripts/install-kernel.cjs).
 */
const path = require('node:path');

process.chdir(path.resolve(__dirname, '..'));
require('tslab/dist/main.js').main();
