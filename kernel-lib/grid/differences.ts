/** The first place two JSON values differ, as a field path (for errors that name the field a hand edit changed). */
export interface Difference {
  path: string;
  /** The two values there, as short JSON. */
  left: string;
  right: string;
}

const show = (v: unknown): string => {
  const text = v === undefined ? 'absent' : JSON.stringify(v);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
};

export function firstDifference(left: unknown, right: unknown, at = ''): Difference | null {
  if (Object.is(left, right)) return null;
  const bothObjects = left !== null && right !== null && typeof left === 'object' && typeof right === 'object';
  if (!bothObjects || Array.isArray(left) !== Array.isArray(right)) return { path: at, left: show(left), right: show(right) };
  if (Array.isArray(left) && Array.isArray(right)) {
    if (left.length !== right.length) return { path: `${at}.length`, left: String(left.length), right: String(right.length) };
    for (let i = 0; i < left.length; i++) {
      const d = firstDifference(left[i], right[i], `${at}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  const a = left as Record<string, unknown>;
  const b = right as Record<string, unknown>;
  for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const d = firstDifference(a[key], b[key], at ? `${at}.${key}` : key);
    if (d) return d;
  }
  return null;
}
