/**
 * One SQL layer over two engines: PostgreSQL (server mode, `postgres` package) and PGlite
 * (embedded mode). Queries use `$1..$n` placeholders and PostgreSQL syntax on both.
 */
export type SqlParam = string | number | bigint | boolean | null | Date | Uint8Array | Record<string, unknown> | unknown[];

export interface Queryable {
  /** Run one statement, return its rows (column names as in SQL; bigint columns as JS numbers). */
  query<T = Record<string, unknown>>(sql: string, params?: SqlParam[]): Promise<T[]>;
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
