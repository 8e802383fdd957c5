import type { Cache } from '../cache/types.js';
import type { Database } from '../db/types.js';
import type { BlobStore } from '../storage/types.js';

export interface HealthReport {
  status: 'ok' | 'degraded';
  checks: Record<string, { ok: boolean; ms: number; driver: string; error?: string }>;
}

async function probe(driver: string, fn: () => Promise<unknown>, timeoutMs: number) {
  const t0 = performance.now();
  try {
    await Promise.race([fn(), new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs).unref())]);
    return { ok: true, ms: Math.round(performance.now() - t0), driver };
  } catch (err) {
    return { ok: false, ms: Math.round(performance.now() - t0), driver, error: (err as Error).message };
  }
}

/** /health: each dependency answered within a bound; 503 when one did not. */
export async function healthReport(d: { db: Database; store: BlobStore; cache: Cache }, timeoutMs = 2_000): Promise<HealthReport> {
  const [database, storage, cache] = await Promise.all([
    probe(d.db.driver, () => d.db.query('SELECT 1'), timeoutMs),
    probe(d.store.driver, () => d.store.check(), timeoutMs),
    probe(d.cache.driver, () => d.cache.check(), timeoutMs),
  ]);
  const checks = { database, storage, cache };
  return { status: Object.values(checks).every((c) => c.ok) ? 'ok' : 'degraded', checks };
}
