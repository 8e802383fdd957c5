import { isForeignKeyViolation } from './errors.js';
import { toCamelRow } from './rows.js';
import type { Queryable } from './types.js';

/** One stored digest, whatever repositories refer to it. */
export interface BlobRow {
  sha256: string;
  size: number;
  storageKey: string;
  createdAt: Date;
}

export type NewBlob = Pick<BlobRow, 'sha256' | 'size' | 'storageKey'>;

const COLUMNS = 'sha256, size, storage_key, created_at';

/**
 * Record a stored blob, or mark the known one as just (re)used (created_at = now(): garbage collection spares it
 * for its grace period while the caller links it). When the digest is already known the existing row wins and is
 * returned: compare its storageKey with yours to know whether your copy is redundant. One statement: ON CONFLICT
 * DO UPDATE works on the latest committed row (and retries a conflicting row deleted meanwhile), so a concurrent
 * writer's or collector's commit is never missed.
 */
export async function upsertBlob(q: Queryable, b: NewBlob): Promise<BlobRow> {
  const [row] = await q.query(
    `INSERT INTO blobs (sha256, size, storage_key) VALUES ($1, $2, $3)
       ON CONFLICT (sha256) DO UPDATE SET created_at = now() RETURNING ${COLUMNS}`,
    [b.sha256, b.size, b.storageKey],
  );
  return toCamelRow<BlobRow>(row!);
}

export async function getBlob(q: Queryable, sha256: string): Promise<BlobRow | null> {
  const [row] = await q.query(`SELECT ${COLUMNS} FROM blobs WHERE sha256 = $1`, [sha256]);
  return row ? toCamelRow<BlobRow>(row) : null;
}

/**
 * Delete the blob row if no artifact refers to it; returns the deleted row (the caller then
 * deletes its storage object) or null. An artifact committed concurrently makes the foreign key
 * refuse the delete, which is reported as null too. Outside a transaction only: inside one, that
 * refusal would abort the transaction.
 */
export async function deleteBlobIfUnreferenced(q: Queryable, sha256: string): Promise<BlobRow | null> {
  try {
    const [row] = await q.query(
      `DELETE FROM blobs b WHERE b.sha256 = $1 AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.sha256 = b.sha256)
       RETURNING ${COLUMNS}`,
      [sha256],
    );
    return row ? toCamelRow<BlobRow>(row) : null;
  } catch (err) {
    if (isForeignKeyViolation(err)) return null;
    throw err;
  }
}

/**
 * Mark a blob as just (re)used: garbage collection spares blobs younger than its grace period, which gives the
 * writer that reuses an unreferenced blob time to insert the artifact that will refer to it.
 */
export async function refreshBlob(q: Queryable, sha256: string): Promise<boolean> {
  return (await q.query('UPDATE blobs SET created_at = now() WHERE sha256 = $1 RETURNING sha256', [sha256])).length > 0;
}

/** Blobs no artifact refers to, older than `before` (GC candidates). */
export async function unreferencedBlobs(q: Queryable, before: Date, limit: number): Promise<BlobRow[]> {
  const rows = await q.query(
    `SELECT ${COLUMNS} FROM blobs b WHERE b.created_at < $1 AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.sha256 = b.sha256) ORDER BY b.created_at LIMIT $2`,
    [before, limit],
  );
  return rows.map((r) => toCamelRow<BlobRow>(r));
}

/** Delete one GC candidate if it still is one (unreferenced and older than `before`); returns its storage key. */
export async function deleteBlobIfCollectable(q: Queryable, sha256: string, before: Date): Promise<string | null> {
  try {
    const [row] = await q.query<{ storage_key: string }>(
      `DELETE FROM blobs b WHERE b.sha256 = $1 AND b.created_at < $2 AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.sha256 = b.sha256) RETURNING storage_key`,
      [sha256, before],
    );
    return row?.storage_key ?? null;
  } catch {
    // An artifact committed concurrently: the foreign key refuses the delete. Not collectable.
    return null;
  }
}

export async function blobKeyExists(q: Queryable, storageKey: string): Promise<boolean> {
  return (await q.query('SELECT 1 FROM blobs WHERE storage_key = $1 LIMIT 1', [storageKey])).length > 0;
}
