import { MemoryCache } from './memory-cache.js';
import { RedisCache } from './redis-cache.js';
import type { Cache } from './types.js';

export type { Cache, Lock } from './types.js';
export { CacheClosedError, CacheConnectError, CacheUnavailableError, SingleFlightTimeoutError } from './errors.js';
export { singleFlight, type SingleFlightOptions } from './single-flight.js';

export type CacheConfig = {
  /** redis:// or rediss:// URL; without it the cache lives in process memory (embedded mode). */
  url?: string;
  /** Key and channel namespace in Redis. Default `artifactapi:`. */
  prefix?: string;
  /** How long start-up waits for Redis before failing with a CacheConnectError. Default 5 s. */
  connectTimeoutMs?: number;
};

/** Redis when a URL is given (waits until it answers, else a clear CacheConnectError), otherwise in-process memory. */
export async function createCache(cfg: CacheConfig): Promise<Cache> {
  if (!cfg.url) return new MemoryCache();
  return new RedisCache(cfg.url, { prefix: cfg.prefix }).ready(cfg.connectTimeoutMs);
}
