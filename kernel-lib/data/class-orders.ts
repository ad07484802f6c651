/**
 * Class orders: the order in which a scenario's classes arrive (label k of the relabelled dataset = order[k]).
 *
 * - 'seed1993': numpy's `np.random.seed(1993); np.random.permutation(n)`, reproduced exactly. PyCIL
 *   (utils/data_manager.py: `np.random.seed(seed); order = np.random.permutation(len(order))`, seed 1993) and FACIL
 *   use it; for CIFAR-100 it begins 68, 56, 78, 8, 23.
 * - 'icarl': the fixed CIFAR-100 order of the original iCaRL code, as PODNet ships it
 *   (arthurdouillard/incremental_learning.pytorch, inclearn/lib/data/datasets.py, iCIFAR100.class_order, "Taken from
 *   original iCaRL implementation") and Avalanche's iCaRL baseline uses it (ContinualAI/continual-learning-baselines,
 *   experiments/split_cifar100/icarl.py, fixed_class_order). 100 classes only.
 * - { seed }: `np.random.seed(seed); np.random.permutation(n)` for any seed in [0, 2^32) and any class count.
 *
 * numpy's legacy RandomState stream: MT19937 seeded with init_genrand(seed); permutation(n) shuffles arange(n) by
 * Fisher-Yates from the end, for i = n-1 .. 1 swapping x[i] with x[j], j = random_interval(i): the smallest all-ones
 * mask >= i applied to 32-bit draws, redrawn while the value exceeds i (numpy/random/mtrand.pyx `shuffle`,
 * numpy/random/src/distributions/distributions.c `random_interval`).
 */

export type ClassOrderName = 'seed1993' | 'icarl' | { seed: number };

const ICARL_CIFAR100_ORDER: readonly number[] = [
  87, 0, 52, 58, 44, 91, 68, 97, 51, 15, 94, 92, 10, 72, 49, 78, 61, 14, 8, 86,
  84, 96, 18, 24, 32, 45, 88, 11, 4, 67, 69, 66, 77, 47, 79, 93, 29, 50, 57, 83,
  17, 81, 41, 12, 37, 59, 25, 20, 80, 73, 1, 28, 6, 46, 62, 82, 53, 9, 31, 75,
  38, 63, 33, 74, 27, 22, 36, 3, 16, 21, 60, 19, 70, 90, 89, 43, 5, 42, 65, 76,
  40, 30, 23, 85, 2, 95, 56, 48, 71, 64, 98, 13, 99, 7, 34, 55, 54, 26, 35, 39,
];

const MT_N = 624;
const MT_M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

/** The 32-bit Mersenne Twister (Matsumoto & Nishimura 1998), seeded like numpy's legacy `np.random.seed(int)`. */
export class MT19937 {
  private readonly mt = new Uint32Array(MT_N);
  private index = MT_N;

  /** Seeded like `np.random.seed(seed)` (init_genrand), or with a key array like `np.random.seed([k0, k1, ...])` (init_by_array). */
  constructor(seed: number | readonly number[]) {
    const words = typeof seed === 'number' ? [seed] : seed;
    if (words.length === 0) throw new Error('MT19937: the seed key must not be empty');
    for (const w of words) {
      if (!Number.isInteger(w) || w < 0 || w > 0xffffffff) {
        throw new Error(`MT19937: seed must be an integer in [0, 2^32 - 1] (as numpy's np.random.seed), got ${w}`);
      }
    }
    if (typeof seed === 'number') this.initGenrand(seed);
    else this.initByArray(seed);
  }

  private initGenrand(seed: number): void {
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < MT_N; i++) {
      const prev = this.mt[i - 1] ^ (this.mt[i - 1] >>> 30);
      this.mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  private initByArray(key: readonly number[]): void {
    const mt = this.mt;
    this.initGenrand(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(MT_N, key.length); k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1664525)) + key[j] + j) >>> 0;
      i++;
      j++;
      if (i >= MT_N) {
        mt[0] = mt[MT_N - 1];
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = MT_N - 1; k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      i++;
      if (i >= MT_N) {
        mt[0] = mt[MT_N - 1];
        i = 1;
      }
    }
    mt[0] = 0x80000000;
  }

  private twist(): void {
    const mt = this.mt;
    for (let k = 0; k < MT_N; k++) {
      const y = (mt[k] & UPPER_MASK) | (mt[(k + 1) % MT_N] & LOWER_MASK);
      mt[k] = mt[(k + MT_M) % MT_N] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    this.index = 0;
  }

  /** Next tempered 32-bit output, as an unsigned number. */
  nextUint32(): number {
    if (this.index >= MT_N) this.twist();
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Uniform integer in [0, max] by masked rejection sampling (numpy's legacy `random_interval`), max < 2^32. */
  interval(max: number): number {
    if (max === 0) return 0;
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    let value: number;
    do value = (this.nextUint32() & mask) >>> 0;
    while (value > max);
    return value;
  }

  /** Shuffles in place like numpy's legacy `RandomState.shuffle` of a 1-d array. */
  shuffle<T extends number[] | Int32Array | unknown[]>(items: T): T {
    for (let i = items.length - 1; i >= 1; i--) {
      const j = this.interval(i);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}

/** `np.random.seed(seed); np.random.permutation(n)`. */
export function numpyPermutation(seed: number, n: number): number[] {
  return new MT19937(seed).shuffle(Array.from({ length: n }, (_, i) => i));
}

/** The class arrival order: a permutation of 0 .. numClasses-1. */
export function classOrder(name: ClassOrderName, numClasses: number): number[] {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new Error(`classOrder: numClasses must be a positive integer (the dataset's class count), got ${numClasses}`);
  }
  if (name === 'seed1993') return numpyPermutation(1993, numClasses);
  if (name === 'icarl') {
    if (numClasses !== ICARL_CIFAR100_ORDER.length) {
      throw new Error(
        `classOrder: 'icarl' is the fixed order of CIFAR-100's 100 classes, but numClasses is ${numClasses}; ` +
          `use 'seed1993' or { seed } for other class counts`,
      );
    }
    return [...ICARL_CIFAR100_ORDER];
  }
  if (typeof name === 'object' && name !== null && 'seed' in name) {
    const { seed } = name;
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new Error(`classOrder: { seed } must be an integer in [0, 2^32 - 1] (numpy's seed range), got ${seed}`);
    }
    return numpyPermutation(seed, numClasses);
  }
  throw new Error(`classOrder: unknown order ${JSON.stringify(name)}; use 'seed1993', 'icarl' or { seed: <integer> }`);
}
