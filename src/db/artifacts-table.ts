import type { Digests } from '../hashing/types.js';
import type { Queryable } from './types.js';

/** An artifact with the storage key of its blob (joined), which is all a reader needs. */
export interface ArtifactRow {
  repoId: number;
  path: string;
  sha256: string;
  size: number;
  contentType: string | null;
  source: 'local' | 'remote';
  digests: Digests;
  etag: string | null;
  lastModified: string | null;
  metadata: Record<string, unknown>;
  fetchedAt: Date | null;
  expiresAt: Date | null;
  lastAccessedAt: Date;
  createdAt: Date;
  updatedAt: Date;
  storageKey: string;
}

export type ArtifactInput = Omit<ArtifactRow, 'lastAccessedAt' | 'createdAt' | 'updatedAt' | 'storageKey'>;

interface ArtifactRecord {
  repo_id: number;
  path: string;
  sha256: string;
  size: number;
  content_type: string | null;
  source: 'local' | 'remote';
  digests: Digests;
  etag: string | null;
  last_modified: string | null;
  metadata: Record<string, unknown>;
  fetched_at: Date | null;
  expires_at: Date | null;
  last_accessed_at: Date;
  created_at: Date;
  updated_at: Date;
  storage_key: string;
}

const toRow = (r: ArtifactRecord): ArtifactRow => ({
  repoId: r.repo_id,
  path: r.path,
  sha256: r.sha256,
  size: r.size,
  contentType: r.content_type,
  source: r.source,
  digests: r.digests,
  etag: r.etag,
  lastModified: r.last_modified,
  metadata: r.metadata,
  fetchedAt: r.fetched_at,
  expiresAt: r.expires_at,
  lastAccessedAt: r.last_accessed_at,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  storageKey: r.storage_key,
});

const SELECT = 'SELECT a.*, b.storage_key FROM artifacts a JOIN blobs b ON b.sha256 = a.sha256';
const COLS = 'repo_id, path, sha256, size, content_type, source, digests, etag, last_modified, metadata, fetched_at, expires_at';
const VALS = '$1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10::jsonb, $11, $12';
const params = (a: ArtifactInput) => [a.repoId, a.path, a.sha256, a.size, a.contentType, a.source, a.digests, a.etag, a.lastModified, a.metadata, a.fetchedAt, a.expiresAt];

export async function getArtifact(q: Queryable, repoId: number, path: string): Promise<ArtifactRow | null> {
  const [row] = await q.query<ArtifactRecord>(`${SELECT} WHERE a.repo_id = $1 AND a.path = $2`, [repoId, path]);
  return row ? toRow(row) : null;
}

/** Insert a new artifact; false when the path already exists (the race-free 409). */
export async function insertArtifact(q: Queryable, a: ArtifactInput): Promise<boolean> {
  const rows = await q.query(`INSERT INTO artifacts (${COLS}) VALUES (${VALS}) ON CONFLICT (repo_id, path) DO NOTHING RETURNING path`, params(a));
  return rows.length > 0;
}

/** Insert or replace; returns the stored row (with its blob's storage key). */
export async function upsertArtifact(q: Queryable, a: ArtifactInput): Promise<ArtifactRow> {
  await q.query(
    `INSERT INTO artifacts (${COLS}) VALUES (${VALS})
     ON CONFLICT (repo_id, path) DO UPDATE SET sha256 = EXCLUDED.sha256, size = EXCLUDED.size, content_type = EXCLUDED.content_type,
       source = EXCLUDED.source, digests = EXCLUDED.digests, etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified,
       metadata = EXCLUDED.metadata, fetched_at = EXCLUDED.fetched_at, expires_at = EXCLUDED.expires_at, updated_at = now()`,
    params(a),
  );
  const row = await getArtifact(q, a.repoId, a.path);
  if (!row) throw new Error(`artifact ${a.path} vanished after upsert`);
  return row;
}

/** Record a read for LRU eviction; at most once a minute per artifact so hot paths don't write on every hit. */
export async function touchArtifact(q: Queryable, repoId: number, path: string): Promise<void> {
  await q.query(
    `UPDATE artifacts SET last_accessed_at = now() WHERE repo_id = $1 AND path = $2 AND last_accessed_at < now() - interval '60 seconds'`,
    [repoId, path],
  );
}

export async function deleteArtifact(q: Queryable, repoId: number, path: string): Promise<boolean> {
  return (await q.query('DELETE FROM artifacts WHERE repo_id = $1 AND path = $2 RETURNING path', [repoId, path])).length > 0;
}

/** Artifacts under a path prefix, in path order, after a cursor (the last path of the previous page). */
export async function listArtifacts(q: Queryable, repoId: number, opts: { prefix?: string; after?: string; limit: number }): Promise<ArtifactRow[]> {
  const prefix = opts.prefix ?? '';
  // path is COLLATE "C": byte order, so `>= prefix` is an index range and the cursor compares consistently;
  // left() keeps LIKE wildcards in paths literal.
  const start = opts.after !== undefined && opts.after > prefix ? opts.after : prefix;
  const rows = await q.query<ArtifactRecord>(
    `${SELECT} WHERE a.repo_id = $1 AND a.path >= $2 AND ($3 = '' OR left(a.path, length($3)) = $3) AND ($4::text IS NULL OR a.path > $4)
     ORDER BY a.path LIMIT $5`,
    [repoId, start, prefix, opts.after ?? null, opts.limit],
  );
  return rows.map(toRow);
}
