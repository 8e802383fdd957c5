import type { Queryable } from '../db/types.js';

/** Tags of one image in a repository, lexically after `last`, at most `n`. */
export async function listTags(q: Queryable, repoId: number, image: string, last: string | undefined, n: number): Promise<string[]> {
  const prefix = `${image}/manifests/`;
  const rows = await q.query<{ path: string }>(
    `SELECT path FROM artifacts WHERE repo_id = $1 AND path > $2 AND left(path, length($3)) = $3 AND position(':' in substr(path, length($3) + 1)) = 0
     ORDER BY path LIMIT $4`,
    [repoId, prefix + (last ?? ''), prefix, n],
  );
  return rows.map((r) => r.path.slice(prefix.length));
}

/** `{repo}/{image}` names that have at least one manifest, across the given repositories. */
export async function listCatalog(q: Queryable, repoIds: number[], last: string | undefined, n: number): Promise<string[]> {
  if (repoIds.length === 0) return [];
  const rows = await q.query<{ name: string }>(
    `SELECT DISTINCT r.name || '/' || substring(a.path from '^(.*)/manifests/[^/]+$') AS name
     FROM artifacts a JOIN repositories r ON r.id = a.repo_id
     WHERE a.repo_id IN (SELECT jsonb_array_elements_text($1::jsonb)::int) AND a.path ~ '/manifests/[^/]+$'
     ORDER BY 1`,
    [repoIds],
  );
  const names = rows.map((r) => r.name).filter((x) => last === undefined || x > last);
  return names.slice(0, n);
}

export interface ReferrerRow {
  sha256: string;
  size: number;
  contentType: string | null;
  metadata: Record<string, unknown>;
}

/** Manifests of an image whose `subject` is the given digest. */
export async function listReferrers(q: Queryable, repoId: number, image: string, subject: string): Promise<ReferrerRow[]> {
  const prefix = `${image}/manifests/sha256:`;
  return q.query<ReferrerRow>(
    `SELECT sha256, size, content_type AS "contentType", metadata FROM artifacts
     WHERE repo_id = $1 AND left(path, length($2)) = $2 AND metadata->>'subject' = $3 ORDER BY path`,
    [repoId, prefix, subject],
  );
}

/** Delete the tags of an image that point at a manifest (its digest was deleted). */
export async function deleteTagsOf(q: Queryable, repoId: number, image: string, sha256: string): Promise<void> {
  await q.query(
    `DELETE FROM artifacts WHERE repo_id = $1 AND left(path, length($2)) = $2 AND sha256 = $3`,
    [repoId, `${image}/manifests/`, sha256],
  );
}
