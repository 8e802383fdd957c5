import { randomUUID } from 'node:crypto';
import type { Cache } from '../cache/types.js';
import { getArtifact, type ArtifactRow } from '../db/artifacts-table.js';
import type { Database } from '../db/types.js';
import type { Logger } from '../log.js';
import { AccessRecorder } from './access-recorder.js';

const CHANNEL = 'artifacts-changed';
const MAX_ENTRIES = 200_000;
/** A bound on staleness should an invalidation message be lost (a Redis reconnect). */
const TTL_MS = 30_000;
/** Reads refresh last_accessed_at (cache eviction by LRU) at most this often per artifact. */
const TOUCH_EVERY_MS = 60_000;

interface Entry {
  row: ArtifactRow;
  at: number;
  touchedAt: number;
}

/**
 * Artifact rows read on the hot path (manifests by tag, blob HEADs, cached files), kept in process memory so a
 * read needs no database round trip. Every write to an artifact calls `changed`, which drops the entry here and
 * tells the other replicas over the cache's pub/sub. A read that raced an invalidation does not store what it
 * read (the epoch check), so an entry is never older than the last invalidation this replica saw.
 */
export class ArtifactRowCache {
  private readonly entries = new Map<string, Entry>();
  private readonly generations = new Map<number, number>();
  private epoch = 0;
  private unsubscribe: (() => Promise<void>) | undefined;
  private readonly reads: AccessRecorder;
  /** Tags this replica's announcements: it has applied them already, its own echo must not drop what it cached. */
  private readonly origin = randomUUID();

  constructor(
    private readonly db: Database,
    private readonly cache: Cache,
    private readonly log: Logger,
  ) {
    this.reads = new AccessRecorder(db, log, TOUCH_EVERY_MS / 1000);
  }

  async init(): Promise<void> {
    this.unsubscribe = await this.cache.subscribe(CHANNEL, (m) => this.onMessage(m));
  }

  async close(): Promise<void> {
    await this.unsubscribe?.();
    await this.reads.close();
  }

  private key(repoId: number, path: string): string {
    return `${repoId}:${this.generations.get(repoId) ?? 0}:${path}`;
  }

  /** `{repoId}\t{path or *}\t{origin}` from any replica. */
  private onMessage(message: string): void {
    const first = message.indexOf('\t');
    const last = message.lastIndexOf('\t');
    if (first <= 0 || last <= first) return;
    if (message.slice(last + 1) === this.origin) return;
    this.drop(Number(message.slice(0, first)), message.slice(first + 1, last));
  }

  private drop(repoId: number, path: string): void {
    this.epoch++;
    if (path === '*') this.generations.set(repoId, (this.generations.get(repoId) ?? 0) + 1);
    else this.entries.delete(this.key(repoId, path));
  }

  async get(repoId: number, path: string): Promise<ArtifactRow | null> {
    const key = this.key(repoId, path);
    const hit = this.entries.get(key);
    if (hit && Date.now() - hit.at < TTL_MS) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit.row;
    }
    const epoch = this.epoch;
    const row = await getArtifact(this.db, repoId, path);
    if (row && epoch === this.epoch) {
      this.entries.set(key, { row, at: Date.now(), touchedAt: hit?.touchedAt ?? 0 });
      if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    } else if (!row) this.entries.delete(key);
    return row;
  }

  /** A read of a cached artifact, for LRU eviction: recorded at most once a minute per entry, written in batches. */
  recordRead(repoId: number, path: string): void {
    const e = this.entries.get(this.key(repoId, path));
    const now = Date.now();
    if (e && now - e.touchedAt < TOUCH_EVERY_MS) return;
    if (e) e.touchedAt = now;
    this.reads.record(repoId, path);
  }

  /** Writes the reads recorded so far (garbage collection reads last_accessed_at). */
  flushReads(): Promise<void> {
    return this.reads.flush();
  }

  /**
   * An artifact was written or deleted: forget it at once here and on every replica. A writer may pass the row it
   * wrote, so the next read here needs no query; a row cached meanwhile from a later write is kept.
   */
  async changed(repoId: number, path: string, written?: ArtifactRow): Promise<void> {
    const key = this.key(repoId, path);
    const before = this.entries.get(key);
    this.drop(repoId, path);
    const epoch = this.epoch;
    await this.publish(repoId, path);
    // Any invalidation since (another write here or elsewhere) makes the written row possibly stale: leave it out.
    if (!written || epoch !== this.epoch) return;
    if (before && before.row.updatedAt.getTime() > written.updatedAt.getTime()) return;
    const at = Date.now();
    this.entries.set(key, { row: written, at, touchedAt: at });
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
  }

  /** Many artifacts of a repository changed (garbage collection, bulk deletes). */
  async changedRepo(repoId: number): Promise<void> {
    this.drop(repoId, '*');
    await this.publish(repoId, '*');
  }

  private async publish(repoId: number, path: string): Promise<void> {
    await this.cache
      .publish(CHANNEL, `${repoId}\t${path}\t${this.origin}`)
      .catch((err) => this.log.warn({ err: (err as Error).message }, 'could not announce an artifact change; other replicas may serve it for up to 30 s'));
  }
}
