/**
 * snake_case columns → camelCase fields, in one place. Tables declare their row type in camelCase
 * and select exactly the columns of that type; the conversion is by name, so a column added to the
 * SELECT appears in the row without a hand-written mapper.
 */
const camelCache = new Map<string, string>();

function camel(key: string): string {
  let c = camelCache.get(key);
  if (c === undefined) {
    c = key.replace(/_([a-z0-9])/g, (_, ch: string) => ch.toUpperCase());
    camelCache.set(key, c);
  }
  return c;
}

export function toCamelRow<T>(row: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const k in row) out[camel(k)] = row[k];
  return out as T;
}

export function toCamelRows<T>(rows: Record<string, unknown>[]): T[] {
  return rows.map((r) => toCamelRow<T>(r));
}
