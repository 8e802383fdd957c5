import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SingleFlightTimeoutError, singleFlight, type SingleFlightOptions } from '../src/cache/index.js';
import { MemoryCache } from '../src/cache/memory-cache.js';
import { RedisCache } from '../src/cache/redis-cache.js';
import type { Cache } from '../src/cache/types.js';
import { redisAvailable, testRedisUrl, uniqueRedisPrefix } from './helpers/redis.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const redisUp = await redisAvailable();

/**
 * "Replicas" are separate Cache instances sharing one store: for Redis two connections with one prefix, for
 * memory the same instance (embedded mode is one process). The result lives in the shared cache, as a
 * committed artifact would live in the database.
 */
const setups = [
  {
    name: 'memory',
    skip: false,
    make: async (): Promise<Cache[]> => {
      const c = new MemoryCache();
      return [c, c];
    },
  },
  {
    name: 'redis, two replicas',
    skip: !redisUp,
    make: async (): Promise<Cache[]> => {
      const prefix = uniqueRedisPrefix('sf');
      return Promise.all([new RedisCache(testRedisUrl(), { prefix }).ready(), new RedisCache(testRedisUrl(), { prefix }).ready()]);
    },
  },
];

const OPTS: SingleFlightOptions = { ttlMs: 2_000, pollMs: 50, waitMs: 10_000 };

describe.each(setups)('singleFlight [$name]', ({ make, skip }) => {
  let replicas: Cache[] = [];
  let n = 0;
  const fresh = () => `job-${++n}`;
  beforeAll(async () => {
    if (!skip) replicas = await make();
  });
  afterAll(async () => {
    await Promise.all([...new Set(replicas)].map((c) => c.close()));
  });

  /** A caller on replica `i`: the leader produces the result and stores it; followers look for it. */
  function caller(i: number, key: string, leader: () => Promise<string>, opts = OPTS): Promise<string> {
    const cache = replicas[i % replicas.length]!;
    return singleFlight(
      cache,
      key,
      opts,
      async () => {
        const v = await leader();
        await cache.set(`result:${key}`, v, 10_000);
        return v;
      },
      async () => (await cache.get(`result:${key}`)) ?? undefined,
    );
  }

  it.skipIf(skip)('20 concurrent callers: one leader run, everyone gets its result', async () => {
    const key = fresh();
    let runs = 0;
    const leader = async () => {
      runs++;
      await sleep(150);
      return `value-${runs}`;
    };
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => caller(i, key, leader)));
    expect(runs).toBe(1);
    expect(results).toEqual(Array(20).fill('value-1'));
  });

  it.skipIf(skip)('the leader keeps its lock alive past the TTL, so nobody else starts', async () => {
    const key = fresh();
    let runs = 0;
    const leader = async () => {
      runs++;
      await sleep(1_000); // several times the TTL
      return 'slow';
    };
    const opts = { ttlMs: 300, pollMs: 30, waitMs: 5_000 };
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => caller(i, key, leader, opts)));
    expect(runs).toBe(1);
    expect(results).toEqual(Array(6).fill('slow'));
  });

  it.skipIf(skip)('a failing leader: its caller gets the error, a follower takes over and the rest get its result', async () => {
    const key = fresh();
    let runs = 0;
    const leader = async () => {
      const run = ++runs;
      await sleep(100);
      if (run === 1) throw new Error('upstream broke');
      return `value-${run}`;
    };
    const settled = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => caller(i, key, leader)));
    expect(runs).toBe(2);
    const failed = settled.filter((s) => s.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect((failed[0] as PromiseRejectedResult).reason.message).toBe('upstream broke');
    expect(settled.filter((s) => s.status === 'fulfilled').map((s) => (s as PromiseFulfilledResult<string>).value)).toEqual(Array(9).fill('value-2'));
  });

  it.skipIf(skip)('a leader that died (lock never released) is replaced once its lock expires', async () => {
    const key = fresh();
    const dead = await replicas[0]!.tryLock(key, 300); // a crashed replica's lock: nobody extends or releases it
    expect(dead).not.toBeNull();
    let runs = 0;
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        caller(i, key, async () => {
          runs++;
          return 'recovered';
        }),
      ),
    );
    expect(runs).toBe(1);
    expect(results).toEqual(Array(5).fill('recovered'));
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it.skipIf(skip)('a result committed between a follower check and its lock attempt is not produced again', async () => {
    const key = fresh();
    const holder = (await replicas[0]!.tryLock(key, 5_000))!;
    let runs = 0;
    let checks = 0;
    const result = await singleFlight(
      replicas[1]!,
      key,
      OPTS,
      async () => {
        runs++;
        return 'duplicate';
      },
      async () => {
        const v = (await replicas[1]!.get(`result:${key}`)) ?? undefined;
        // The holder commits and releases right after the second check looked: the worst moment.
        if (++checks === 2) {
          await replicas[0]!.set(`result:${key}`, 'original', 10_000);
          await holder.release();
        }
        return v;
      },
    );
    expect(result).toBe('original');
    expect(runs).toBe(0);
    expect(checks).toBe(3);
  });

  it.skipIf(skip)('gives up with SingleFlightTimeoutError after waitMs', async () => {
    const key = fresh();
    const holder = (await replicas[0]!.tryLock(key, 10_000))!;
    let followerCalls = 0;
    const started = Date.now();
    const err = await singleFlight(
      replicas[1]!,
      key,
      { ttlMs: 1_000, pollMs: 100, waitMs: 400 },
      async () => 'never',
      async () => {
        followerCalls++;
        return undefined;
      },
    ).catch((e: unknown) => e);
    const waited = Date.now() - started;
    expect(err).toBeInstanceOf(SingleFlightTimeoutError);
    expect((err as SingleFlightTimeoutError).key).toBe(key);
    expect((err as Error).message).toMatch(/400 ms/);
    expect(waited).toBeGreaterThanOrEqual(390);
    expect(waited).toBeLessThan(1_000);
    // Backoff: 10, 20, 40, 80, 100, 100… ms — not a call every few milliseconds, not one per pollMs either.
    expect(followerCalls).toBeGreaterThanOrEqual(3);
    expect(followerCalls).toBeLessThanOrEqual(10);
    await holder.release();
  });

  it.skipIf(skip)('stops waiting when the signal aborts', async () => {
    const key = fresh();
    const holder = (await replicas[0]!.tryLock(key, 10_000))!;
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('client went away')), 100);
    await expect(
      singleFlight(replicas[1]!, key, { ...OPTS, signal: ac.signal }, async () => 'never', async () => undefined),
    ).rejects.toThrow('client went away');
    await holder.release();
  });

  it.skipIf(skip)('rejects nonsensical options', async () => {
    await expect(singleFlight(replicas[0]!, fresh(), { ...OPTS, pollMs: 0 }, async () => 1, async () => undefined)).rejects.toThrow(RangeError);
  });
});
