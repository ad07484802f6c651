/**
 * Rich output for notebooks. tslab's public `display` sends one MIME type per output; charts need a bundle
 * (vega-lite + SVG in one output, so JupyterLab shows one interactive chart and classic viewers the SVG), so this
 * goes through tslab's kernel writer when it runs inside the tslab kernel, and prints a text fallback elsewhere.
 */
type DisplayData = Record<string, unknown>;

interface TslabJupyter {
  lastWriteDisplayData: ((data: { data: DisplayData; metadata: object; transient: object }, update: boolean) => void) | null;
}

function tslabWriter(): TslabJupyter['lastWriteDisplayData'] {
  try {
    // Internal module of tslab: present only when this process is a tslab kernel.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const jupyter = require('tslab/dist/jupyter') as TslabJupyter;
    return jupyter.lastWriteDisplayData;
  } catch {
    return null;
  }
}

/** True inside a tslab kernel that can show rich output. */
export function inNotebook(): boolean {
  return tslabWriter() != null;
}

/** Displays one output with several MIME representations; outside a notebook prints the text/plain one. */
export function displayBundle(data: DisplayData): void {
  const write = tslabWriter();
  if (write) {
    write({ data, metadata: {}, transient: {} }, false);
    return;
  }
  const text = data['text/plain'];
  if (typeof text === 'string') console.log(text);
}

/** Displays an HTML fragment (e.g. an arquero table's toHTML()). */
export function displayHtml(html: string, text = '[html]'): void {
  displayBundle({ 'text/html': html, 'text/plain': text });
}
