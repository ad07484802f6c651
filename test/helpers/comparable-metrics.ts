import type { TaskMetrics } from '../../kernel-lib/train/metrics';

/** Metrics without timing fields (wall and CPU seconds), for exact comparisons of runs. */
export function comparable(tasks: TaskMetrics[]): unknown {
  return JSON.parse(JSON.stringify(tasks, (key, value) => (key === 'seconds' || key === 'cpuSeconds' ? undefined : value)));
}
