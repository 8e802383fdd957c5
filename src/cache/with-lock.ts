import type { Cache } from './types.js';

export interface WithLockOptions {
  /** Lock expiry: a crashed holder blocks others at most this long. */
  ttlMs: number;
  /** How long to wait for a busy lock before giving up with an error. */
  waitMs: number;
}

/** Run `fn` holding the lock `key` across replicas, polling with backoff while another holder has it. */
export async function withLock<T>(cache: Cache, key: string, opts: WithLockOptions, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + opts.waitMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    const lock = await cache.tryLock(key, opts.ttlMs);
    if (lock) {
      try {
        return await fn();
      } finally {
        await lock.release();
      }
    }
    if (Date.now() > deadline) throw new Error(`${key} stayed locked for ${opts.waitMs} ms`);
    await new Promise((r) => setTimeout(r, delay));
  }
}
