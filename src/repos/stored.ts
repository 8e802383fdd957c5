import type { BlobService } from '../blobs/blob-service.js';
import type { ArtifactRow } from '../db/artifacts-table.js';
import type { ArtifactSource, Servable } from './servable.js';

/** A committed artifact as a Servable: every header comes from metadata, the blob is opened only for a body. */
export function storedServable(blobs: BlobService, row: ArtifactRow, source: ArtifactSource): Servable {
  return {
    source,
    size: row.size,
    contentType: row.contentType ?? 'application/octet-stream',
    sha256: row.sha256,
    etag: row.etag ?? `"${row.sha256}"`,
    lastModified: row.lastModified ?? row.updatedAt.toUTCString(),
    rangeable: true,
    open: (range, signal) => blobs.open(row, range, signal),
    inMemory: () => blobs.cachedSmall(row.sha256),
  };
}
