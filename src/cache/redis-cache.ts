import { randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { rootLogger, type Logger } from '../log.js';
import { CacheClosedError, CacheConnectError, CacheUnavailableError, ttlMs } from './errors.js';
import { Fanout, type Handler } from './fanout.js';
import type { Cache, Lock } from './types.js';

/** Compare-and-act: only the holder of the token may touch the lock, so a holder whose lock expired and was
 * taken by someone else can neither delete nor prolong the new holder's lock. */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

interface LockCommands {
  releaseLock(key: string, token: string): Promise<number>;
  extendLock(key: string, token: string, ttlMs: number): Promise<number>;
}

export interface RedisCacheOptions {
  /** Namespace for every key and channel (replicas sharing data share it). Default `artifactapi:`. */
  prefix?: string;
  /** A command that gets no reply in this time is rejected (dead-but-open connections). Default 5 s. */
  commandTimeoutMs?: number;
  /** Per TCP connection attempt. Default 5 s. */
  connectTimeoutMs?: number;
  /** Client name shown by CLIENT LIST, suffixed with the connection's role. Default `artifactapi`. */
  clientName?: string;
  logger?: Logger;
}

/** The URL without its password, for logs and errors. */
function redact(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`invalid Redis URL (expected redis://[user:password@]host[:port][/db])`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new TypeError(`invalid Redis URL scheme "${u.protocol}" (expected redis: or rediss:)`);
  if (u.password) u.password = '***';
  return u.toString();
}

/**
 * Redis cache for server mode: keys and channels under a prefix, locks as `SET NX PX` with a random token and
 * Lua compare-and-act scripts, pub/sub on a second connection opened on first subscribe (a subscribed
 * connection cannot run other commands) with one SUBSCRIBE per channel fanned out locally.
 */
export class RedisCache implements Cache {
  readonly driver = 'redis' as const;
  readonly prefix: string;
  private readonly where: string;
  private readonly log: Logger;
  private readonly cmd: Redis & LockCommands;
  private subConn: Redis | undefined;
  private sub: Promise<Redis> | undefined;
  private readonly fanout: Fanout;
  /** The SUBSCRIBE of each channel with listeners; later listeners wait for it before resolving. */
  private readonly subscribed = new Map<string, Promise<unknown>>();
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly opts: RedisCacheOptions = {},
  ) {
    this.where = redact(url);
    this.prefix = opts.prefix ?? 'artifactapi:';
    this.log = (opts.logger ?? rootLogger).child({ redis: this.where });
    this.fanout = new Fanout(this.log);
    this.cmd = this.connection('commands') as Redis & LockCommands;
    this.cmd.defineCommand('releaseLock', { numberOfKeys: 1, lua: RELEASE });
    this.cmd.defineCommand('extendLock', { numberOfKeys: 1, lua: EXTEND });
  }

  private connection(role: 'commands' | 'subscriber'): Redis {
    const options: RedisOptions = {
      // Fail fast rather than queue: while Redis is unreachable a command is rejected at once (callers treat it as
      // a miss or answer 503) instead of waiting in an unbounded in-memory queue until a reconnect that may
      // never come. The flip side: nothing may be sent before 'ready', which ready() waits for.
      enableOfflineQueue: false,
      // Commands in flight when the connection drops are rejected immediately instead of being retried or re-sent
      // after the reconnect (a re-sent SET NX would report a lock we already took as someone else's).
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // A peer that vanished without a RST would otherwise hold a command until TCP gives up (minutes).
      commandTimeout: this.opts.commandTimeoutMs ?? 5_000,
      connectTimeout: this.opts.connectTimeoutMs ?? 5_000,
      // Keep reconnecting in the background forever with capped backoff; the process stays up meanwhile.
      retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
      connectionName: `${this.opts.clientName ?? 'artifactapi'}-${role}`,
    };
    const conn = new Redis(this.url, options);
    // An 'error' without a listener would be printed by ioredis on every retry; log once per outage instead.
    let down = false;
    conn.on('error', (err: Error) => {
      if (!down) this.log.warn({ err: err.message, conn: role }, 'redis connection error; reconnecting in the background');
      down = true;
    });
    conn.on('close', () => {
      if (!down && !this.closed) this.log.warn({ conn: role }, 'redis connection lost; reconnecting in the background');
      down = true;
    });
    conn.on('ready', () => {
      if (down) this.log.info({ conn: role }, 'redis connection restored');
      down = false;
    });
    return conn;
  }

  /** Resolves when the connection can take commands; rejects after timeoutMs or when it was closed. */
  private static whenReady(conn: Redis, timeoutMs: number): Promise<void> {
    if (conn.status === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      let lastError = 'no answer';
      const onError = (err: Error) => (lastError = err.message || String(err));
      const done = (err?: Error) => {
        clearTimeout(timer);
        conn.off('ready', onReady).off('end', onEnd).off('error', onError);
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => done();
      const onEnd = () => done(new Error(`connection closed (${lastError})`));
      const timer = setTimeout(() => done(new Error(`not ready after ${timeoutMs} ms (${lastError})`)), timeoutMs);
      conn.on('ready', onReady).on('end', onEnd).on('error', onError);
    });
  }

  /** Wait for the command connection; on failure close everything and throw a CacheConnectError. */
  async ready(timeoutMs = 5_000): Promise<this> {
    try {
      await RedisCache.whenReady(this.cmd, timeoutMs);
    } catch (err) {
      await this.close();
      throw new CacheConnectError(`could not connect to Redis at ${this.where}: ${(err as Error).message}`, { cause: err });
    }
    return this;
  }

  private open(): void {
    if (this.closed) throw new CacheClosedError(this.driver);
  }

  /** The command connection, or a clear error right away while it is (re)connecting. */
  private live(): Redis & LockCommands {
    this.open();
    if (this.cmd.status !== 'ready') throw this.unavailable();
    return this.cmd;
  }

  private unavailable(): CacheUnavailableError {
    return new CacheUnavailableError(`Redis at ${this.where} is not connected (${this.cmd.status})`);
  }

  private k(key: string): string {
    return this.prefix + key;
  }

  async get(key: string): Promise<string | null> {
    return this.live().get(this.k(key));
  }

  async set(key: string, value: string, ms: number): Promise<void> {
    await this.live().set(this.k(key), value, 'PX', ttlMs(ms));
  }

  async del(...keys: string[]): Promise<void> {
    const redis = this.live();
    if (keys.length > 0) await redis.del(...keys.map((k) => this.k(k)));
  }

  async tryLock(key: string, ms: number): Promise<Lock | null> {
    const k = this.k(`lock:${key}`);
    const token = randomUUID();
    if ((await this.live().set(k, token, 'PX', ttlMs(ms), 'NX')) !== 'OK') return null;
    return {
      key,
      extend: async (next) => {
        const ttl = ttlMs(next);
        if (this.closed) return false;
        try {
          return (await this.live().extendLock(k, token, ttl)) === 1;
        } catch (err) {
          this.log.warn({ err: (err as Error).message, lock: key }, 'could not extend lock; treating it as lost');
          return false;
        }
      },
      release: async () => {
        if (this.closed) return;
        try {
          await this.live().releaseLock(k, token);
        } catch (err) {
          this.log.warn({ err: (err as Error).message, lock: key }, 'could not release lock; it expires by its TTL');
        }
      },
    };
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.live().publish(this.k(channel), message);
  }

  /** The subscriber connection, opened on first use; never throws synchronously (subscribe relies on that). */
  private subscriber(): Promise<Redis> {
    if (!this.sub) {
      // Fail fast like every command: if the command connection is down, the subscriber would not get through either.
      if (this.cmd.status !== 'ready') return Promise.reject(this.unavailable());
      const conn = (this.subConn = this.connection('subscriber'));
      conn.on('message', (channel: string, message: string) => this.fanout.deliver(channel, message));
      const timeout = (this.opts.connectTimeoutMs ?? 5_000) + 1_000;
      this.sub = RedisCache.whenReady(conn, timeout).then(
        () => conn,
        (err: Error) => {
          // Forget the failed connection so a later subscribe starts afresh.
          if (this.subConn === conn) [this.sub, this.subConn] = [undefined, undefined];
          conn.disconnect();
          throw new Error(`redis subscriber connection to ${this.where}: ${err.message}`, { cause: err });
        },
      );
    }
    return this.sub;
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    this.open();
    const ch = this.k(channel);
    // A fresh function per subscription, so the same callback subscribed twice is delivered (and removed) twice.
    const fn: Handler = (m) => onMessage(m);
    if (this.fanout.add(ch, fn)) this.subscribed.set(ch, this.subscriber().then((s) => s.subscribe(ch)));
    try {
      await this.subscribed.get(ch);
    } catch (err) {
      if (this.fanout.remove(ch, fn)) this.subscribed.delete(ch);
      throw err;
    }
    let active = true;
    return async () => {
      if (!active) return;
      active = false;
      if (!this.fanout.remove(ch, fn)) return;
      this.subscribed.delete(ch);
      // Same connection and call order as any re-subscribe that follows, so Redis sees them in order.
      const sub = this.sub;
      if (!sub || this.closed) return;
      await sub
        .then((s) => s.unsubscribe(ch))
        .catch((err: Error) => this.log.warn({ err: err.message, channel }, 'redis unsubscribe failed; its messages are ignored'));
    };
  }

  async check(): Promise<void> {
    const answer = await this.live().ping();
    if (answer !== 'PONG') throw new Error(`unexpected PING answer from Redis: ${answer}`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fanout.clear();
    this.subscribed.clear();
    const quit = async (conn: Redis) => {
      // QUIT lets pending replies arrive; when the connection is down it is rejected (no offline queue): just drop it.
      await conn.quit().catch(() => conn.disconnect());
    };
    await Promise.all([quit(this.cmd), this.subConn && quit(this.subConn)]);
  }
}
