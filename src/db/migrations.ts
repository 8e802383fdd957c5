import { DatabaseSetupError } from './errors.js';
import { schemaV1 } from './schema.js';
import type { Database } from './types.js';

export interface Migration {
  /** Positive integer; migrations apply in ascending order. */
  version: number;
  name: string;
  /** One or more statements, run in one transaction. */
  sql: string;
}

/** Every migration this build knows, oldest first. Append; never edit or remove a released one. */
export const MIGRATIONS: readonly Migration[] = [schemaV1];

/** The database and this build disagree about the schema; starting would risk the data. */
export class MigrationError extends DatabaseSetupError {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

export interface MigrationResult {
  /** Versions applied by this call, in order. */
  applied: number[];
  /** The schema version after this call. */
  version: number;
}

const LEDGER = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

/**
 * Bring the schema up to date at start-up. Each migration runs in its own transaction together
 * with its ledger row, so a crash leaves it either fully applied or not at all. Replicas starting
 * together serialise on the 'migrations' lock; the second one finds nothing left to do.
 */
export async function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> {
  checkList(migrations);
  const result = await db.withLock('migrations', async () => {
    await db.exec(LEDGER);
    const recorded = await db.query<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version');
    const current = recorded.length > 0 ? recorded[recorded.length - 1]!.version : 0;
    const known = new Map(migrations.map((m) => [m.version, m]));
    const newest = migrations.length > 0 ? migrations[migrations.length - 1]!.version : 0;

    if (current > newest) {
      const r = recorded[recorded.length - 1]!;
      throw new MigrationError(
        `database schema is at version ${r.version} ("${r.name}"), newer than this build of artifactapi knows (${newest}); ` +
          'run a newer artifactapi, or restore a backup taken before the upgrade',
      );
    }
    for (const r of recorded) {
      const m = known.get(r.version);
      if (!m) throw new MigrationError(`database has schema version ${r.version} ("${r.name}") that this build does not know`);
      if (m.name !== r.name) {
        throw new MigrationError(`schema version ${r.version} is "${r.name}" in the database but "${m.name}" in this build; refusing to guess`);
      }
    }

    const applied: number[] = [];
    for (const m of migrations) {
      if (m.version <= current) continue;
      await db.transaction(async (tx) => {
        await tx.exec(m.sql);
        await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      });
      applied.push(m.version);
    }
    return { applied, version: Math.max(current, newest) };
  });
  // withLock only returns null when not waiting; migrations always wait.
  return result!;
}

function checkList(migrations: readonly Migration[]): void {
  let previous = 0;
  for (const m of migrations) {
    if (!Number.isSafeInteger(m.version) || m.version <= previous) {
      throw new MigrationError(`migration versions must be positive integers in ascending order (got ${m.version} after ${previous})`);
    }
    previous = m.version;
  }
}
