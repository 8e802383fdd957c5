import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheClosedError, CacheConnectError, CacheUnavailableError, createCache } from '../src/cache/index.js';
import { MemoryCache } from '../src/cache/memory-cache.js';
import { RedisCache } from '../src/cache/redis-cache.js';
import type { Cache } from '../src/cache/types.js';
import { redisAvailable, testRedisUrl, uniqueRedisPrefix } from './helpers/redis.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const redisUp = await redisAvailable();

/** Wait until `done()` or 1 s, whichever first (deliveries are asynchronous). */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) await sleep(10);
}

const impls = [
  { name: 'memory', skip: false, make: async (): Promise<Cache> => new MemoryCache() },
  { name: 'redis', skip: !redisUp, make: (): Promise<Cache> => new RedisCache(testRedisUrl(), { prefix: uniqueRedisPrefix('cache') }).ready() },
];

describe.each(impls)('Cache [$name]', ({ name, make, skip }) => {
  let c: Cache;
  beforeAll(async () => {
    if (!skip) c = await make();
  });
  afterAll(async () => c?.close());

  it.skipIf(skip)('reports its driver', () => {
    expect(c.driver).toBe(name);
  });

  it.skipIf(skip)('get/set/del', async () => {
    expect(await c.get('missing')).toBeNull();
    await c.set('a', '1', 10_000);
    await c.set('b', '2', 10_000);
    await c.set('c', '3', 10_000);
    expect(await c.get('a')).toBe('1');
    await c.set('a', 'one', 10_000);
    expect(await c.get('a')).toBe('one');
    await c.del('a', 'b');
    await c.del();
    expect(await c.get('a')).toBeNull();
    expect(await c.get('b')).toBeNull();
    expect(await c.get('c')).toBe('3');
    await c.set('empty', '', 10_000);
    expect(await c.get('empty')).toBe('');
  });

  it.skipIf(skip)('entries expire after their TTL; a rewrite sets a new TTL', async () => {
    await c.set('short', 'x', 200);
    await c.set('renewed', 'x', 200);
    await c.set('renewed', 'y', 5_000);
    expect(await c.get('short')).toBe('x');
    await sleep(350);
    expect(await c.get('short')).toBeNull();
    expect(await c.get('renewed')).toBe('y');
  });

  it.skipIf(skip)('rejects a TTL that is not a positive number', async () => {
    await expect(c.set('t', 'v', 0)).rejects.toThrow(RangeError);
    await expect(c.set('t', 'v', Number.NaN)).rejects.toThrow(RangeError);
    await expect(c.tryLock('t', -5)).rejects.toThrow(RangeError);
    expect(await c.get('t')).toBeNull();
  });

  it.skipIf(skip)('a lock is exclusive among concurrent takers and independent of the value with the same key', async () => {
    const attempts = await Promise.all(Array.from({ length: 10 }, () => c.tryLock('X', 5_000)));
    const winners = attempts.filter((l) => l !== null);
    expect(winners).toHaveLength(1);
    expect(winners[0]!.key).toBe('X');
    await c.set('X', 'value', 5_000);
    expect(await c.get('X')).toBe('value');
    expect(await c.tryLock('X', 5_000)).toBeNull();
    await winners[0]!.release();
    await winners[0]!.release(); // twice is harmless
    const again = await c.tryLock('X', 5_000);
    expect(again).not.toBeNull();
    await again!.release();
  });

  it.skipIf(skip)('extend keeps a lock past its first TTL', async () => {
    const l = (await c.tryLock('E', 300))!;
    expect(l).not.toBeNull();
    for (let i = 0; i < 4; i++) {
      await sleep(100);
      expect(await l.extend(300)).toBe(true);
    }
    expect(await c.tryLock('E', 100)).toBeNull(); // 400 ms after taking a 300 ms lock
    await l.release();
  });

  it.skipIf(skip)('an expired lock can be taken by another; the lost holder cannot extend or release it', async () => {
    const first = (await c.tryLock('L', 250))!;
    expect(first).not.toBeNull();
    expect(await c.tryLock('L', 250)).toBeNull();
    await sleep(350);
    const second = await c.tryLock('L', 5_000);
    expect(second).not.toBeNull();
    expect(await first.extend(5_000)).toBe(false);
    await first.release();
    expect(await c.tryLock('L', 100)).toBeNull(); // still the second holder's
    expect(await second!.extend(5_000)).toBe(true);
    await second!.release();
    expect(await second!.extend(5_000)).toBe(false); // released is lost
    const third = await c.tryLock('L', 100);
    expect(third).not.toBeNull();
    await third!.release();
  });

  it.skipIf(skip)('pub/sub reaches every subscriber asynchronously; unsubscribe stops delivery', async () => {
    const got1: string[] = [];
    const got2: string[] = [];
    const other: string[] = [];
    const u1 = await c.subscribe('ch', (m) => got1.push(m));
    const u2 = await c.subscribe('ch', (m) => got2.push(m));
    const u3 = await c.subscribe('other', (m) => other.push(m));
    const published = c.publish('ch', 'x');
    expect(got1).toEqual([]); // never delivered inside publish()
    await published;
    await until(() => got1.length > 0 && got2.length > 0);
    expect(got1).toEqual(['x']);
    expect(got2).toEqual(['x']);
    await u1();
    await u1(); // idempotent
    await c.publish('ch', 'y');
    await until(() => got2.length > 1);
    expect(got2).toEqual(['x', 'y']);
    await u2();
    await c.publish('ch', 'z');
    await c.publish('other', 'o');
    await until(() => other.length > 0);
    expect(other).toEqual(['o']);
    expect(got1).toEqual(['x']);
    expect(got2).toEqual(['x', 'y']);
    await u3();
  });

  it.skipIf(skip)('a throwing subscriber does not keep the message from the others', async () => {
    const got: string[] = [];
    const u1 = await c.subscribe('boom', () => {
      throw new Error('subscriber bug');
    });
    const u2 = await c.subscribe('boom', (m) => got.push(m));
    await c.publish('boom', 'still here');
    await until(() => got.length > 0);
    expect(got).toEqual(['still here']);
    await u1();
    await u2();
  });

  it.skipIf(skip)('check() answers', async () => {
    await expect(c.check()).resolves.toBeUndefined();
  });
});

