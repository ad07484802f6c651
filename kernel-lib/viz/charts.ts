/**
 * Charts are vega-lite 5 specs. Each is shown as a MIME bundle holding both the vega-lite spec (JupyterLab renders
 * it interactively) and a static SVG rendered in-process with vega's SVG renderer (classic Notebook, nbviewer and
 * GitHub show that).
 */
import type { TopLevelSpec } from 'vega-lite';
import * as vegaLite from 'vega-lite';
import * as vega from 'vega';
import { displayBundle } from './display';

export type ChartSpec = TopLevelSpec;

export const VEGA_LITE_MIME = 'application/vnd.vegalite.v5+json';

/** Renders a vega-lite spec to a standalone SVG string (no browser, no canvas). */
export async function renderSvg(spec: ChartSpec): Promise<string> {
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Shows a chart in the notebook (vega-lite bundle + SVG fallback); returns the SVG for saving to disk. */
export async function showChart(spec: ChartSpec): Promise<string> {
  const svg = await renderSvg(spec);
  displayBundle({
    [VEGA_LITE_MIME]: spec,
    'image/svg+xml': svg,
    'text/plain': `<chart: ${typeof spec.title === 'string' ? spec.title : 'vega-lite'}>`,
  });
  return svg;
}
