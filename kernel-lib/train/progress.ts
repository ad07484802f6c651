/**
 * Progress reporting. The trainer emits typed events; a display turns them into output:
 * - 'bar': one line redrawn in place (a terminal: process.stderr is a TTY);
 * - 'lines': one compact line per epoch (notebooks, logs, CI: anything that is not a TTY);
 * - 'none': nothing (tests).
 * Notebooks that want their own rendering (HTML, charts) pass `onProgress` and get every event.
 */
import cliProgress from 'cli-progress';

export interface StepEvent {
  type: 'step';
  task: number;
  tasks: number;
  stage: string;
  epoch: number;
  epochs: number;
  /** 0-based step within the epoch, and the epoch's step count. */
  step: number;
  steps: number;
  /** Running means over the epoch so far: the total and each term. */
  loss: number;
  terms: Record<string, number>;
  lr: number;
  imagesPerSecond: number;
  /** Seconds left in this stage at the current speed. */
  etaSeconds: number;
}

export interface EpochEvent {
  type: 'epoch';
  task: number;
  tasks: number;
  stage: string;
  epoch: number;
  epochs: number;
  loss: number;
  terms: Record<string, number>;
  lr: number;
  images: number;
  seconds: number;
  imagesPerSecond: number;
}

export interface TaskStartEvent {
  type: 'task-start';
  task: number;
  tasks: number;
  classes: [number, number];
  trainImages: number;
  replayImages: number;
}

export interface TaskEndEvent {
  type: 'task-end';
  task: number;
  tasks: number;
  accuracy: number;
  seconds: number;
}

export interface CheckpointEvent {
  type: 'checkpoint';
  task: number;
  path: string;
}

export type ProgressEvent = StepEvent | EpochEvent | TaskStartEvent | TaskEndEvent | CheckpointEvent;

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'none';

export type ProgressSink = (event: ProgressEvent) => void;

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const total = Math.max(0, Math.round(s));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function formatTerms(terms: Record<string, number>): string {
  const names = Object.keys(terms);
  if (names.length <= 1) return '';
  return ' (' + names.map((n) => `${n} ${terms[n].toFixed(3)}`).join(', ') + ')';
}

function stageLabel(e: { task: number; tasks: number; stage: string }): string {
  return `task ${e.task + 1}/${e.tasks}${e.stage === 'train' ? '' : ` ${e.stage}`}`;
}

/** In-place bar on a terminal (cli-progress), one per epoch, redrawn at most 8 times a second. */
function barSink(stream: NodeJS.WriteStream): ProgressSink {
  let bar: cliProgress.SingleBar | null = null;
  let current = '';
  const stop = () => {
    bar?.stop();
    bar = null;
    current = '';
  };
  return (e) => {
    if (e.type === 'step') {
      const key = `${e.task}/${e.stage}/${e.epoch}`;
      if (key !== current) {
        stop();
        bar = new cliProgress.SingleBar(
          {
            stream,
            format: `${stageLabel(e)} epoch ${e.epoch + 1}/${e.epochs} [{bar}] {value}/{total} loss {loss} {rate} img/s ETA {left}`,
            barsize: 20,
            barCompleteChar: '#',
            barIncompleteChar: '.',
            fps: 8,
            clearOnComplete: true,
            hideCursor: false,
            linewrap: false,
          },
          cliProgress.Presets.legacy,
        );
        bar.start(e.steps, 0, { loss: '-', rate: '-', left: '--:--' });
        current = key;
      }
      bar!.update(e.step + 1, { loss: e.loss.toFixed(4), rate: e.imagesPerSecond.toFixed(0), left: formatSeconds(e.etaSeconds) });
    } else if (e.type === 'task-end') {
      stop();
      stream.write(`${stageLabel({ ...e, stage: 'train' })} done: accuracy ${(100 * e.accuracy).toFixed(2)}% in ${formatSeconds(e.seconds)}\n`);
    } else if (e.type === 'epoch' && e.epoch + 1 === e.epochs) {
      stop();
      stream.write(`${linesText(e)}\n`);
    }
  };
}

function linesText(e: EpochEvent): string {
  return (
    `${stageLabel(e)} epoch ${e.epoch + 1}/${e.epochs}: loss ${e.loss.toFixed(4)}${formatTerms(e.terms)} ` +
    `lr ${e.lr.toPrecision(3)} ${e.imagesPerSecond.toFixed(0)} img/s ${e.seconds.toFixed(1)}s`
  );
}

/** One line per epoch and per task: readable in notebooks and logs. */
function linesSink(write: (line: string) => void): ProgressSink {
  return (e) => {
    if (e.type === 'epoch') write(linesText(e));
    else if (e.type === 'task-start') {
      write(`task ${e.task + 1}/${e.tasks}: classes ${e.classes[0]}-${e.classes[1] - 1}, ${e.trainImages} new + ${e.replayImages} replay images`);
    } else if (e.type === 'task-end') {
      write(`task ${e.task + 1}/${e.tasks} done: accuracy ${(100 * e.accuracy).toFixed(2)}% in ${formatSeconds(e.seconds)}`);
    }
  };
}

/** The display for a mode; 'auto' picks the bar on a TTY, else lines. */
export function createProgressSink(mode: ProgressMode, onProgress?: ProgressSink): ProgressSink {
  const resolved = mode === 'auto' ? (process.stderr.isTTY ? 'bar' : 'lines') : mode;
  const display: ProgressSink | null =
    resolved === 'bar' ? barSink(process.stderr) : resolved === 'lines' ? linesSink((line) => console.log(line)) : null;
  if (!display && !onProgress) return () => {};
  return (event) => {
    display?.(event);
    onProgress?.(event);
  };
}
