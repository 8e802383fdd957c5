import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { rootLogger } from '../log.js';
import type { Cache, Lock } from './types.js';

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

type LockCommands = {
  releaseLock(key: string, token: string): Promise<number>;
  extendLock(key: string, token: string, ttl: number): Promise<number>;
};

/**
 * Redis cache for server mode: every key and channel under a prefix, locks as SET NX PX with a token and
 * compare-and-act Lua scripts, pub/sub on a second connection. Commands fail fast when Redis is down
 * (no offline queue, one retry) so a request degrades to "cache miss" instead of hanging.
 */
export class RedisCache implements Cache {
  readonly driver = 'redis' as const;
  private readonly redis: Redis & LockCommands;
  private sub: Redis | undefined;
  private readonly handlers = new Map<string, Set<(m: string) => void>>();

  constructor(
    private readonly url: string,
    private readonly prefix = 'artifactapi:',
  ) {
    this.redis = this.connect() as Redis & LockCommands;
    this.redis.defineCommand('releaseLock', { numberOfKeys: 1, lua: RELEASE });
    this.redis.defineCommand('extendLock', { numberOfKeys: 1, lua: EXTEND });
  }

  private connect(): Redis {
    const r = new Redis(this.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true, connectTimeout: 5_000 });
    r.on('error', (err) => rootLogger.warn({ err: err.message }, 'redis connection error'));
    return r;
  }

  async ready(timeoutMs = 5_000): Promise<this> {
    const where = this.url.replace(/\/\/[^@/]*@/, '//***@');
    try {
      await Promise.race([
        this.redis.connect(),
        new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs).unref()),
      ]);
    } catch (err) {
      this.redis.disconnect();
      throw new Error(`could not connect to Redis at ${where}: ${(err as Error).message}`);
    }
    return this;
  }

  private k(key: string): string {
    return this.prefix + key;
  }

  async get(key: string): Promise<string | null> {
    return this.redis.get(this.k(key));
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.redis.set(this.k(key), value, 'PX', Math.max(1, Math.round(ttlMs)));
  }

  async del(...keys: string[]): Promise<void> {
    if (keys.length) await this.redis.del(...keys.map((k) => this.k(k)));
  }

  async tryLock(key: string, ttlMs: number): Promise<Lock | null> {
    const k = this.k(`lock:${key}`);
    const token = randomUUID();
    const ok = await this.redis.set(k, token, 'PX', Math.max(1, Math.round(ttlMs)), 'NX');
    if (ok !== 'OK') return null;
    return {
      key,
      extend: async (ms) => (await this.redis.extendLock(k, token, Math.round(ms)).catch(() => 0)) === 1,
      release: async () => {
        await this.redis.releaseLock(k, token).catch(() => 0);
      },
    };
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.redis.publish(this.k(channel), message);
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    if (!this.sub) {
      this.sub = this.connect();
      await this.sub.connect();
      this.sub.on('message', (ch: string, msg: string) => {
        for (const fn of this.handlers.get(ch) ?? []) fn(msg);
      });
    }
    const ch = this.k(channel);
    let set = this.handlers.get(ch);
    if (!set) {
      this.handlers.set(ch, (set = new Set()));
      await this.sub.subscribe(ch);
    }
    set.add(onMessage);
    return async () => {
      set.delete(onMessage);
      if (set.size === 0) {
        this.handlers.delete(ch);
        await this.sub?.unsubscribe(ch).catch(() => {});
      }
    };
  }

  async check(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    await Promise.all([this.redis.quit().catch(() => this.redis.disconnect()), this.sub?.quit().catch(() => this.sub?.disconnect())]);
  }
}
