/** The exemplar-memory config of the replay methods, and the memory's indices by class. */
import { concatIndices } from '../../data/indices';
import type { MemoryPolicy } from '../types';

/** Exemplar memory option of the replay methods (iCaRL, EEIL). */
export interface ReplayMemoryConfig {
  /** Selection rule and budget: { selection, total } (shared by all seen classes) or { selection, perClass }. */
  memory: MemoryPolicy;
}

/** The config's MemoryPolicy, checked: herding or random, and exactly one of total / perClass, a positive integer. */
export function replayMemoryPolicy(method: string, config: ReplayMemoryConfig): MemoryPolicy {
  const policy = config.memory as Partial<MemoryPolicy> | null;
  const budgets = policy ? (['total', 'perClass'] as const).filter((k) => policy[k] !== undefined) : [];
  const size = budgets.length === 1 ? policy![budgets[0]] : undefined;
  if (!policy || (policy.selection !== 'herding' && policy.selection !== 'random') || budgets.length !== 1 || !Number.isInteger(size) || size! < 1) {
    throw new Error(
      `${method}: memory must be { selection: 'herding' | 'random', total: n } (a budget shared by all seen classes) or ` +
        `{ selection, perClass: n } (n per class), n a positive integer; got ${JSON.stringify(config.memory)}`,
    );
  }
  return budgets[0] === 'total' ? { selection: policy.selection, total: size! } : { selection: policy.selection, perClass: size! };
}

/** Training indices in the memory for classes [start, end), class by class. */
export function memoryIndices(memory: Map<number, Int32Array>, start: number, end: number): Int32Array {
  const parts: Int32Array[] = [];
  for (let c = start; c < end; c++) {
    const indices = memory.get(c);
    if (indices) parts.push(indices);
  }
  return concatIndices(parts);
}
