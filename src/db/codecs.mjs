// @ts-check
// Text forms of the PostgreSQL types both drivers parse and serialise the same way. Plain JavaScript so the
// embedded engine's worker thread (pglite-worker.mjs) uses the same functions from src/ (vitest) and dist/.

/** PostgreSQL type OIDs whose text form we parse ourselves, identically on both drivers. */
export const OID = /** @type {const} */ ({
  INT8: 20,
  BYTEA: 17,
  JSON: 114,
  JSONB: 3802,
  NUMERIC: 1700,
});

/**
 * bytea text output (`\x0a1b…`) → Buffer; Buffer is a Uint8Array, as postgres.js returns.
 * @param {string} x
 * @returns {Buffer}
 */
export const parseBytea = (x) => Buffer.from(x.slice(2), 'hex');

/**
 * @param {Uint8Array} x
 * @returns {string}
 */
export const serializeBytea = (x) => '\\x' + Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex');

/**
 * JSON text stays as given (callers and toDriverParams already serialised it); anything else is stringified.
 * @param {unknown} x
 * @returns {string}
 */
export const serializeJson = (x) => (typeof x === 'string' ? x : JSON.stringify(x));
