import type { DigestLocks } from '../blobs/digest-locks.js';
import { blobKeyExists, deleteBlobIfCollectable, unreferencedBlobs } from '../db/blobs-table.js';
import type { Database } from '../db/types.js';
import type { Logger } from '../log.js';
import type { Repository } from '../repos/model.js';
import type { ArtifactRowCache } from '../repos/row-cache.js';
import type { UploadSessions } from '../registry/uploads.js';
import { collectUntagged } from './untagged-manifests.js';
import type { BlobStore } from '../storage/types.js';

export interface GcOptions {
  dryRun?: boolean;
  /** Blobs and objects younger than this are never collected (a push may still be linking them). */
  graceMs: number;
  /** Upload sessions and staged bytes idle longer than this are reaped. */
  uploadMaxAgeMs: number;
}

export interface GcReport {
  dryRun: boolean;
  /** Remote cache entries evicted by a repository's max age or size quota. */
  cacheEntriesEvicted: number;
  /** Docker manifests no tag reaches, in repositories with gc_untagged_manifests. */
  untaggedManifestsDeleted: number;
  /** Layer links only those manifests used. */
  blobLinksDeleted: number;
  blobsDeleted: number;
  bytesFreed: number;
  /** Stored objects no metadata referred to (left by a crash). */
  orphanObjectsDeleted: number;
  uploadSessionsReaped: number;
  stagingFilesReaped: number;
  ms: number;
}

const BATCH = 500;

/**
 * Mark and sweep, safe while the server runs: a blob is deleted only if no artifact refers to it, it is older
 * than the grace period, and its digest lock is free (commits of the same digest hold it). One collector at a
 * time across replicas (a database lock).
 */
export class GarbageCollector {
  constructor(
    private readonly d: { db: Database; rows: ArtifactRowCache; store: BlobStore; locks: DigestLocks; uploads: UploadSessions; repos: () => Repository[]; log: Logger },
  ) {}

  /** null when another replica is collecting right now. */
  run(opts: GcOptions): Promise<GcReport | null> {
    return this.d.db.withLock('artifactapi:gc', () => this.collect(opts), false);
  }

  private async collect(opts: GcOptions): Promise<GcReport> {
    const t0 = performance.now();
    const dryRun = opts.dryRun === true;
    const report: GcReport = { dryRun, cacheEntriesEvicted: 0, untaggedManifestsDeleted: 0, blobLinksDeleted: 0, blobsDeleted: 0, bytesFreed: 0, orphanObjectsDeleted: 0, uploadSessionsReaped: 0, stagingFilesReaped: 0, ms: 0 };
    report.cacheEntriesEvicted = await this.evictRemoteCaches(dryRun);
    const cutoff = new Date(Date.now() - opts.graceMs);
    for (const r of this.d.repos()) {
      if (r.packageType !== 'docker' || r.repoType !== 'local' || r.settings.gc_untagged_manifests !== true) continue;
      const n = await collectUntagged(this.d.db, this.d.store, r, cutoff, dryRun);
      report.untaggedManifestsDeleted += n.manifests;
      report.blobLinksDeleted += n.links;
      if (!dryRun && n.manifests + n.links > 0) await this.d.rows.changedRepo(r.id);
    }

    // Sweep unreferenced blobs, in batches; a dry run only counts.
    let after = new Set<string>();
    for (;;) {
      const batch = (await unreferencedBlobs(this.d.db, cutoff, BATCH)).filter((b) => !after.has(b.sha256));
      if (batch.length === 0) break;
      for (const b of batch) {
        after.add(b.sha256);
        if (dryRun) {
          report.blobsDeleted++;
          report.bytesFreed += b.size;
          continue;
        }
        await this.d.locks.ifFree(b.sha256, async () => {
          const key = await deleteBlobIfCollectable(this.d.db, b.sha256, cutoff);
          if (!key) return;
          await this.d.store.delete(key);
          report.blobsDeleted++;
          report.bytesFreed += b.size;
        });
      }
      if (dryRun && after.size >= 100_000) break;
    }
    after = new Set();

    // Objects no blob row names, older than the grace period: crashes between upload and commit.
    for await (const o of this.d.store.list()) {
      if (o.mtime >= cutoff || (await blobKeyExists(this.d.db, o.key))) continue;
      const sha = /^sha256\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(o.key)?.[1];
      const remove = async () => {
        if (await blobKeyExists(this.d.db, o.key)) return;
        if (!dryRun) await this.d.store.delete(o.key);
        report.orphanObjectsDeleted++;
      };
      if (sha) await this.d.locks.ifFree(sha, remove);
      else await remove();
    }

    if (!dryRun) {
      report.uploadSessionsReaped = (await this.d.uploads.reap(opts.uploadMaxAgeMs)) ?? 0;
      report.stagingFilesReaped = await this.d.store.sweepStaging(opts.uploadMaxAgeMs).catch(() => 0);
    }
    report.ms = Math.round(performance.now() - t0);
    this.d.log.info({ ...report }, 'garbage collection finished');
    return report;
  }

  /** Remote repositories with `cache_max_age_seconds` / `cache_max_bytes`: least recently used entries go first. */
  private async evictRemoteCaches(dryRun: boolean): Promise<number> {
    // Reads recorded here but not yet written count: what was just read is not the least recently used.
    await this.d.rows.flushReads();
    let n = 0;
    for (const r of this.d.repos()) {
      if (r.repoType !== 'remote') continue;
      const before = n;
      const maxAge = r.settings.cache_max_age_seconds;
      if (maxAge !== undefined) {
        const sql = dryRun
          ? `SELECT count(*)::int AS n FROM artifacts WHERE repo_id = $1 AND last_accessed_at < now() - make_interval(secs => $2)`
          : `WITH d AS (DELETE FROM artifacts WHERE repo_id = $1 AND last_accessed_at < now() - make_interval(secs => $2) RETURNING 1) SELECT count(*)::int AS n FROM d`;
        n += (await this.d.db.query<{ n: number }>(sql, [r.id, maxAge]))[0]?.n ?? 0;
      }
      const quota = r.settings.cache_max_bytes;
      if (quota !== undefined) {
        // Keep the most recently used entries whose running total fits the quota; evict the rest.
        const sql = `WITH ranked AS (
            SELECT path, sum(size) OVER (ORDER BY last_accessed_at DESC, path) AS running FROM artifacts WHERE repo_id = $1
          ) ${dryRun ? 'SELECT count(*)::int AS n FROM ranked WHERE running > $2' : `, d AS (DELETE FROM artifacts a USING ranked WHERE a.repo_id = $1 AND a.path = ranked.path AND ranked.running > $2 RETURNING 1) SELECT count(*)::int AS n FROM d`}`;
        n += (await this.d.db.query<{ n: number }>(sql, [r.id, quota]))[0]?.n ?? 0;
      }
      if (!dryRun && n > before) await this.d.rows.changedRepo(r.id);
    }
    return n;
  }
}
