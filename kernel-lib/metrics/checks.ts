/** Input checks and small helpers the metrics share. */
import type { TaskSpec } from '../methods/types';

export function fail(fn: string, message: string): never {
  throw new Error(`kernel-lib/metrics ${fn}: ${message}`);
}

export function checkPairs(fn: string, predictions: Int32Array, labels: Int32Array): void {
  if (predictions.length !== labels.length) fail(fn, `predictions has ${predictions.length} entries, labels ${labels.length}`);
}

export function checkTasks(fn: string, tasks: readonly TaskSpec[]): void {
  if (tasks.length === 0) fail(fn, 'tasks is empty');
  tasks.forEach((task, i) => {
    const expectedStart = i === 0 ? 0 : tasks[i - 1].end;
    if (task.start !== expectedStart || task.end <= task.start) {
      fail(fn, `tasks[${i}] = [${task.start}, ${task.end}) must start at ${expectedStart} and be non-empty (tasks are contiguous, in arrival order)`);
    }
  });
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((s, v) => s + v, 0) / values.length;
}
