import { createHash } from 'node:crypto';
import postgres from 'postgres';
import { DatabaseSetupError, sqlState } from './errors.js';
import { endingHandle } from './tx-handle.js';
import { OID, serializeJson, toDriverParams, type DriverParam } from './params.js';
import type { Database, Queryable, SqlParam } from './types.js';

export interface PostgresOptions {
  /** Schema to create (if missing) and put on every connection's search_path. */
  schema?: string;
  /** Pool size. Default 10. */
  max?: number;
}

const SCHEMA_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Return the same JS values as the PGlite driver (see types.ts). */
const types = {
  bigint: { to: OID.INT8, from: [OID.INT8], serialize: (x: unknown) => String(x), parse: (x: string) => Number(x) },
  numeric: { to: OID.NUMERIC, from: [OID.NUMERIC], serialize: (x: unknown) => String(x), parse: (x: string) => Number(x) },
  // Parameters arrive as JSON text already (toDriverParams); the default would encode them a second time.
  json: { to: OID.JSONB, from: [OID.JSON, OID.JSONB], serialize: serializeJson, parse: (x: string): unknown => JSON.parse(x) },
};

/**
 * Every statement goes through the extended protocol, as on PGlite (so a parameterless query is
 * also one statement only), and is prepared once per connection: our SQL is a fixed set of
 * parameterised strings, so the statement cache stays small and saves a round trip per query.
 */
const QUERY_OPTIONS = { prepare: true, simple: false } as postgres.UnsafeQueryOptions;

type Sql = postgres.Sql | postgres.TransactionSql | postgres.ReservedSql;

async function runQuery<T>(sql: Sql, text: string, params: SqlParam[] | undefined): Promise<T[]> {
  const values = toDriverParams(params) as postgres.ParameterOrJSON<DriverParam>[];
  return (await sql.unsafe(text, values, QUERY_OPTIONS)) as unknown as T[];
}

function queryable(sql: Sql): Queryable {
  return {
    query: <T = Record<string, unknown>>(text: string, params?: SqlParam[]) => runQuery<T>(sql, text, params),
    exec: async (script: string) => {
      // Simple protocol: the one that accepts several statements.
      await sql.unsafe(script);
    },
  };
}

/** Advisory-lock keys are int64; derive one from the schema and name so separate schemas never contend. */
function lockKey(schema: string, name: string): string {
  return createHash('sha256').update(`${schema}\0${name}`).digest().readBigInt64BE(0).toString();
}

class PostgresDatabase implements Database {
  readonly driver = 'postgres' as const;
  private readonly q: Queryable;

  constructor(
    private readonly sql: postgres.Sql,
    private readonly schema: string,
  ) {
    this.q = queryable(sql);
  }

  query<T = Record<string, unknown>>(text: string, params?: SqlParam[]): Promise<T[]> {
    return this.q.query<T>(text, params);
  }

  exec(script: string): Promise<void> {
    return this.q.exec(script);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return (await this.sql.begin(async (tx) => {
      const { handle, end } = endingHandle(queryable(tx));
      try {
        return await fn(handle);
      } finally {
        end();
      }
    })) as T;
  }

  /** A session-level advisory lock on a reserved connection: held by exactly that session, freed with it if it dies. */
  async withLock<T>(name: string, fn: () => Promise<T>, wait = true): Promise<T | null> {
    const key = lockKey(this.schema, name);
    const conn = await this.sql.reserve();
    try {
      if (wait) {
        await runQuery(conn, 'SELECT pg_advisory_lock($1::bigint)', [key]);
      } else {
        const [row] = await runQuery<{ ok: boolean }>(conn, 'SELECT pg_try_advisory_lock($1::bigint) AS ok', [key]);
        if (!row?.ok) return null;
      }
      try {
        return await fn();
      } finally {
        await runQuery(conn, 'SELECT pg_advisory_unlock($1::bigint)', [key]);
      }
    } finally {
      conn.release();
    }
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}

/** PostgreSQL through `postgres` (porsager): server mode, any number of replicas on one database/schema. */
export async function openPostgres(url: string, opts: PostgresOptions = {}): Promise<Database> {
  const { schema } = opts;
  if (schema !== undefined && !SCHEMA_RE.test(schema)) {
    throw new DatabaseSetupError(`invalid schema name "${schema}": use 1-63 letters, digits and "_", not starting with a digit`);
  }
  const sql = postgres(url, {
    max: opts.max ?? 10,
    onnotice: () => {},
    types,
    ...(schema ? { connection: { search_path: `"${schema}"` } } : {}),
  });
  try {
    if (schema) await createSchema(sql, schema);
    else await sql.unsafe('SELECT 1');
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw new DatabaseSetupError(`cannot use PostgreSQL at ${redact(url)}: ${(err as Error).message}`, { cause: err });
  }
  return new PostgresDatabase(sql, schema ?? '');
}

async function createSchema(sql: postgres.Sql, schema: string): Promise<void> {
  try {
    await sql.unsafe(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  } catch (err) {
    // Two replicas creating it at the same instant: one loses on the catalog's unique index; the schema exists.
    const code = sqlState(err);
    if (code !== '23505' && code !== '42P06') throw err;
  }
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
