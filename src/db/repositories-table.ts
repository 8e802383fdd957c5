import { conflict, notFound } from '../errors.js';
import type { RepoSettings, RepoType, Repository, UpstreamConfig } from '../repos/model.js';
import { isUniqueViolation } from './errors.js';
import { toCamelRow, toCamelRows } from './rows.js';
import type { Queryable } from './types.js';

/** A row of `repositories`; the JSON columns are trusted as validated by the repository service on write. */
export type RepositoryRow = Repository;

export type NewRepository = Pick<Repository, 'name' | 'packageType' | 'repoType' | 'upstream' | 'members' | 'settings'> & {
  /** Default 'api'. */
  origin?: 'api' | 'config';
};

/** What can change after creation; name and types are fixed. */
export interface RepositoryChanges {
  upstream: UpstreamConfig | null;
  members: string[];
  settings: RepoSettings;
  /** Unchanged when absent. */
  origin?: 'api' | 'config';
}

const COLUMNS = 'id, name, package_type, repo_type, upstream, members, settings, origin, created_at, updated_at';

/** Insert; a taken name is a 409 REPO_EXISTS (also when another replica won the race). */
export async function insertRepository(q: Queryable, r: NewRepository): Promise<RepositoryRow> {
  try {
    const [row] = await q.query(
      `INSERT INTO repositories (name, package_type, repo_type, upstream, members, settings, origin)
       VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6::jsonb, $7) RETURNING ${COLUMNS}`,
      [r.name, r.packageType, r.repoType, r.upstream, r.members, r.settings, r.origin ?? 'api'],
    );
    return toCamelRow<RepositoryRow>(row!);
  } catch (err) {
    if (isUniqueViolation(err)) throw conflict(`repository "${r.name}" already exists`, 'REPO_EXISTS');
    throw err;
  }
}

/** Replace the mutable fields; 404 REPO_NOT_FOUND when the repository was deleted meanwhile. */
export async function updateRepository(q: Queryable, id: number, r: RepositoryChanges): Promise<RepositoryRow> {
  const [row] = await q.query(
    `UPDATE repositories
        SET upstream = $2::jsonb, members = $3::jsonb, settings = $4::jsonb, origin = COALESCE($5, origin), updated_at = now()
      WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, r.upstream, r.members, r.settings, r.origin ?? null],
  );
  if (!row) throw notFound(`repository ${id} does not exist`, 'REPO_NOT_FOUND');
  return toCamelRow<RepositoryRow>(row);
}

export async function getRepositoryByName(q: Queryable, name: string): Promise<RepositoryRow | null> {
  const [row] = await q.query(`SELECT ${COLUMNS} FROM repositories WHERE name = $1`, [name]);
  return row ? toCamelRow<RepositoryRow>(row) : null;
}

export async function getRepositoryById(q: Queryable, id: number): Promise<RepositoryRow | null> {
  const [row] = await q.query(`SELECT ${COLUMNS} FROM repositories WHERE id = $1`, [id]);
  return row ? toCamelRow<RepositoryRow>(row) : null;
}

/** All repositories, by name. */
export async function listRepositories(q: Queryable): Promise<RepositoryRow[]> {
  return toCamelRows<RepositoryRow>(await q.query(`SELECT ${COLUMNS} FROM repositories ORDER BY name`));
}

/** The named repositories in the order given (a virtual repository's members); unknown names are skipped. */
export async function listRepositoriesByNames(q: Queryable, names: readonly string[]): Promise<RepositoryRow[]> {
  if (names.length === 0) return [];
  const rows = toCamelRows<RepositoryRow>(
    await q.query(`SELECT ${COLUMNS} FROM repositories WHERE name IN (SELECT jsonb_array_elements_text($1::jsonb))`, [names]),
  );
  const byName = new Map(rows.map((r) => [r.name, r]));
  return names.flatMap((n) => byName.get(n) ?? []);
}

/** Delete a repository; its artifacts and upload sessions go with it (blobs stay for GC). */
export async function deleteRepository(q: Queryable, id: number): Promise<boolean> {
  return (await q.query('DELETE FROM repositories WHERE id = $1 RETURNING id', [id])).length > 0;
}
