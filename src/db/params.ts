import type { SqlParam } from './types.js';

/** What both drivers receive: every value already in a form whose meaning does not depend on the driver. */
export type DriverParam = string | number | boolean | null | Uint8Array;

/**
 * Normalise parameters once, before either driver sees them, so the same call means the same
 * thing on both engines: objects/arrays become JSON text (postgres.js would otherwise send a JS
 * array as a PostgreSQL array), Date an ISO timestamp, bigint a decimal string.
 */
export function toDriverParams(params: readonly SqlParam[] | undefined): DriverParam[] {
  if (!params || params.length === 0) return [];
  const out = new Array<DriverParam>(params.length);
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    if (p === undefined) throw new TypeError(`SQL parameter $${i + 1} is undefined (pass null for NULL)`);
    if (p === null || typeof p === 'string' || typeof p === 'boolean') out[i] = p;
    else if (typeof p === 'number') {
      if (!Number.isFinite(p)) throw new TypeError(`SQL parameter $${i + 1} is not a finite number: ${p}`);
      out[i] = p;
    } else if (typeof p === 'bigint') out[i] = p.toString();
    else if (p instanceof Uint8Array) out[i] = p;
    else if (p instanceof Date) {
      if (Number.isNaN(p.getTime())) throw new TypeError(`SQL parameter $${i + 1} is an invalid Date`);
      out[i] = p.toISOString();
    } else if (typeof p === 'object') out[i] = JSON.stringify(p);
    else throw new TypeError(`SQL parameter $${i + 1} has unsupported type ${typeof p}`);
  }
  return out;
}

/** bytea text output (`\x0a1b…`) → Buffer; Buffer is a Uint8Array, as postgres.js returns. */
export const parseBytea = (x: string): Buffer => Buffer.from(x.slice(2), 'hex');

export const serializeBytea = (x: Uint8Array): string => '\\x' + Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex');

/** JSON text stays as given (callers and toDriverParams already serialised it); anything else is stringified. */
export const serializeJson = (x: unknown): string => (typeof x === 'string' ? x : JSON.stringify(x));

/** PostgreSQL type OIDs whose text form we parse ourselves, identically on both drivers. */
export const OID = {
  INT8: 20,
  BYTEA: 17,
  JSON: 114,
  JSONB: 3802,
  NUMERIC: 1700,
} as const;
