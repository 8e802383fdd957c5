import type { Digests } from '../hashing/types.js';
import { toCamelRow, toCamelRows } from './rows.js';
import type { Queryable, SqlParam } from './types.js';

/** An artifact (repo + path → blob) with its blob's storage key, which is all a reader needs. */
export interface ArtifactRow {
  repoId: number;
  path: string;
  sha256: string;
  size: number;
  contentType: string | null;
  source: 'local' | 'remote';
  /** Digests besides sha256 (sha512, sha1, md5) that formats announce. */
  digests: Digests;
  etag: string | null;
  lastModified: string | null;
  metadata: Record<string, unknown>;
  fetchedAt: Date | null;
  /** Mutable remote entries: revalidate after this. */
  expiresAt: Date | null;
  lastAccessedAt: Date;
  createdAt: Date;
  updatedAt: Date;
  storageKey: string;
}

/** What a writer supplies; timestamps are the database's. Extra fields (a whole ArtifactRow) are ignored. */
export type ArtifactInput = Omit<ArtifactRow, 'lastAccessedAt' | 'createdAt' | 'updatedAt' | 'storageKey'>;

/** The stored row plus the digest the path pointed to before (null when the path is new). */
export type UpsertedArtifact = ArtifactRow & { previousSha256: string | null };

export interface ListOptions {
  /** Only paths starting with this (plain string, no wildcards). */
  prefix?: string;
  /** Cursor: the last path of the previous page. */
  after?: string;
  limit: number;
}

export interface ArtifactStats {
  count: number;
  totalSize: number;
}

const A_COLUMNS =
  'a.repo_id, a.path, a.sha256, a.size, a.content_type, a.source, a.digests, a.etag, a.last_modified, a.metadata, ' +
  'a.fetched_at, a.expires_at, a.last_accessed_at, a.created_at, a.updated_at';
const SELECT_ROW = `SELECT ${A_COLUMNS}, b.storage_key FROM artifacts a JOIN blobs b ON b.sha256 = a.sha256`;
const INSERT =
  'INSERT INTO artifacts (repo_id, path, sha256, size, content_type, source, digests, etag, last_modified, metadata, fetched_at, expires_at) ' +
  'VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10::jsonb, $11, $12)';

const inputParams = (a: ArtifactInput) => [
  a.repoId,
  a.path,
  a.sha256,
  a.size,
  a.contentType ?? null,
  a.source,
  a.digests ?? {},
  a.etag ?? null,
  a.lastModified ?? null,
  a.metadata ?? {},
  a.fetchedAt ?? null,
  a.expiresAt ?? null,
];

export async function getArtifact(q: Queryable, repoId: number, path: string): Promise<ArtifactRow | null> {
  const [row] = await q.query(`${SELECT_ROW} WHERE a.repo_id = $1 AND a.path = $2`, [repoId, path]);
  return row ? toCamelRow<ArtifactRow>(row) : null;
}

/** Insert a new artifact; null when the path already exists (the race-free "version is immutable"). */
export async function insertArtifact(q: Queryable, a: ArtifactInput): Promise<ArtifactRow | null> {
  const [row] = await q.query(
    `WITH ins AS (${INSERT} ON CONFLICT (repo_id, path) DO NOTHING RETURNING *)
     SELECT ${A_COLUMNS.replaceAll('a.', 'ins.')}, b.storage_key FROM ins JOIN blobs b ON b.sha256 = ins.sha256`,
    inputParams(a),
  );
  return row ? toCamelRow<ArtifactRow>(row) : null;
}

/**
 * Insert or replace (repo, path) in one statement; updated_at and last_accessed_at become now,
 * created_at is kept. previousSha256 comes from the statement's snapshot: with concurrent writers
 * to the same path an intermediate digest may go unreported, so GC must not rely on it alone.
 */
export async function upsertArtifact(q: Queryable, a: ArtifactInput): Promise<UpsertedArtifact> {
  const [row] = await q.query(
    `WITH prev AS (SELECT sha256 FROM artifacts WHERE repo_id = $1 AND path = $2),
     up AS (${INSERT}
       ON CONFLICT (repo_id, path) DO UPDATE SET
         sha256 = EXCLUDED.sha256, size = EXCLUDED.size, content_type = EXCLUDED.content_type, source = EXCLUDED.source,
         digests = EXCLUDED.digests, etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified, metadata = EXCLUDED.metadata,
         fetched_at = EXCLUDED.fetched_at, expires_at = EXCLUDED.expires_at, last_accessed_at = now(), updated_at = now()
       RETURNING *)
     SELECT ${A_COLUMNS.replaceAll('a.', 'up.')}, b.storage_key, (SELECT sha256 FROM prev) AS previous_sha256
       FROM up JOIN blobs b ON b.sha256 = up.sha256`,
    inputParams(a),
  );
  // The foreign key guarantees the blob exists, so the join always yields the row.
  return toCamelRow<UpsertedArtifact>(row!);
}

/**
 * Record reads for LRU eviction (last_accessed_at), for many paths of one repository in one statement. An
 * artifact is written at most once per `minIntervalSeconds`, so a hot path costs an index lookup, not a row
 * version per hit.
 */
