/** Typed method configs: defaults merged with caller overrides, unknown keys refused with the valid ones listed. */

export function resolveMethodConfig<C extends { kd: boolean }>(
  method: string,
  defaults: C,
  overrides: Partial<C> | Record<string, unknown> = {},
): C {
  if (!overrides || typeof overrides !== 'object' || Array.isArray(overrides)) {
    throw new Error(`${method}: config overrides must be an object, got ${JSON.stringify(overrides)}`);
  }
  const valid = Object.keys(defaults);
  for (const [key, value] of Object.entries(overrides)) {
    if (!valid.includes(key)) throw new Error(`${method}: unknown config key '${key}'; valid keys: ${valid.join(', ')}`);
    const fallback = (defaults as Record<string, unknown>)[key];
    const expected = typeof fallback;
    // A null default accepts any type (e.g. an optional number).
    if (value !== undefined && fallback !== null && typeof value !== expected) {
      throw new Error(`${method}: config '${key}' must be a ${expected}, got ${JSON.stringify(value)}`);
    }
  }
  return { ...defaults, ...(overrides as Partial<C>) };
}
