/**
 * The exemplar memory: class -> training indices, each class's indices in selection order (herding rank or random
 * draw order), under a fixed-per-class or fixed-total budget.
 */
import type { MemoryPolicy } from '../methods/types';
import { tf } from '../tf';
import { type FeaturesLike, fail } from './features';
import { herdingSelection, randomSelection } from './selection';

/**
 * Exemplars per class under a policy, once `seenClasses` classes are stored:
 *   fixed per class (iCaRL's "20 per class" setting, PyCIL `fixed_memory` / `memory_per_class`): perClass;
 *   fixed total (iCaRL/LUCIR/BiC's 2000, PyCIL `memory_size // total_classes`): floor(total / seenClasses).
 */
export function exemplarsPerClass(policy: MemoryPolicy, seenClasses: number): number {
  const fn = 'exemplarsPerClass';
  const hasPerClass = policy.perClass !== undefined;
  const hasTotal = policy.total !== undefined;
  if (hasPerClass === hasTotal) fail(fn, `a MemoryPolicy needs exactly one of perClass or total, got ${JSON.stringify(policy)}`);
  if (!Number.isInteger(seenClasses) || seenClasses < 1) fail(fn, `seenClasses must be an integer >= 1, got ${seenClasses}`);
  const budget = (hasPerClass ? policy.perClass : policy.total) as number;
  if (!Number.isInteger(budget) || budget < 0) fail(fn, `policy.${hasPerClass ? 'perClass' : 'total'} must be an integer >= 0, got ${budget}`);
  return hasPerClass ? budget : Math.floor(budget / seenClasses);
}

/** Where the memory gets what selection needs. */
export interface SelectionSources {
  /** Eval-mode features of these training indices, [n, dim] (herding). A tensor returned here is disposed after use. */
  features?: (indices: Int32Array) => FeaturesLike;
  /** Seeded uniform [0, 1) generator (random selection). */
  random?: () => number;
}

export interface ExemplarMemoryJSON {
  format: 'kdcl-exemplar-memory';
  version: 1;
  /** [class, training indices in selection order], classes ascending. */
  classes: [number, number[]][];
}

export class ExemplarMemory {
  private readonly byClass = new Map<number, Int32Array>();

  /** Stored classes, ascending. */
  classes(): number[] {
    return [...this.byClass.keys()].sort((a, b) => a - b);
  }

  /** A class's training indices in selection order (a view: do not modify). */
  get(cls: number): Int32Array | undefined {
    return this.byClass.get(cls);
  }

  /** Total number of stored exemplars. */
  get size(): number {
    let n = 0;
    for (const indices of this.byClass.values()) n += indices.length;
    return n;
  }

  /** Stores a class's exemplars (training indices, in selection order), replacing what was there. */
  set(cls: number, indices: Int32Array): void {
    if (!Number.isInteger(cls) || cls < 0) fail('ExemplarMemory.set', `class must be an integer >= 0, got ${cls}`);
    if (new Set(indices).size !== indices.length) fail('ExemplarMemory.set', `class ${cls}: indices contain duplicates`);
    this.byClass.set(cls, Int32Array.from(indices));
  }

  /** Keeps the first m exemplars of every class (the top of its herding / draw order), as iCaRL Alg. 5. */
  reduce(m: number): void {
    if (!Number.isInteger(m) || m < 0) fail('ExemplarMemory.reduce', `m must be an integer >= 0, got ${m}`);
    for (const [cls, indices] of this.byClass) if (indices.length > m) this.byClass.set(cls, indices.slice(0, m));
  }

  /**
   * Adds the classes of a new task: computes m = exemplarsPerClass(policy, stored + new classes), reduces the
   * stored classes to m (a fixed total shrinks them), then selects m exemplars of each new class from its
   * candidate training indices by the policy's selection. A class with fewer than m candidates keeps all of them
   * (FACIL asserts instead; PyCIL would index out of range).
   * @param newClasses class -> candidate training indices (all of that class's training samples)
   * @returns m
   */
  update(policy: MemoryPolicy, newClasses: ReadonlyMap<number, Int32Array>, sources: SelectionSources): number {
    const fn = 'ExemplarMemory.update';
    for (const cls of newClasses.keys()) if (this.byClass.has(cls)) fail(fn, `class ${cls} is already in memory`);
    if (policy.selection === 'herding' && !sources.features) fail(fn, 'herding selection needs sources.features');
    if (policy.selection === 'random' && !sources.random) fail(fn, 'random selection needs sources.random (a seeded generator)');
    if (policy.selection !== 'herding' && policy.selection !== 'random') fail(fn, `unknown selection '${String(policy.selection)}'`);
    const m = exemplarsPerClass(policy, this.byClass.size + newClasses.size);
    this.reduce(m);
    for (const cls of [...newClasses.keys()].sort((a, b) => a - b)) {
      const candidates = newClasses.get(cls) as Int32Array;
      const count = Math.min(m, candidates.length);
      let positions: Int32Array;
      if (policy.selection === 'herding') {
        const features = (sources.features as NonNullable<SelectionSources['features']>)(candidates);
        try {
          const rows = features instanceof tf.Tensor ? features.shape[0] : features.rows;
          if (rows !== candidates.length) fail(fn, `sources.features returned ${rows} rows for ${candidates.length} indices of class ${cls}`);
          positions = herdingSelection(features, count);
        } finally {
          if (features instanceof tf.Tensor) features.dispose();
        }
      } else {
        positions = randomSelection(candidates.length, count, sources.random as () => number);
      }
      this.set(cls, Int32Array.from(positions, (p) => candidates[p]));
    }
    return m;
  }

  /** Every exemplar with its class, classes ascending, each class in selection order. */
  all(): { indices: Int32Array; labels: Int32Array } {
    const indices = new Int32Array(this.size);
    const labels = new Int32Array(this.size);
    let offset = 0;
    for (const cls of this.classes()) {
      const stored = this.byClass.get(cls) as Int32Array;
      indices.set(stored, offset);
      labels.fill(cls, offset, offset + stored.length);
      offset += stored.length;
    }
    return { indices, labels };
  }

  /** A copy as a Map (TrainerServices.memory()). */
  toMap(): Map<number, Int32Array> {
    return new Map(this.classes().map((cls) => [cls, Int32Array.from(this.byClass.get(cls) as Int32Array)]));
  }

  toJSON(): ExemplarMemoryJSON {
    return { format: 'kdcl-exemplar-memory', version: 1, classes: this.classes().map((cls) => [cls, Array.from(this.byClass.get(cls) as Int32Array)]) };
  }

  static fromJSON(json: unknown): ExemplarMemory {
    const fn = 'ExemplarMemory.fromJSON';
    const value = json as Partial<ExemplarMemoryJSON> | null;
    if (!value || value.format !== 'kdcl-exemplar-memory' || value.version !== 1 || !Array.isArray(value.classes)) {
      fail(fn, 'not a kdcl exemplar memory (expected { format: "kdcl-exemplar-memory", version: 1, classes: [...] }); was the checkpoint written by another version?');
    }
    const memory = new ExemplarMemory();
    for (const [i, entry] of value.classes.entries()) {
      if (!Array.isArray(entry) || entry.length !== 2 || !Array.isArray(entry[1]) || !entry[1].every((v) => Number.isInteger(v) && v >= 0)) {
        fail(fn, `classes[${i}] must be [class, non-negative integer indices]`);
      }
      if (memory.byClass.has(entry[0])) fail(fn, `classes[${i}]: class ${entry[0]} appears twice`);
      memory.set(entry[0], Int32Array.from(entry[1]));
    }
    return memory;
  }
}
