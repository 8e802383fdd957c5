/**
 * Hot metadata, negative entries, cross-replica locks and invalidation messages.
 * Redis in server mode, process memory in embedded mode. Values are strings (JSON by callers).
 */
export interface Lock {
  readonly key: string;
  /** Push the expiry further while work is still going on. Resolves false if the lock was lost. */
  extend(ttlMs: number): Promise<boolean>;
  /** Release only if still ours. */
  release(): Promise<void>;
}

export interface Cache {
  readonly driver: 'redis' | 'memory';
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  del(...keys: string[]): Promise<void>;
  /** Try once to take an exclusive lock; null when held by someone else. */
  tryLock(key: string, ttlMs: number): Promise<Lock | null>;
  /** Fire-and-forget broadcast to every replica (including this one). */
  publish(channel: string, message: string): Promise<void>;
  /** Returns an unsubscribe function. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>;
  check(): Promise<void>;
  close(): Promise<void>;
}
