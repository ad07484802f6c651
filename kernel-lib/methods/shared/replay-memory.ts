/** The exemplar-memory config of the replay methods, and the memory's indices by class. */
import { concatIndices } from '../../data/indices';
import type { MemoryPolicy } from '../types';

/** Exemplar memory option of the replay methods (iCaRL, EEIL); its shape is checked by the config schema (memoryPolicySchema). */
export interface ReplayMemoryConfig {
  /** Selection rule and budget: { selection, total } (shared by all seen classes) or { selection, perClass }. */
  memory: MemoryPolicy;
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