export async function touchArtifacts(q: Queryable, repoId: number, paths: string[], minIntervalSeconds = 60): Promise<void> {
  if (paths.length === 0) return;
  const list = paths.map((_, i) => `$${i + 3}`).join(', ');
  await q.query(
    `UPDATE artifacts SET last_accessed_at = now()
      WHERE repo_id = $1 AND path IN (${list}) AND last_accessed_at < now() - $2::integer * interval '1 second'`,
    [repoId, minIntervalSeconds, ...paths],
  );
}

/** Delete one artifact; returns what it pointed to (for blob GC), or null when absent. */
export async function deleteArtifact(q: Queryable, repoId: number, path: string): Promise<{ sha256: string; size: number } | null> {
  const [row] = await q.query<{ sha256: string; size: number }>(
    'DELETE FROM artifacts WHERE repo_id = $1 AND path = $2 RETURNING sha256, size',
    [repoId, path],
  );
  return row ?? null;
}

/**
 * Artifacts of a repository whose path starts with `prefix`, in path (byte) order, after the
 * cursor. The prefix becomes an index range [prefix, upper bound), so a page costs O(limit).
 */
export async function listArtifacts(q: Queryable, repoId: number, opts: ListOptions): Promise<ArtifactRow[]> {
  if (!Number.isSafeInteger(opts.limit) || opts.limit < 1) throw new RangeError(`limit must be a positive integer, got ${opts.limit}`);
  const prefix = opts.prefix ?? '';
  const upper = prefixUpperBound(prefix);
  const params = [repoId, prefix, opts.after ?? '', opts.limit];
  let where = 'a.repo_id = $1 AND a.path >= $2 AND a.path > $3';
  if (upper !== null) {
    where += ' AND a.path < $5';
    params.push(upper);
  }
  return toCamelRows<ArtifactRow>(await q.query(`${SELECT_ROW} WHERE ${where} ORDER BY a.path LIMIT $4`, params));
}

/**
 * The smallest string greater than every string that starts with `prefix`, in code point order
 * (= UTF-8 byte order = COLLATE "C"): the last code point incremented. null when there is none
 * (empty prefix, or only U+10FFFF code points).
 */
export function prefixUpperBound(prefix: string): string | null {
  const cps = Array.from(prefix, (c) => c.codePointAt(0)!);
  while (cps.length > 0) {
    let next = cps.pop()! + 1;
    if (next >= 0xd800 && next <= 0xdfff) next = 0xe000; // surrogates are not characters in UTF-8
    if (next <= 0x10ffff) return String.fromCodePoint(...cps, next);
  }
  return null;
}

/** Number and total size of a repository's artifacts. */
export async function artifactStats(q: Queryable, repoId: number): Promise<ArtifactStats> {
  const [row] = await q.query<ArtifactStats>(
    'SELECT count(*) AS "count", COALESCE(sum(size), 0) AS "totalSize" FROM artifacts WHERE repo_id = $1',
    [repoId],
  );
  return row!;
}

/** Number and total size of artifacts for every repository that has any, by repository id. */
export async function artifactStatsByRepo(q: Queryable): Promise<Map<number, ArtifactStats>> {
  const rows = await q.query<ArtifactStats & { repoId: number }>(
    'SELECT repo_id AS "repoId", count(*) AS "count", COALESCE(sum(size), 0) AS "totalSize" FROM artifacts GROUP BY repo_id',
  );
  return new Map(rows.map((r) => [r.repoId, { count: r.count, totalSize: r.totalSize }]));
}

/**
 * A value that changes whenever an artifact under `prefix` is added, replaced or removed (count and newest
 * update): generated indexes are cached under it, so every replica rebuilds only after a real change.
 */
export async function artifactsVersion(q: Queryable, repoId: number, prefix: string): Promise<string> {
  const upper = prefixUpperBound(prefix);
  const params: SqlParam[] = [repoId, prefix];
  let where = 'repo_id = $1 AND path >= $2';
  if (upper !== null) {
    where += ' AND path < $3';
    params.push(upper);
  }
  const [row] = await q.query<{ n: string; newest: string | null }>(
    `SELECT count(*)::text AS n, (extract(epoch from max(updated_at)) * 1000000)::bigint::text AS newest FROM artifacts WHERE ${where}`,
    params,
  );
  return `${row?.n ?? 0}:${row?.newest ?? 0}`;
}

/**
 * Mark a link as in use again (its updated_at moves to now) and tell whether it exists. A manifest push calls it
 * for every blob and child manifest it names, and garbage collection deletes links only while they are older than
 * its cutoff (deleteArtifactIfOlder): whichever comes first wins, and a push never names a link GC just removed.
 */
export async function refreshArtifact(q: Queryable, repoId: number, path: string): Promise<boolean> {
  return (await q.query('UPDATE artifacts SET updated_at = now() WHERE repo_id = $1 AND path = $2 RETURNING 1', [repoId, path])).length > 0;
}

/** Delete only if not updated since `cutoff` (see refreshArtifact). */
export async function deleteArtifactIfOlder(q: Queryable, repoId: number, path: string, cutoff: Date): Promise<boolean> {
  return (await q.query('DELETE FROM artifacts WHERE repo_id = $1 AND path = $2 AND updated_at < $3 RETURNING 1', [repoId, path, cutoff])).length > 0;
}
