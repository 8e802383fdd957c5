import { artifactsVersion, getArtifact, listArtifacts, type ArtifactRow } from '../db/artifacts-table.js';
import type { Queryable } from '../db/types.js';
import type { ArtifactEntry, ArtifactQuery } from '../formats/types.js';

const toEntry = (r: ArtifactRow): ArtifactEntry => ({
  path: r.path,
  size: r.size,
  sha256: r.sha256,
  contentType: r.contentType,
  digests: r.digests,
  metadata: r.metadata,
  updatedAt: r.updatedAt,
});

/** The read-only view of one repository's metadata that format hooks get. */
export function artifactQuery(q: Queryable, repoId: number): ArtifactQuery {
  return {
    async get(path) {
      const r = await getArtifact(q, repoId, path);
      return r ? toEntry(r) : null;
    },
    async list(prefix, opts) {
      return (await listArtifacts(q, repoId, { prefix, after: opts.after, limit: opts.limit })).map(toEntry);
    },
    version: (prefix) => artifactsVersion(q, repoId, prefix),
  };
}
