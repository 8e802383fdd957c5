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

export { OID, parseBytea, serializeBytea, serializeJson } from './codecs.mjs';
