import type { Queryable } from './types.js';

export interface BlobRow {
  sha256: string;
  size: number;
  storageKey: string;
  createdAt: Date;
}

interface BlobRecord {
  sha256: string;
  size: number;
  storage_key: string;
  created_at: Date;
}

const toBlob = (r: BlobRecord): BlobRow => ({ sha256: r.sha256, size: r.size, storageKey: r.storage_key, createdAt: r.created_at });

/** Record a stored blob; when the digest is already known the existing row wins (one copy per digest). */
export async function insertBlobIfAbsent(q: Queryable, b: { sha256: string; size: number; storageKey: string }): Promise<BlobRow> {
  const inserted = await q.query<BlobRecord>(
    'INSERT INTO blobs (sha256, size, storage_key) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING RETURNING *',
    [b.sha256, b.size, b.storageKey],
  );
  if (inserted[0]) return toBlob(inserted[0]);
  const existing = await getBlob(q, b.sha256);
  if (!existing) throw new Error(`blob ${b.sha256} conflicted but is gone`);
  return existing;
}

export async function getBlob(q: Queryable, sha256: string): Promise<BlobRow | null> {
  const [row] = await q.query<BlobRecord>('SELECT * FROM blobs WHERE sha256 = $1', [sha256]);
  return row ? toBlob(row) : null;
}

/** Delete a blob row only if no artifact refers to it; returns the row deleted. */
export async function deleteBlobIfUnreferenced(q: Queryable, sha256: string): Promise<BlobRow | null> {
  const [row] = await q.query<BlobRecord>(
    'DELETE FROM blobs b WHERE b.sha256 = $1 AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.sha256 = b.sha256) RETURNING *',
    [sha256],
  );
  return row ? toBlob(row) : null;
}
