import type { Cache } from '../cache/types.js';
import { withLock } from '../cache/with-lock.js';

const TTL_MS = 120_000;
const WAIT_MS = 60_000;

/**
 * One writer or collector per digest at a time, across replicas: committing a blob (placing its bytes, recording
 * its row) and garbage-collecting it never interleave, so GC cannot delete an object a commit just reused.
 */
export class DigestLocks {
  constructor(private readonly cache: Cache) {}

  /** Run `fn` holding the digest's lock, waiting for it (GC holds it for milliseconds). */
  async with<T>(sha256: string, fn: () => Promise<T>): Promise<T> {
    return withLock(this.cache, `blob:${sha256}`, { ttlMs: TTL_MS, waitMs: WAIT_MS }, fn);
  }

  /** Run `fn` only if the digest is free right now (GC skips busy digests). */
  async ifFree<T>(sha256: string, fn: () => Promise<T>): Promise<T | undefined> {
    const lock = await this.cache.tryLock(`blob:${sha256}`, TTL_MS);
    if (!lock) return undefined;
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  }
}
