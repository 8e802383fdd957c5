import type { Repository, RepoSettings, RepoType, UpstreamConfig } from '../repos/model.js';
import type { Queryable } from './types.js';

interface RepoRecord {
  id: number;
  name: string;
  package_type: string;
  repo_type: RepoType;
  upstream: UpstreamConfig | null;
  members: string[];
  settings: RepoSettings;
  origin: 'api' | 'config';
  created_at: Date;
  updated_at: Date;
}

const toRepo = (r: RepoRecord): Repository => ({
  id: r.id,
  name: r.name,
  packageType: r.package_type,
  repoType: r.repo_type,
  upstream: r.upstream,
  members: r.members,
  settings: r.settings,
  origin: r.origin,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export interface RepoInput {
  name: string;
  packageType: string;
  repoType: RepoType;
  upstream: UpstreamConfig | null;
  members: string[];
  settings: RepoSettings;
  origin?: 'api' | 'config';
}

export async function insertRepository(q: Queryable, r: RepoInput): Promise<Repository> {
  const [row] = await q.query<RepoRecord>(
    `INSERT INTO repositories (name, package_type, repo_type, upstream, members, settings, origin)
     VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6::jsonb, $7) RETURNING *`,
    [r.name, r.packageType, r.repoType, r.upstream, r.members, r.settings, r.origin ?? 'api'],
  );
  return toRepo(row!);
}

export async function updateRepository(q: Queryable, id: number, r: Omit<RepoInput, 'origin'>): Promise<Repository> {
  const [row] = await q.query<RepoRecord>(
    `UPDATE repositories SET upstream = $2::jsonb, members = $3::jsonb, settings = $4::jsonb, updated_at = now()
     WHERE id = $1 RETURNING *`,
    [id, r.upstream, r.members, r.settings],
  );
  if (!row) throw new Error(`repository ${id} vanished during update`);
  return toRepo(row);
}

export async function getRepositoryByName(q: Queryable, name: string): Promise<Repository | null> {
  const [row] = await q.query<RepoRecord>('SELECT * FROM repositories WHERE name = $1', [name]);
  return row ? toRepo(row) : null;
}

export async function listRepositories(q: Queryable): Promise<Repository[]> {
  return (await q.query<RepoRecord>('SELECT * FROM repositories ORDER BY name')).map(toRepo);
}

export async function deleteRepository(q: Queryable, id: number): Promise<boolean> {
  return (await q.query('DELETE FROM repositories WHERE id = $1 RETURNING id', [id])).length > 0;
}
