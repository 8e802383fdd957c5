import { touchArtifacts } from '../db/artifacts-table.js';
import type { Database } from '../db/types.js';
import type { Logger } from '../log.js';

/** How long a read may wait before it reaches last_accessed_at; eviction by age or quota does not need better. */
const FLUSH_EVERY_MS = 2_000;
/** A burst of distinct reads is written before the timer when this many wait. */
const FLUSH_AT = 2_000;
/** Paths per statement (placeholders stay well under the protocol's limit). */
const BATCH = 500;

/**
 * Reads of cached artifacts, recorded for LRU eviction in batches: a cache hit costs a Set insertion on the request
 * path, and the database sees one UPDATE per repository every few seconds instead of one statement per hit queued
 * in front of the queries requests wait for (the embedded database runs them one at a time on the main thread).
 */
export class AccessRecorder {
  private pending = new Map<number, Set<string>>();
  private size = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Database,
    private readonly log: Logger,
    private readonly minIntervalSeconds = 60,
  ) {}

  record(repoId: number, path: string): void {
    let paths = this.pending.get(repoId);
    if (!paths) this.pending.set(repoId, (paths = new Set()));
    if (paths.has(path)) return;
    paths.add(path);
    this.size++;
    if (this.size >= FLUSH_AT) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), FLUSH_EVERY_MS).unref();
  }

  /** Writes what is pending; flushes run one after another, so a slow one does not pile statements up. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = new Map();
    this.size = 0;
    this.flushing = this.flushing.then(() => this.write(batch));
    return this.flushing;
  }

  private async write(batch: Map<number, Set<string>>): Promise<void> {
    for (const [repoId, set] of batch) {
      const paths = [...set];
      for (let i = 0; i < paths.length; i += BATCH) {
        await touchArtifacts(this.db, repoId, paths.slice(i, i + BATCH), this.minIntervalSeconds).catch((err: Error) =>
          this.log.warn({ err: err.message, repoId }, 'could not record artifact reads; eviction order may be off'),
        );
      }
    }
  }

  async close(): Promise<void> {
    await this.flush();
  }
}
