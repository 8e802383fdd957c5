import { MemoryCache } from './memory-cache.js';
import { RedisCache } from './redis-cache.js';
import type { Cache } from './types.js';

export interface CacheConfig {
  url?: string;
  prefix?: string;
}

/** Redis when a URL is given (waits for the connection, with a clear error), otherwise in-process memory. */
export async function createCache(cfg: CacheConfig): Promise<Cache> {
  if (!cfg.url) return new MemoryCache();
  return new RedisCache(cfg.url, cfg.prefix).ready();
}
