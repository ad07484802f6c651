/**
 * Notebook 05 (classification bias) in a real client: executed headlessly on the tslab kernel (ci-sized study),
 * served by classic Jupyter Notebook 6 on 127.0.0.1 with a random token, opened in headless Chromium (driven by
 * playwright-core), which must render the charts' SVG outputs (svg.marks) in every section. The screenshot of a
 * rendered chart is written to $KDCL_EVIDENCE_DIR (default: a temporary folder, so `npm test` leaves the tree clean;
 * `npm run evidence` refreshes the copy the repo keeps in reproductions/evidence/). Then one chart's vega-lite bundle is
 * rendered live with vega in the same browser (as JupyterLab would): its task dropdown must switch the task.
 *
 * Skipped, with the reason, without nbclient / tslab, Chromium, classic Notebook or playwright-core. A few minutes
 * on 2 cores (most of it tslab compiling kernel-lib); the server and its kernel are stopped at the end.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, executeNotebook, notebookOutputs, notebookRunner, privateKernelSpec } from '../reproductions/notebook-exec';

const EVIDENCE = path.join(path.resolve(process.env.KDCL_EVIDENCE_DIR ?? path.join(os.tmpdir(), 'kdcl-evidence')), 'bias-notebook.png');
const NOTEBOOK = '05-classification-bias.ipynb';

function findChromium(): string | null {
  const candidates = [process.env.KDCL_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean) as string[];
  return candidates.find((c) => fs.existsSync(c)) ?? null;
}

function hasClassicNotebook(python: string): boolean {
  return spawnSync(python, ['-c', 'import notebook, sys; sys.exit(0 if int(notebook.__version__.split(".")[0]) < 7 else 1)'], { stdio: 'ignore' }).status === 0;
}

function hasPlaywright(): boolean {
  try {
    createRequire(path.join(ROOT, 'package.json')).resolve('playwright-core');
    return true;
  } catch {
    return false;
  }
}

const runner = notebookRunner();
const chromium = findChromium();
const skipReason =
  'reason' in runner
    ? runner.reason
    : !chromium
      ? 'no Chromium (apt-get install chromium, or set KDCL_CHROMIUM)'
      : !hasClassicNotebook(runner.python)
        ? `no classic Jupyter Notebook 6 for ${runner.python} (apt-get install jupyter-notebook)`
        : !hasPlaywright()
          ? 'playwright-core is not installed (npm install)'
          : null;

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForServer(url: string, server: ChildProcess, log: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`jupyter notebook exited with ${server.exitCode}:\n${log()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`jupyter notebook did not answer ${url} within ${timeoutMs / 1000} s:\n${log()}`);
}

/** Stops the server's process group (the server and the kernel it started): SIGTERM, then SIGKILL after 10 s. */
async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 10_000));
  if ((await Promise.race([exited, timer])) === 'timeout') {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

describe('notebook 05 in classic Notebook and headless Chromium', () => {
  it.skipIf(skipReason !== null)(
    `renders the executed notebook's charts and saves a screenshot${skipReason ? ` [skipped: ${skipReason}]` : ''}`,
    async () => {
      const python = (runner as { python: string }).python;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kdcl-browser-'));
      cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
      const notebookDir = path.join(dir, 'notebooks');
      fs.mkdirSync(notebookDir);
      const executed = path.join(notebookDir, NOTEBOOK);

      // 1. Execute it (the ci-sized study: seconds of training), so the page has outputs to render.
      const result = await executeNotebook(path.join(ROOT, 'notebooks', NOTEBOOK), executed, { python, env: { KDCL_PROFILE: 'ci' }, stdio: 'pipe' });
      const streams = notebookOutputs(executed).filter((o) => o.output_type === 'stream').map((o) => [o.text ?? ''].flat().join('')).join('');
      expect(result.errors, streams.slice(-4000)).toEqual([]);
      expect(result.exitCode, `${result.stderr}\n${streams.slice(-4000)}`).toBe(0);

      // 2. Serve it: private Jupyter folders (trust database, runtime files, the kdcl kernel spec), loopback only.
      const jupyterEnv = {
        ...process.env,
        JUPYTER_CONFIG_DIR: path.join(dir, 'config'),
        JUPYTER_DATA_DIR: path.join(dir, 'data'),
        JUPYTER_RUNTIME_DIR: path.join(dir, 'runtime'),
        JUPYTER_PATH: privateKernelSpec(),
      };
      cleanups.push(() => fs.rmSync(jupyterEnv.JUPYTER_PATH, { recursive: true, force: true }));
      const trust = spawnSync(python, ['-m', 'nbformat.sign', executed], { env: jupyterEnv, encoding: 'utf8' });
      expect(trust.status, trust.stderr).toBe(0);
      const port = await freePort();
      const token = crypto.randomBytes(16).toString('hex');
      let serverLog = '';
      const server = spawn(
        python,
        ['-m', 'notebook', '--no-browser', `--port=${port}`, '--port-retries=0', '--ip=127.0.0.1', `--NotebookApp.token=${token}`, `--notebook-dir=${notebookDir}`, ...(process.getuid?.() === 0 ? ['--allow-root'] : [])],
        { env: jupyterEnv, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      server.stdout!.on('data', (d) => (serverLog += d));
      server.stderr!.on('data', (d) => (serverLog += d));
      cleanups.push(() => stopGroup(server));
      const base = `http://127.0.0.1:${port}`;
      await waitForServer(`${base}/api/status?token=${token}`, server, () => serverLog.slice(-3000), 60_000);

      // 3. Open it in headless Chromium and wait for the charts' SVG outputs.
      const { chromium: browserType } = await import('playwright-core');
      const context = await browserType.launchPersistentContext(path.join(dir, 'chromium-profile'), {
        executablePath: chromium!,
        headless: true,
        viewport: { width: 1200, height: 900 },
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      });
      cleanups.push(() => context.close());
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`${base}/notebooks/${NOTEBOOK}?token=${token}`, { timeout: 60_000 });
      const charts = page.locator('.output_svg svg.marks');
      await charts.first().waitFor({ state: 'visible', timeout: 60_000 });
      // Four charts in each of the three sections (picked method, BiC before/after, separated vs global softmax).
      expect(await charts.count()).toBe(12);
      const tables = page.locator('.output_html table');
      expect(await tables.count()).toBe(3);
      // The BiC section's task-prediction histogram: two panels, raw logits and BiC-corrected.
      const histogram = charts.nth(5);
      const histogramText = (await histogram.textContent()) ?? '';
      for (const label of ['Task-prediction histogram', 'raw logits', 'BiC-corrected', 'after task 2']) expect(histogramText).toContain(label);
      const box = await histogram.boundingBox();
      expect(box && box.width > 200 && box.height > 150, `chart box ${JSON.stringify(box)}`).toBe(true);

      // 4. Screenshot of the viewport with that chart in it (the section heading and table above it when they fit).
      await page.evaluate(() => {
        const heading = [...document.querySelectorAll('h2')].find((h) => h.textContent?.startsWith('Before and after'));
        heading?.scrollIntoView({ block: 'start' });
      });
      await histogram.scrollIntoViewIfNeeded();
      const png = await page.screenshot({ type: 'png' });
      expect(png.length).toBeLessThan(500 * 1024);
      fs.mkdirSync(path.dirname(EVIDENCE), { recursive: true });
      const tmp = `${EVIDENCE}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, png);
      fs.renameSync(tmp, EVIDENCE);

      // 5. The same chart's vega-lite bundle, live in the browser (as JupyterLab renders it): its task dropdown works.
      const bundles = notebookOutputs(executed)
        .map((o) => (o.data ?? {})['application/vnd.vegalite.v5+json'] as { title?: { text?: string } } | undefined)
        .filter((spec): spec is { title?: { text?: string } } => spec !== undefined);
      expect(bundles).toHaveLength(12);
      const spec = bundles[5];
      expect(spec.title?.text).toBe('Task-prediction histogram');
      const script = (file: string) => fs.readFileSync(createRequire(path.join(ROOT, 'package.json')).resolve(file), 'utf8');
      const live = await context.newPage();
      await live.setContent('<div id="chart"></div><div id="controls"></div>');
      await live.addScriptTag({ content: script('vega/build/vega.min.js') });
      await live.addScriptTag({ content: script('vega-lite/build/vega-lite.min.js') });
      const subtitles = await live.evaluate(async (vl) => {
        const w = window as unknown as { vega: any; vegaLite: any };
        const view = new w.vega.View(w.vega.parse(w.vegaLite.compile(vl).spec), { renderer: 'svg' });
        await view.initialize(document.getElementById('chart'), document.getElementById('controls')).runAsync();
        const subtitle = () => [...document.querySelectorAll('#chart text')].map((t) => t.textContent ?? '').find((t) => t.startsWith('after task'));
        const select = document.querySelector('#controls select') as HTMLSelectElement;
        const before = subtitle();
        select.value = '1';
        select.dispatchEvent(new Event('change'));
        await view.runAsync();
        return { options: [...select.options].map((o) => o.value), before, after: subtitle() };
      }, spec);
      expect(subtitles.options).toEqual(['0', '1', '2']);
      expect(subtitles.before).toMatch(/^after task 2 /);
      expect(subtitles.after).toMatch(/^after task 1 /);
    },
    600_000,
  );
});
