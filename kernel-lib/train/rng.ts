/**
 * Seeded randomness for the trainer. Nothing random carries state from one task to the next: every stream is
 * derived from the run seed and labels such as (task, stage, epoch), so a run resumed at a task boundary draws
 * exactly the numbers an uninterrupted run would.
 */

/** Mixes a 32-bit value (the finaliser of MurmurHash3). */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The seed of a random stream, from the run seed and labels, e.g. streamSeed(seed, 'batches', task, epoch) (murmur3-style mixing). */
export function streamSeed(seed: number, ...labels: (string | number)[]): number {
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  for (const label of labels) {
    const text = typeof label === 'number' ? `#${label}` : label;
    for (let i = 0; i < text.length; i++) h = mix32(h ^ Math.imul(text.charCodeAt(i), 0x01000193) ^ (i + 1));
    h = mix32(h ^ 0x27d4eb2f);
  }
  return h;
}

export interface SeededRandom {
  /** Uniform in [0, 1). */
  (): number;
  /** The generator's four 32-bit words, to save and restore it. */
  state(): [number, number, number, number];
}

/** sfc32 generator (small fast counting RNG), seeded through splitmix-style mixing. */
export function createRandom(seed: number, state?: [number, number, number, number]): SeededRandom {
  let [a, b, c, d] = state ?? [mix32(seed ^ 0x1b873593), mix32(seed ^ 0xcc9e2d51), mix32(seed ^ 0xe6546b64), 1];
  const next = (() => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t / 4294967296;
  }) as SeededRandom;
  next.state = () => [a >>> 0, b >>> 0, c >>> 0, d >>> 0];
  if (!state) for (let i = 0; i < 12; i++) next(); // warm up away from the correlated seeding
  return next;
}

/** Fisher-Yates shuffle in place with the given generator. */
export function shuffleInPlace<T extends { length: number; [i: number]: unknown }>(items: T, random: () => number): T {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}
