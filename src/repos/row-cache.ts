import type { Cache } from '../cache/types.js';
import { getArtifact, type ArtifactRow } from '../db/artifacts-table.js';
import type { Database } from '../db/types.js';
import type { Logger } from '../log.js';

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

  constructor(
    private readonly db: Database,
    private readonly cache: Cache,
    private readonly log: Logger,
  ) {}

  async init(): Promise<void> {
    this.unsubscribe = await this.cache.subscribe(CHANNEL, (m) => this.drop(m));
  }

  async close(): Promise<void> {
    await this.unsubscribe?.();
  }

  private key(repoId: number, path: string): string {
    return `${repoId}:${this.generations.get(repoId) ?? 0}:${path}`;
  }

  private drop(message: string): void {
    this.epoch++;
    const tab = message.indexOf('\t');
    const repoId = Number(message.slice(0, tab));
    const path = message.slice(tab + 1);
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

  /** Whether a read should record an access now (see TOUCH_EVERY_MS); true at most once a minute per entry. */
  shouldTouch(repoId: number, path: string): boolean {
    const e = this.entries.get(this.key(repoId, path));
    const now = Date.now();
    if (e && now - e.touchedAt < TOUCH_EVERY_MS) return false;
    if (e) e.touchedAt = now;
    return true;
  }

  /** An artifact was written or deleted: forget it here at once, and on every replica. */
  async changed(repoId: number, path: string): Promise<void> {
    await this.announce(`${repoId}\t${path}`);
  }

  /** Many artifacts of a repository changed (garbage collection, bulk deletes). */
  async changedRepo(repoId: number): Promise<void> {
    await this.announce(`${repoId}\t*`);
  }

  private async announce(message: string): Promise<void> {
    this.drop(message);
    await this.cache.publish(CHANNEL, message).catch((err) => this.log.warn({ err: (err as Error).message }, 'could not announce an artifact change; other replicas may serve it for up to 30 s'));
  }
}
