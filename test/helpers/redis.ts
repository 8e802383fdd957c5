import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/** The Redis the tests use: REDIS_URL, else the local default. */
export function testRedisUrl(): string {
  return process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** A key/channel prefix nobody else uses, so test files can run in parallel and repeatedly. */
export function uniqueRedisPrefix(tag = 'test'): string {
  return `aa-${tag}:${process.pid}-${randomBytes(4).toString('hex')}:`;
}

const probes = new Map<string, Promise<boolean>>();

/**
 * Whether Redis answers PING (one attempt, 2 s at most; remembered per URL). When it does not, prints a loud
 * warning so a skipped Redis suite is never mistaken for a passing one. Use with top-level await:
 * `const redisUp = await redisAvailable(); describe.skipIf(!redisUp)(…)`.
 */
export function redisAvailable(url = testRedisUrl()): Promise<boolean> {
  let probe = probes.get(url);
  if (!probe) {
    probe = ping(url).then(
      () => true,
      (err: Error) => {
        console.warn(
          `\n!!!! SKIPPING Redis tests: ${url} is not reachable (${err.message}) — start Redis or set REDIS_URL !!!!\n`,
        );
        return false;
      },
    );
    probes.set(url, probe);
  }
  return probe;
}

async function ping(url: string): Promise<void> {
  const r = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 2_000, enableOfflineQueue: false });
  r.on('error', () => {});
  try {
    await r.connect();
    await r.ping();
  } finally {
    r.disconnect();
  }
}
