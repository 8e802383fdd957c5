import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '../../src/db/index.js';
import { openPglite } from '../../src/db/pglite.js';
import { openPostgres } from '../../src/db/postgres.js';
import type { Database, Queryable, SqlParam } from '../../src/db/types.js';

export const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  readonly name: 'postgres' | 'pglite';
  /** A fresh database, migrated through openDatabase. On PostgreSQL closing it also drops its schema. */
  open(): Promise<Database>;
  /** A fresh, empty database: no migrations applied. */
  openRaw(): Promise<Database>;
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
let reachable: boolean | undefined;

/** Probe with the real driver (host, auth and database), once per test process. */
function postgresReachable(): boolean {
  if (reachable !== undefined) return reachable;
  const probe = `import postgres from 'postgres';
const sql = postgres(process.argv[1], { connect_timeout: 3, max: 1, onnotice: () => {} });
try { await sql\`SELECT 1\`; }
catch (e) { console.error([e.code, e.message].filter(Boolean).join(': ')); process.exitCode = 1; }
finally { await sql.end({ timeout: 1 }); }`;
  try {
    execFileSync(process.execPath, ['--input-type=module', '-e', probe, PG_URL], { cwd: repoRoot, stdio: 'pipe', timeout: 10_000 });
    reachable = true;
  } catch (err) {
    reachable = false;
    const why = (err as { stderr?: Buffer }).stderr?.toString().trim() || String(err);
    console.warn(
      `\n!!!!!!!! SKIPPING PostgreSQL database tests: cannot connect to ${PG_URL} (${why}).\n` +
        `!!!!!!!! Start it (scripts/services.sh) or set DATABASE_URL. Only PGlite was tested. !!!!!!!!\n`,
    );
  }
  return reachable;
}

/** A handle whose close() first runs `cleanup` on the same database. */
function withCleanup(db: Database, cleanup: (q: Queryable) => Promise<void>): Database {
  return {
    driver: db.driver,
    query: <T = Record<string, unknown>>(sql: string, params?: SqlParam[]) => db.query<T>(sql, params),
    exec: (script: string) => db.exec(script),
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) => db.transaction(fn),
    withLock: <T>(name: string, fn: () => Promise<T>, wait?: boolean) => db.withLock(name, fn, wait),
    close: async () => {
      try {
        await cleanup(db);
      } finally {
        await db.close();
      }
    },
  };
}

const freshSchema = () => `t_db_${process.pid}_${randomBytes(5).toString('hex')}`;
const dropSchema = (schema: string) => (q: Queryable) => q.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);

const postgresEntry: TestDatabase = {
  name: 'postgres',
  async open() {
    const schema = freshSchema();
    return withCleanup(await openDatabase({ url: PG_URL, dataDir: 'memory://', schema }), dropSchema(schema));
  },
  async openRaw() {
    const schema = freshSchema();
    return withCleanup(await openPostgres(PG_URL, { schema, max: 4 }), dropSchema(schema));
  },
};

const pgliteEntry: TestDatabase = {
  name: 'pglite',
  open: () => openDatabase({ dataDir: 'memory://' }),
  openRaw: () => openPglite('memory://'),
};

/** The drivers a suite runs against: PostgreSQL (when reachable, else a loud warning) and in-memory PGlite. */
export function testDatabases(): TestDatabase[] {
  return postgresReachable() ? [postgresEntry, pgliteEntry] : [pgliteEntry];
}
