import type { Metrics } from '../api/metrics.js';
import type { BlobService } from '../blobs/blob-service.js';
import { deleteArtifact, getArtifact, insertArtifact, upsertArtifact } from '../db/artifacts-table.js';
import type { Database } from '../db/types.js';
import { conflict, forbidden, HttpError, notFound, tooLarge } from '../errors.js';
import { Readable } from 'node:stream';
import type { FormatContext, FormatProvider, PublishOptions } from '../formats/types.js';
import type { HttpRequest } from '../http/types.js';
import type { ArtifactRowCache } from './row-cache.js';
import type { Servable } from './servable.js';
import { storedServable } from './stored.js';

export interface LocalDeps {
  db: Database;
  rows: ArtifactRowCache;
  blobs: BlobService;
  metrics: Metrics;
  maxUploadBytes: number;
}

export interface PutResult {
  path: string;
  sha256: string;
  size: number;
  created: boolean;
}

/** Hosted repositories: uploads stream through the hasher into the store; versions are immutable unless the repo says otherwise. */
export class LocalRepositories {
  constructor(private readonly d: LocalDeps) {}

  async open(fmt: FormatProvider, ctx: FormatContext, path: string): Promise<Servable | null> {
    const generated = await fmt.generate?.(ctx, path);
    if (generated) return generated;
    const row = await this.d.rows.get(ctx.repo.id, path);
    return row ? storedServable(this.d.blobs, row, 'local') : null;
  }

  async put(fmt: FormatProvider, ctx: FormatContext, rawPath: string, req: HttpRequest): Promise<PutResult> {
    const path = fmt.validateUpload ? fmt.validateUpload(ctx, rawPath, req) : rawPath;
    const type = req.header('content-type');
    return this.store(fmt, ctx, path, req.body(), {
      size: req.contentLength,
      expected: checksumHeaders(req),
      contentType: type && type !== 'application/x-www-form-urlencoded' ? type : undefined,
      signal: req.signal,
    });
  }

  /**
   * Store one artifact: stream through the hasher into staging, let the format inspect it, then commit the blob
   * and insert the row (409 when the path exists, unless overwriting). Nothing is visible before the insert.
   */
  async store(fmt: FormatProvider, ctx: FormatContext, path: string, body: Readable | Buffer, opts: PublishOptions = {}): Promise<PutResult> {
    const repo = ctx.repo;
    if (path === '' || path.endsWith('/')) throw new HttpError(400, 'PATH_INVALID', 'upload path must name a file');
    const max = Math.min(this.d.maxUploadBytes, repo.settings.max_upload_bytes ?? Infinity);
    const size = Buffer.isBuffer(body) ? body.length : opts.size;
    if (size !== undefined && size > max) {
      throw tooLarge(`upload of ${size} bytes exceeds the limit of ${max} bytes`, 'SIZE_LIMIT_EXCEEDED');
    }
    const overwrite = opts.overwrite ?? repo.settings.allow_overwrite === true;
    // Cheap early refusal; the insert below is what makes it race-free.
    if (!overwrite && (await getArtifact(this.d.db, repo.id, path))) throw conflict(`${path} already exists in ${repo.name}`, 'ALREADY_EXISTS');
    this.d.metrics.uploadsInFlight.inc({}, 1);
    try {
      const blob = await this.d.blobs.ingest(Buffer.isBuffer(body) ? Readable.from([body]) : body, {
        maxBytes: max,
        expectedSize: size,
        expected: opts.expected ?? {},
        signal: opts.signal,
      });
      try {
        const inspected = (await fmt.inspectUpload?.(ctx, path, blob)) ?? {};
        const row = {
          repoId: repo.id,
          path,
          sha256: blob.sha256,
          size: blob.size,
          contentType: opts.contentType ?? fmt.contentType(path),
          source: 'local' as const,
          digests: Object.fromEntries(Object.entries(blob.digests).filter(([a]) => a !== 'sha256')),
          etag: null,
          lastModified: null,
          metadata: { ...inspected, ...opts.metadata },
          fetchedAt: null,
          expiresAt: null,
        };
        await blob.commit();
        if (overwrite) {
          await upsertArtifact(this.d.db, row);
          await this.d.rows.changed(repo.id, path);
          return { path, sha256: blob.sha256, size: blob.size, created: true };
        }
        if (!(await insertArtifact(this.d.db, row))) throw conflict(`${path} already exists in ${repo.name}`, 'ALREADY_EXISTS');
        await this.d.rows.changed(repo.id, path);
        return { path, sha256: blob.sha256, size: blob.size, created: true };
      } catch (err) {
        await blob.discard();
        throw err;
      }
    } finally {
      this.d.metrics.uploadsInFlight.inc({}, -1);
    }
  }

  async delete(ctx: FormatContext, path: string): Promise<void> {
    if (!(await this.remove(ctx, path))) throw notFound(`${path} not found in ${ctx.repo.name}`, 'ARTIFACT_NOT_FOUND');
  }

  /** Delete if present (the blob goes when GC finds it unreferenced); false when there was nothing. */
  async remove(ctx: FormatContext, path: string): Promise<boolean> {
    if (ctx.repo.settings.allow_delete === false) throw forbidden(`deletes are disabled on ${ctx.repo.name}`, 'DELETE_DISABLED');
    const deleted = (await deleteArtifact(this.d.db, ctx.repo.id, path)) !== null;
    if (deleted) await this.d.rows.changed(ctx.repo.id, path);
    return deleted;
  }
}

/** Artifactory-style checksum headers let a client have its upload verified end to end. */
function checksumHeaders(req: HttpRequest) {
  const out: Record<string, string> = {};
  const pairs = [
    ['sha256', 'x-checksum-sha256', 64],
    ['sha1', 'x-checksum-sha1', 40],
    ['md5', 'x-checksum-md5', 32],
  ] as const;
  for (const [alg, header, len] of pairs) {
    const v = req.header(header)?.trim().toLowerCase();
    if (v === undefined) continue;
    if (!new RegExp(`^[0-9a-f]{${len}}$`).test(v)) throw new HttpError(400, 'DIGEST_INVALID', `${header} must be ${len} hex characters`);
    out[alg] = v;
  }
  return out;
}