describe.each(impls)('Cache [$name] after close', ({ make, skip }) => {
  it.skipIf(skip)('rejects further use with CacheClosedError; a held lock reports lost', async () => {
    const c = await make();
    const lock = (await c.tryLock('held', 5_000))!;
    await c.close();
    await c.close(); // idempotent
    await expect(c.get('a')).rejects.toThrow(CacheClosedError);
    await expect(c.tryLock('x', 100)).rejects.toThrow(CacheClosedError);
    await expect(c.subscribe('ch', () => {})).rejects.toThrow(CacheClosedError);
    expect(await lock.extend(5_000)).toBe(false);
    await expect(lock.release()).resolves.toBeUndefined();
  });
});

describe('MemoryCache', () => {
  it('keeps at most maxEntries, evicting the least recently used', async () => {
    const c = new MemoryCache({ maxEntries: 100 });
    for (let i = 0; i < 100; i++) await c.set(`k${i}`, 'v', 60_000);
    expect(await c.get('k0')).toBe('v'); // k0 is now the most recently used
    for (let i = 100; i < 150; i++) await c.set(`k${i}`, 'v', 60_000);
    // Eviction drops the oldest 1% (here 1 entry) beyond the bound in one go, so the size ends at 99 or 100.
    expect(c.size).toBeGreaterThanOrEqual(99);
    expect(c.size).toBeLessThanOrEqual(100);
    expect(await c.get('k0')).toBe('v');
    expect(await c.get('k1')).toBeNull();
    expect(await c.get('k50')).toBeNull();
    expect(await c.get('k52')).toBe('v');
    expect(await c.get('k149')).toBe('v');
    for (let i = 150; i < 400; i++) await c.set(`k${i}`, 'v', 60_000);
    expect(c.size).toBeLessThanOrEqual(100);
    expect(await c.get('k0')).toBeNull();
    expect(await c.get('k300')).toBe('v');
    await c.close();
  });

  it('entries do not push out locks', async () => {
    const c = new MemoryCache({ maxEntries: 10 });
    const lock = await c.tryLock('busy', 60_000);
    for (let i = 0; i < 100; i++) await c.set(`k${i}`, 'v', 60_000);
    expect(await c.tryLock('busy', 60_000)).toBeNull();
    expect(await lock!.extend(60_000)).toBe(true);
    await c.close();
  });

  it('sweeps expired entries without being read', async () => {
    const c = new MemoryCache({ sweepIntervalMs: 20 });
    for (let i = 0; i < 50; i++) await c.set(`k${i}`, 'v', 50);
    await c.set('keep', 'v', 60_000);
    expect(c.size).toBe(51);
    await until(() => c.size === 1);
    expect(c.size).toBe(1);
    await c.close();
  });

  it('rejects a bad bound', () => {
    expect(() => new MemoryCache({ maxEntries: 0 })).toThrow(RangeError);
  });
});

