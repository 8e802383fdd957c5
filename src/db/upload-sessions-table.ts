import type { Queryable } from './types.js';

export interface UploadSession<S = Record<string, unknown>> {
  id: string;
  repoId: number;
  kind: string;
  state: S;
  size: number;
  createdAt: Date;
  updatedAt: Date;
}

interface Rec {
  id: string;
  repo_id: number;
  kind: string;
  state: unknown;
  size: number;
  created_at: Date;
  updated_at: Date;
}

const toRow = <S>(r: Rec): UploadSession<S> => ({ id: r.id, repoId: r.repo_id, kind: r.kind, state: r.state as S, size: r.size, createdAt: r.created_at, updatedAt: r.updated_at });

export async function insertUploadSession<S>(q: Queryable, s: { id: string; repoId: number; kind: string; state: S }): Promise<void> {
  await q.query('INSERT INTO upload_sessions (id, repo_id, kind, state, size) VALUES ($1, $2, $3, $4::jsonb, 0)', [s.id, s.repoId, s.kind, s.state as object]);
}

export async function getUploadSession<S>(q: Queryable, id: string): Promise<UploadSession<S> | null> {
  const [r] = await q.query<Rec>('SELECT * FROM upload_sessions WHERE id = $1', [id]);
  return r ? toRow<S>(r) : null;
}

/**
 * Record the state after an append, only if nobody else appended meanwhile (compare-and-set on the size):
 * two replicas racing on one session cannot both win.
 */
export async function advanceUploadSession<S>(q: Queryable, id: string, expectedSize: number, state: S, size: number): Promise<boolean> {
  const rows = await q.query('UPDATE upload_sessions SET state = $3::jsonb, size = $4, updated_at = now() WHERE id = $1 AND size = $2 RETURNING id', [id, expectedSize, state as object, size]);
  return rows.length > 0;
}

export async function deleteUploadSession(q: Queryable, id: string): Promise<boolean> {
  return (await q.query('DELETE FROM upload_sessions WHERE id = $1 RETURNING id', [id])).length > 0;
}

/** Sessions untouched since `before` (abandoned uploads to reap). */
export async function staleUploadSessions<S>(q: Queryable, before: Date, limit = 1000): Promise<UploadSession<S>[]> {
  return (await q.query<Rec>('SELECT * FROM upload_sessions WHERE updated_at < $1 ORDER BY updated_at LIMIT $2', [before, limit])).map((r) => toRow<S>(r));
}
