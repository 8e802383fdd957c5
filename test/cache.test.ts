import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryCache } from '../src/cache/memory-cache.js';
import { RedisCache } from '../src/cache/redis-cache.js';
import type { Cache } from '../src/cache/types.js';
import { REDIS_URL } from './helpers/app.js';
import { serverModeAvailable } from './helpers/services.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const impls: Array<{ name: string; make: () => Promise<Cache>; skip: boolean }> = [
  { name: 'memory', make: async () => new MemoryCache(), skip: false },
  { name: 'redis', make: () => new RedisCache(REDIS_URL, `aa-test:${randomBytes(4).toString('hex')}:`).ready(), skip: !serverModeAvailable() },
];

describe.each(impls)('Cache [$name]', ({ make, skip }) => {
  let c: Cache;
  beforeAll(async () => {
    if (!skip) c = await make();
  });
  afterAll(async () => c?.close());

  it.skipIf(skip)('get/set/del with TTL', async () => {
    await c.set('a', '1', 10_000);
    expect(await c.get('a')).toBe('1');
    await c.del('a');
    expect(await c.get('a')).toBeNull();
    await c.set('b', '2', 50);
    await sleep(120);
    expect(await c.get('b')).toBeNull();
  });

  it.skipIf(skip)('locks are exclusive, expire, and a lost lock cannot touch the new holder', async () => {
    const l1 = await c.tryLock('L', 100);
    expect(l1).not.toBeNull();
    expect(await c.tryLock('L', 100)).toBeNull();
    expect(await l1!.extend(300)).toBe(true);
    await sleep(150);
    expect(await c.tryLock('L', 100)).toBeNull();
    await sleep(250);
    const l2 = await c.tryLock('L', 5_000);
    expect(l2).not.toBeNull();
    expect(await l1!.extend(5_000)).toBe(false);
    await l1!.release();
    expect(await c.tryLock('L', 100)).toBeNull();
    await l2!.release();
    expect(await c.tryLock('L', 100)).not.toBeNull();
  });

  it.skipIf(skip)('pub/sub reaches every subscriber; unsubscribe stops delivery', async () => {
    const got1: string[] = [];
    const got2: string[] = [];
    const u1 = await c.subscribe('ch', (m) => got1.push(m));
    const u2 = await c.subscribe('ch', (m) => got2.push(m));
    await c.publish('ch', 'x');
    for (let i = 0; i < 50 && (got1.length < 1 || got2.length < 1); i++) await sleep(10);
    expect(got1).toEqual(['x']);
    expect(got2).toEqual(['x']);
    await u1();
    await c.publish('ch', 'y');
    for (let i = 0; i < 50 && got2.length < 2; i++) await sleep(10);
    expect(got1).toEqual(['x']);
    expect(got2).toEqual(['x', 'y']);
    await u2();
  });

  it.skipIf(skip)('check() answers', async () => {
    await c.check();
  });
});

describe('MemoryCache bound', () => {
  it('evicts beyond its entry limit', async () => {
    const c = new MemoryCache(100);
    for (let i = 0; i < 250; i++) await c.set(`k${i}`, 'v', 60_000);
    expect(c.size).toBeLessThanOrEqual(100);
    expect(await c.get('k249')).toBe('v');
    expect(await c.get('k0')).toBeNull();
    await c.close();
  });
});

describe.skipIf(!serverModeAvailable())('RedisCache across replicas', () => {
  it('two connections with one prefix share locks and messages', async () => {
    const prefix = `aa-test:${randomBytes(4).toString('hex')}:`;
    const a = await new RedisCache(REDIS_URL, prefix).ready();
    const b = await new RedisCache(REDIS_URL, prefix).ready();
    const lock = await a.tryLock('shared', 5_000);
    expect(lock).not.toBeNull();
    expect(await b.tryLock('shared', 5_000)).toBeNull();
    const got: string[] = [];
    await b.subscribe('news', (m) => got.push(m));
    await a.publish('news', 'hello');
    for (let i = 0; i < 50 && got.length === 0; i++) await sleep(10);
    expect(got).toEqual(['hello']);
    await lock!.release();
    await a.close();
    await b.close();
  });

  it('an unreachable Redis fails start-up with a clear error', async () => {
    await expect(new RedisCache('redis://127.0.0.1:1', 'x:').ready(1000)).rejects.toThrow(/Redis/);
  });
});