describe('createCache', () => {
  it('is in-process memory without a URL', async () => {
    const c = await createCache({});
    expect(c.driver).toBe('memory');
    await c.close();
  });

  it.skipIf(!redisUp)('is Redis with a URL, ready when it resolves', async () => {
    const c = await createCache({ url: testRedisUrl(), prefix: uniqueRedisPrefix('create') });
    expect(c.driver).toBe('redis');
    await c.set('k', 'v', 5_000);
    expect(await c.get('k')).toBe('v');
    await c.close();
  });

  it('fails start-up against an unreachable Redis with a clear error that hides the password', async () => {
    const started = Date.now();
    const err = await createCache({ url: 'redis://admin:s3cret@127.0.0.1:1/0', connectTimeoutMs: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CacheConnectError);
    expect((err as Error).message).toMatch(/could not connect to Redis at redis:\/\/admin:\*\*\*@127\.0\.0\.1:1\/0: .*ECONNREFUSED/);
    expect((err as Error).message).not.toContain('s3cret');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('rejects a URL that is not redis://', async () => {
    await expect(createCache({ url: 'http://127.0.0.1:6379' })).rejects.toThrow(/invalid Redis URL scheme/);
    await expect(createCache({ url: 'not a url' })).rejects.toThrow(/invalid Redis URL/);
  });
});

describe('RedisCache while Redis is down', () => {
  it('fails commands fast instead of queueing them', async () => {
    const c = new RedisCache('redis://127.0.0.1:1', { prefix: 'x:' }); // never becomes ready
    const started = Date.now();
    await expect(c.get('a')).rejects.toThrow(CacheUnavailableError);
    await expect(c.tryLock('a', 1_000)).rejects.toThrow(/Redis at redis:\/\/127\.0\.0\.1:1 is not connected/);
    await expect(c.check()).rejects.toThrow(CacheUnavailableError);
    await expect(c.subscribe('ch', () => {})).rejects.toThrow(CacheUnavailableError);
    await expect(c.subscribe('ch', () => {})).rejects.toThrow(CacheUnavailableError); // no half-registered leftover
    expect(Date.now() - started).toBeLessThan(200);
    await c.close();
  });
});

describe.skipIf(!redisUp)('RedisCache across replicas', () => {
  const prefix = uniqueRedisPrefix('replicas');
  let a: RedisCache;
  let b: RedisCache;
  let raw: Redis;
  beforeAll(async () => {
    a = await new RedisCache(testRedisUrl(), { prefix }).ready();
    b = await new RedisCache(testRedisUrl(), { prefix }).ready();
    raw = new Redis(testRedisUrl());
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close(), raw?.quit()]);
  });

  it('keeps every key under its prefix', async () => {
    await a.set('k', 'v', 5_000);
    const lock = await a.tryLock('k', 5_000);
    expect(await raw.get(`${prefix}k`)).toBe('v');
    expect(await raw.exists(`${prefix}lock:k`)).toBe(1);
    expect(await raw.exists('k')).toBe(0);
    const elsewhere = await new RedisCache(testRedisUrl(), { prefix: uniqueRedisPrefix('other') }).ready();
    expect(await elsewhere.get('k')).toBeNull();
    expect(await elsewhere.tryLock('k', 100)).not.toBeNull();
    await elsewhere.close();
    await lock!.release();
  });

  it('two instances with one prefix share values, locks and messages', async () => {
    await a.set('shared', '1', 5_000);
    expect(await b.get('shared')).toBe('1');
    const lock = await a.tryLock('shared', 5_000);
    expect(lock).not.toBeNull();
    expect(await b.tryLock('shared', 5_000)).toBeNull();
    const gotA: string[] = [];
    const gotB: string[] = [];
    const ua = await a.subscribe('news', (m) => gotA.push(m));
    const ub = await b.subscribe('news', (m) => gotB.push(m));
    await a.publish('news', 'hello');
    await until(() => gotA.length > 0 && gotB.length > 0);
    expect(gotA).toEqual(['hello']);
    expect(gotB).toEqual(['hello']);
    await lock!.release();
    expect(await b.tryLock('shared', 100)).not.toBeNull();
    await ua();
    await ub();
  });

  it('a second subscriber resolves only once the channel is subscribed', async () => {
    const c = await new RedisCache(testRedisUrl(), { prefix }).ready(); // no subscriber connection yet
    const got: string[] = [];
    const first = c.subscribe('race', () => {});
    const u2 = await c.subscribe('race', (m) => got.push(m)); // while the first still connects and subscribes
    await b.publish('race', 'm');
    await until(() => got.length > 0);
    expect(got).toEqual(['m']);
    await (await first)();
    await u2();
    await c.close();
  });

  it('recovers from dropped connections: commands work again and subscriptions are restored', async () => {
    const clientName = `aa-test-${process.pid}-${Date.now()}`;
    const c = await new RedisCache(testRedisUrl(), { prefix, clientName }).ready();
    const got: string[] = [];
    const unsubscribe = await c.subscribe('survivor', (m) => got.push(m));
    const list = (await raw.client('LIST')) as string;
    const ids = list
      .split('\n')
      .filter((line) => line.includes(` name=${clientName}-`))
      .map((line) => /\bid=(\d+)/.exec(line)![1]!);
    expect(ids).toHaveLength(2); // the command and the subscriber connection
    for (const id of ids) await raw.client('KILL', 'ID', id);
    let recovered = false;
    for (let i = 0; i < 100 && !recovered; i++) {
      await sleep(20);
      recovered = await c.check().then(
        () => true,
        () => false,
      );
    }
    expect(recovered).toBe(true);
    for (let i = 0; i < 50 && got.length === 0; i++) {
      await b.publish('survivor', 'back');
      await sleep(20);
    }
    expect(got[0]).toBe('back');
    await unsubscribe();
    await c.close();
  });

  it('resubscribing right after the last unsubscribe stays subscribed', async () => {
    const got: string[] = [];
    const u1 = await a.subscribe('flip', () => {});
    const unsubscribing = u1();
    const u2 = await a.subscribe('flip', (m) => got.push(m));
    await unsubscribing;
    await b.publish('flip', 'after');
    await until(() => got.length > 0);
    expect(got).toEqual(['after']);
    await u2();
  });
});
