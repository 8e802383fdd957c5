import { rootLogger, type Logger } from '../log.js';
import { SingleFlightTimeoutError } from './errors.js';
import type { Cache, Lock } from './types.js';

export interface SingleFlightOptions {
  /** Lock TTL: how long a leader that died silently blocks the others. The live leader extends it every ttlMs/3. */
  ttlMs: number;
  /** Longest pause between two follower checks; pauses start short and double up to this. */
  pollMs: number;
  /** Give up with a SingleFlightTimeoutError after waiting this long without a result or the lock. */
  waitMs: number;
  /** First pause (default min(10, pollMs)): results that land quickly are seen quickly. */
  initialPollMs?: number;
  /** Stop waiting when aborted (the caller went away); rejects with the signal's reason. Does not stop a leader. */
  signal?: AbortSignal;
  logger?: Logger;
}

/** Like timers/promises setTimeout, but rejects with the signal's own reason (as throwIfAborted does). */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function positive(name: string, v: number): void {
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`singleFlight ${name} must be a positive number of milliseconds, got ${v}`);
}

/**
 * Cross-replica single flight: of all callers (in any process sharing the cache) that ask for `key` at once,
 * one runs `leader` while holding a lock; the others poll `follower` (is the result there now, e.g. committed?)
 * with backoff and return its value. When the lock vanishes without a result (the leader failed or died and its
 * lock expired), a waiting caller takes the lock and leads in turn.
 *
 * Callers should check for the result before calling: the first lock attempt does not re-check, so a result
 * that landed a moment earlier is produced once more (work that is idempotent, such as committing a blob by
 * digest, tolerates this). A leader's error is thrown to its own caller only; the followers take over.
 */
export async function singleFlight<T>(
  cache: Cache,
  key: string,
  opts: SingleFlightOptions,
  leader: (lock: Lock) => Promise<T>,
  follower: () => Promise<T | undefined>,
): Promise<T> {
  positive('ttlMs', opts.ttlMs);
  positive('pollMs', opts.pollMs);
  positive('waitMs', opts.waitMs);
  const log = opts.logger ?? rootLogger;
  const lock = await cache.tryLock(key, opts.ttlMs);
  if (lock) return lead(key, lock, opts, leader, log);

  const deadline = Date.now() + opts.waitMs;
  let pause = Math.min(opts.initialPollMs ?? 10, opts.pollMs);
  for (;;) {
    opts.signal?.throwIfAborted();
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new SingleFlightTimeoutError(key, opts.waitMs);
    // Jitter keeps replicas that started together from polling in lockstep.
    await sleep(Math.min(pause * (0.75 + Math.random() / 2), remaining), opts.signal);
    pause = Math.min(pause * 2, opts.pollMs);

    const result = await follower();
    if (result !== undefined) return result;
    const taken = await cache.tryLock(key, opts.ttlMs);
    if (!taken) continue;
    // The leader may have finished and released between follower() and tryLock(): look once more before redoing it.
    let late: T | undefined;
    try {
      late = await follower();
    } catch (err) {
      await taken.release();
      throw err;
    }
    if (late !== undefined) {
      await taken.release();
      return late;
    }
    log.debug({ key }, 'single-flight: previous holder left no result; taking over');
    return lead(key, taken, opts, leader, log);
  }
}

/** Run the leader, keeping the lock alive meanwhile, and release it however the leader ends. */
async function lead<T>(key: string, lock: Lock, opts: SingleFlightOptions, leader: (lock: Lock) => Promise<T>, log: Logger): Promise<T> {
  const keepAlive = setInterval(() => {
    void lock.extend(opts.ttlMs).then((held) => {
      if (held) return;
      clearInterval(keepAlive);
      log.warn({ key }, 'single-flight lock lost while leading; another caller may start the same work');
    });
  }, Math.max(1, Math.floor(opts.ttlMs / 3)));
  keepAlive.unref();
  try {
    return await leader(lock);
  } finally {
    clearInterval(keepAlive);
    await lock.release();
  }
}
