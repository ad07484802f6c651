/**
 * Method configs: a method's typed defaults (with their sources, in its file) merged with caller overrides, checked
 * by one zod schema per method. The schema is built from the defaults (each key's type; the exemplar-memory policy's
 * shape) and the method's field rules (ranges, allowed values); unknown keys get a "did you mean" hint.
 */
import type { MemoryPolicy } from '../methods/types';
import { nonNegativeNumber, parseConfig, positiveInt, z } from '../schema';

export const memoryPolicySchema = z.union(
  [
    z.strictObject({ selection: z.enum(['herding', 'random']), total: positiveInt() }),
    z.strictObject({ selection: z.enum(['herding', 'random']), perClass: positiveInt() }),
  ],
  { error: "must be { selection: 'herding' | 'random', total: n } (a budget shared by all seen classes) or { selection, perClass: n }, n a positive integer" },
);

/** The schema a default value implies for its key (a method's field rules can replace it). */
function schemaOf(value: unknown): z.ZodType {
  if (typeof value === 'boolean') return z.boolean();
  if (typeof value === 'number') return z.number().finite();
  if (typeof value === 'string') return z.string();
  if (Array.isArray(value)) return z.array(z.number().finite());
  if (value && typeof value === 'object' && 'selection' in (value as MemoryPolicy)) return memoryPolicySchema;
  return z.unknown(); // null defaults: an optional setting of the method's own type, checked by the method
}

export type FieldRules<C> = Partial<Record<keyof C & string, z.ZodType>>;

/** The method's config schema: strict, every key optional (overrides are partial). */
export function methodConfigSchema<C extends { kd: boolean }>(defaults: C, rules: FieldRules<C> = {}) {
  const shape: Record<string, z.ZodType> = {};
  for (const [key, value] of Object.entries(defaults)) shape[key] = ((rules as Record<string, z.ZodType>)[key] ?? schemaOf(value)).optional();
  return z.strictObject(shape);
}

export function resolveMethodConfig<C extends { kd: boolean }>(
  method: string,
  defaults: C,
  overrides: Partial<C> | Record<string, unknown> = {},
  rules: FieldRules<C> = {},
): C {
  if (!overrides || typeof overrides !== 'object' || Array.isArray(overrides)) {
    throw new Error(`${method}: config overrides must be an object, got ${JSON.stringify(overrides)}`);
  }
  // Keys set to undefined mean "the default".
  const given = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  parseConfig(methodConfigSchema(defaults, rules), given, method, 'config key');
  return { ...defaults, ...(given as Partial<C>) };
}

/** Field rules the methods share. */
export const weight = () => nonNegativeNumber();
