import { join } from 'node:path';
import { migrate } from './migrations.js';
import { openPglite } from './pglite.js';
import { openPostgres } from './postgres.js';
import type { Database } from './types.js';

export type DbConfig = {
  /** PostgreSQL URL: server mode. Absent: embedded PGlite. */
  url?: string;
  /** Data directory; PGlite keeps its files in `<dataDir>/pglite`. 'memory://' keeps them in memory. */
  dataDir: string;
  /** PostgreSQL only: schema to create and use (one per test run or per installation sharing a database). */
  schema?: string;
};

/** Open the configured engine and bring its schema up to date before anyone uses it. */
export async function openDatabase(cfg: DbConfig): Promise<Database> {
  const db = cfg.url
    ? await openPostgres(cfg.url, { schema: cfg.schema })
    : await openPglite(cfg.dataDir === 'memory://' ? 'memory://' : join(cfg.dataDir, 'pglite'));
  try {
    await migrate(db);
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
  return db;
}

export type { Database, Queryable, SqlParam } from './types.js';
