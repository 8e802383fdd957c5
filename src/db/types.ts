/**
 * One SQL layer over two engines: PostgreSQL (server mode, `postgres` package) and PGlite
 * (embedded mode). Queries use `$1..$n` placeholders and PostgreSQL syntax on both.
 *
 * Both drivers return the same JS values: int8/numeric → number, timestamptz → Date,
 * json/jsonb → parsed value, bytea → Buffer. Parameters: plain objects and arrays are sent as JSON
 * text (write `$1::jsonb`), a string given to a jsonb parameter is taken as JSON text, Date as an
 * ISO timestamp, Uint8Array as bytea. `undefined` is refused (a TypeError), never sent as NULL.
 */
/** `object` covers plain objects and arrays (sent as JSON), including typed interfaces without an index signature. */
export type SqlParam = string | number | bigint | boolean | null | Date | Uint8Array | Record<string, unknown> | unknown[] | object;

export interface Queryable {
  /** Run one statement, return its rows (column names as in SQL; bigint columns as JS numbers). */
  query<T = Record<string, unknown>>(sql: string, params?: SqlParam[]): Promise<T[]>;
  /** Run a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

export interface Database extends Queryable {
  readonly driver: 'postgres' | 'pglite';
  /** Run `fn` in one transaction; rolled back if it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Run `fn` while holding a cluster-wide exclusive lock named `name` (pg advisory lock on
   * PostgreSQL, a process-local mutex on PGlite). Returns null without running when `wait` is
   * false and someone else holds it.
   */
  withLock<T>(name: string, fn: () => Promise<T>, wait?: boolean): Promise<T | null>;
  close(): Promise<void>;
}
