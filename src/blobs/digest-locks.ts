import type { Cache } from '../cache/types.js';

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
    const deadline = Date.now() + WAIT_MS;
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      const lock = await this.cache.tryLock(`blob:${sha256}`, TTL_MS);
      if (lock) {
        try {
          return await fn();
        } finally {
          await lock.release();
        }
      }
      if (Date.now() > deadline) throw new Error(`blob ${sha256} stayed locked for ${WAIT_MS} ms`);
      await new Promise((r) => setTimeout(r, delay));
    }
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
