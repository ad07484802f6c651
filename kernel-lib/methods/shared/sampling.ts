/**
 * Seeded sampling for methods that draw random numbers in their losses or batch preparation (PASS's prototype noise,
 * IL2A's mixup lambda, PRAKA's reminiscence lambda). Every function takes the uniform source explicitly, normally
 * `ctx.services.random()` (seeded per task, so a resumed run draws the same numbers as an uninterrupted one), and
 * consumes a fixed or data-determined number of draws: no hidden state, no cached spare normal.
 */

/** A uniform source on [0, 1), e.g. `ctx.services.random()`. */
export type Uniform = () => number;

/** An integer uniform in [0, n) (numpy's `randint(0, n)`). */
export function randomInt(random: Uniform, n: number): number {
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`randomInt: n must be an integer >= 1, got ${n}`);
  return Math.min(n - 1, Math.floor(random() * n));
}

/** A uniform on (0, 1]: the log in Box-Muller and Marsaglia-Tsang must never see 0. */
function openUniform(random: Uniform): number {
  return 1 - random();
}

/** One N(0, 1) draw (Box-Muller, two uniforms; the sine half is not kept, so the draw count stays fixed). */
export function standardNormal(random: Uniform): number {
  const u = openUniform(random);
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Fills `out` with N(0, 1) draws, using both halves of each Box-Muller pair. */
export function fillStandardNormal(random: Uniform, out: Float32Array | Float64Array): typeof out {
  for (let i = 0; i < out.length; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(openUniform(random)));
    const angle = 2 * Math.PI * random();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < out.length) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}

/**
 * One Gamma(shape, 1) draw by Marsaglia & Tsang (ACM TOMS 2000): for shape >= 1, d = shape - 1/3, c = 1/sqrt(9d),
 * repeat { x ~ N(0,1), v = (1 + c x)^3 } until v > 0 and log U < x^2/2 + d - d v + d log v; return d v.
 * For shape < 1 it boosts: Gamma(a) = Gamma(a + 1) * U^(1/a).
 */
export function sampleGamma(random: Uniform, shape: number): number {
  if (!(shape > 0) || !Number.isFinite(shape)) throw new Error(`sampleGamma: shape must be a positive number, got ${shape}`);
  if (shape < 1) return sampleGamma(random, shape + 1) * Math.pow(openUniform(random), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = standardNormal(random);
    const t = 1 + c * x;
    if (t <= 0) continue;
    const v = t * t * t;
    const u = openUniform(random);
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** One Beta(a, b) draw: X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b) (numpy's `random.beta`). */
export function sampleBeta(random: Uniform, a: number, b: number): number {
  if (!(a > 0) || !(b > 0)) throw new Error(`sampleBeta: both parameters must be > 0, got Beta(${a}, ${b})`);
  const x = sampleGamma(random, a);
  const y = sampleGamma(random, b);
  // Both tiny (possible for a, b << 1): pick the side by the parameters' odds rather than divide 0 by 0.
  if (x + y === 0) return random() < a / (a + b) ? 1 : 0;
  return x / (x + y);
}
