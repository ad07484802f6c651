/**
 * Config validation, one schema per public config (zod: the TypeScript types are inferred from the same schemas).
 * A value that fails gets one error naming the config, the field's path and what is wrong; an unknown key gets a
 * "did you mean" hint, so a typo never silently changes an experiment.
 */
import { z } from 'zod';

export { z };

/** Edit distance (insertions, deletions, substitutions), for the "did you mean" hint. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** The valid key closest to a mistyped one, if it is close enough to be the likely intent. */
export function closestKey(key: string, valid: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of valid) {
    const d = distance(key.replace(/[_-]/g, ''), candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== null && bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : null;
}

/** The object schema's keys at `path` inside `schema`, where one can be found (for hints). */
function keysAt(schema: z.ZodType, path: PropertyKey[], value: unknown): string[] {
  let current: z.ZodType | undefined = schema;
  let data: unknown = value;
  for (const part of path) {
    current = unwrap(current, data);
    data = (data as Record<PropertyKey, unknown> | undefined)?.[part];
    const shape = current instanceof z.ZodObject ? (current.shape as Record<string, z.ZodType>) : undefined;
    current = shape?.[String(part)];
    if (!current) return [];
  }
  current = unwrap(current, data);
  return current instanceof z.ZodObject ? Object.keys(current.shape) : [];
}

/** Through optional / default / discriminated unions to the object schema that applies to `data`. */
function unwrap(schema: z.ZodType | undefined, data: unknown): z.ZodType | undefined {
  let current = schema;
  for (let i = 0; i < 8 && current; i++) {
    if (current instanceof z.ZodOptional || current instanceof z.ZodNullable || current instanceof z.ZodDefault) {
      current = (current as unknown as { unwrap(): z.ZodType }).unwrap();
    } else if (current instanceof z.ZodDiscriminatedUnion || current instanceof z.ZodUnion) {
      const options = (current as unknown as { options: z.ZodType[] }).options;
      current = options.find((o) => o.safeParse(data).success || (o instanceof z.ZodObject && sameDiscriminator(o, data))) ?? options[0];
    } else break;
  }
  return current;
}

function sameDiscriminator(schema: z.ZodObject, data: unknown): boolean {
  const kind = (data as { kind?: unknown } | null)?.kind;
  const literal = (schema.shape as Record<string, z.ZodType>).kind;
  return kind !== undefined && literal instanceof z.ZodLiteral && (literal as unknown as { value: unknown }).value === kind;
}

function where(path: PropertyKey[]): string {
  return path.length ? `'${path.map(String).join('.')}'` : 'the value';
}

/** A readable message for the first problems zod found. */
export function describeIssues(label: string, schema: z.ZodType, value: unknown, issues: z.core.$ZodIssue[], keyNoun = 'key'): string {
  const lines = issues.slice(0, 5).map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const valid = keysAt(schema, issue.path, value);
      return issue.keys
        .map((key) => {
          const hint = closestKey(key, valid);
          const at = issue.path.length ? ` in ${where(issue.path)}` : '';
          return `unknown ${keyNoun} '${key}'${at}${hint ? ` (did you mean '${hint}'?)` : ''}; valid keys: ${valid.join(', ')}`;
        })
        .join('; ');
    }
    const got = issue.path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown> | undefined)?.[k], value);
    const field = issue.path.length ? `${issue.path.map(String).join('.')}` : 'the value';
    return `${field}${issue.message.startsWith('must ') ? ' ' : ': '}${issue.message}${got === undefined || typeof got === 'function' ? '' : ` (got ${JSON.stringify(got)})`}`;
  });
  return `${label}: ${lines.join('; ')}`;
}

/** Parses `value` with `schema`, or throws an Error whose message names `label`, the field and the problem. */
export function parseConfig<T extends z.ZodType>(schema: T, value: unknown, label: string, keyNoun = 'key'): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new Error(describeIssues(label, schema, value, result.error.issues, keyNoun));
}

/** Common field schemas. */
export const positiveInt = () => z.number().int().positive();
export const nonNegativeInt = () => z.number().int().nonnegative();
export const positiveNumber = () => z.number().positive().finite();
export const nonNegativeNumber = () => z.number().nonnegative().finite();
/** In [0, 1): momentum, Adam's betas. */
export const unitInterval = () => z.number().min(0).lt(1);
