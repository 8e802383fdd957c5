import { randomUUID } from 'node:crypto';
import type { Cache, Lock } from './types.js';

interface Entry {
  value: string;
  expires: number;
}

/**
 * In-process cache for embedded mode (one replica): a TTL map bounded in entries (oldest-inserted evicted first,
 * refreshed on write), locks with the same token semantics as the Redis implementation, pub/sub delivered
 * asynchronously like Redis.
 */
export class MemoryCache implements Cache {
  readonly driver = 'memory' as const;
  private readonly map = new Map<string, Entry>();
  private readonly subs = new Map<string, Set<(m: string) => void>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly maxEntries = 100_000) {
    this.sweeper = setInterval(() => this.sweep(), 30_000);
    this.sweeper.unref();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, e] of this.map) if (e.expires <= now) this.map.delete(k);
  }

  private live(key: string): Entry | undefined {
    const e = this.map.get(key);
    if (e && e.expires <= Date.now()) {
      this.map.delete(key);
      return undefined;
    }
    return e;
  }

  private put(key: string, value: string, ttlMs: number): void {
    this.map.delete(key);
    this.map.set(key, { value, expires: Date.now() + ttlMs });
    while (this.map.size > this.maxEntries) this.map.delete(this.map.keys().next().value as string);
  }

  async get(key: string): Promise<string | null> {
    return this.live(key)?.value ?? null;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.put(key, value, ttlMs);
  }

  async del(...keys: string[]): Promise<void> {
    for (const k of keys) this.map.delete(k);
  }

  get size(): number {
    return this.map.size;
  }

  async tryLock(key: string, ttlMs: number): Promise<Lock | null> {
    const k = `lock:${key}`;
    if (this.live(k)) return null;
    const token = randomUUID();
    this.put(k, token, ttlMs);
    const ours = () => this.live(k)?.value === token;
    return {
      key,
      extend: async (ms) => {
        if (!ours()) return false;
        this.put(k, token, ms);
        return true;
      },
      release: async () => {
        if (ours()) this.map.delete(k);
      },
    };
  }

  async publish(channel: string, message: string): Promise<void> {
    for (const fn of this.subs.get(channel) ?? []) setImmediate(() => fn(message));
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    let set = this.subs.get(channel);
    if (!set) this.subs.set(channel, (set = new Set()));
    set.add(onMessage);
    return async () => {
      set.delete(onMessage);
    };
  }

  async check(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.map.clear();
    this.subs.clear();
  }
}
