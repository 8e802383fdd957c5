/**
 * Hot metadata, negative entries, cross-replica locks and invalidation messages.
 * Redis in server mode, process memory in embedded mode. Values are strings (JSON by callers).
 */
export interface Lock {
  readonly key: string;
  /**
   * Push the expiry to now + ttlMs while work is still going on. Resolves false if the lock was lost (expired,
   * taken by another holder) or the cache could not be reached. Rejects only for an invalid ttlMs, so keep-alive
   * timers may `void` it.
   */
  extend(ttlMs: number): Promise<boolean>;
  /** Release only if still ours; a no-op otherwise. Never rejects (an unreachable lock expires by its TTL). */
  release(): Promise<void>;
}

export interface Cache {
  readonly driver: 'redis' | 'memory';
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  del(...keys: string[]): Promise<void>;
  /** Try once to take an exclusive lock (token-checked, expires after ttlMs); null when held by someone else. */
  tryLock(key: string, ttlMs: number): Promise<Lock | null>;
  /** Fire-and-forget broadcast to every replica (including this one). */
  publish(channel: string, message: string): Promise<void>;
  /**
   * Delivery is asynchronous (never inside publish); a throwing handler is logged and does not affect the others.
   * Resolves once the subscription is active. Returns an idempotent unsubscribe function.
   */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>;
  /** Rejects when the backing service does not answer (health checks). */
  check(): Promise<void>;
  /** Releases connections and timers; later calls reject with CacheClosedError (memory) or a connection error. */
  close(): Promise<void>;
}
