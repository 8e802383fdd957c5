import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { migrate } from './migrations.js';
import { hasDatabase, openPglite } from './pglite.js';
import { openPostgres } from './postgres.js';
import type { Database } from './types.js';

export type DbConfig = {
  /** PostgreSQL URL: server mode. Absent: embedded PGlite. */
  url?: string;
  /** Data directory; PGlite keeps its files in `<dataDir>/pglite`. 'memory://' keeps them in memory. */
  dataDir: string;
  /** PostgreSQL only: schema to create and use (one per test run or per installation sharing a database). */
  schema?: string;
  /** Told when a fresh embedded database is created again after its engine aborted. */
  onRetry?: (err: unknown) => void;
};

async function migrated(db: Database): Promise<Database> {
  try {
    await migrate(db);
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
  return db;
}

/** PGlite reports a crash of its WebAssembly PostgreSQL as a bare `Aborted()` RuntimeError. */
function isEngineAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'RuntimeError' || err.message.startsWith('Aborted('));
}

/** Open the configured engine and bring its schema up to date before anyone uses it. */
export async function openDatabase(cfg: DbConfig): Promise<Database> {
  if (cfg.url) return migrated(await openPostgres(cfg.url, { schema: cfg.schema }));
  const dir = cfg.dataDir === 'memory://' ? 'memory://' : join(cfg.dataDir, 'pglite');
  // Only a database this call creates may be thrown away: an existing one that aborts stays as it is, for its owner.
  const fresh = dir === 'memory://' || !(await hasDatabase(dir));
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrated(await openPglite(dir));
    } catch (err) {
      // PGlite's engine has been seen to abort at random during initdb (rarely; not reproduced on demand). initdb runs
      // in a directory of its own (see openPglite), but an abort on the first open of what it made would leave a
      // database that aborts every later start: a fresh one is removed and created once more.
      if (!fresh || attempt > 1 || !isEngineAbort(err)) throw err;
      if (dir !== 'memory://') await rm(dir, { recursive: true, force: true });
      cfg.onRetry?.(err);
    }
  }
}

export type { Database, Queryable, SqlParam } from './types.js';
