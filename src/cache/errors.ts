/** The cache was used after close(); the same for both drivers so embedded mode surfaces shutdown-order bugs too. */
export class CacheClosedError extends Error {
  constructor(driver: string) {
    super(`${driver} cache is closed`);
    this.name = 'CacheClosedError';
  }
}

/** Redis is not connected right now (commands fail fast instead of queueing; the client reconnects meanwhile). */
export class CacheUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CacheUnavailableError';
  }
}

/** Start-up could not reach Redis within the timeout. The message names the (redacted) URL and the last cause. */
export class CacheConnectError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CacheConnectError';
  }
}

/** A single-flight follower waited `waitMs` without seeing a result or getting the lock. */
export class SingleFlightTimeoutError extends Error {
  constructor(
    readonly key: string,
    readonly waitMs: number,
  ) {
    super(`single-flight "${key}": no result and no lock after waiting ${waitMs} ms for another holder`);
    this.name = 'SingleFlightTimeoutError';
  }
}

/**
 * TTLs are whole milliseconds > 0 (Redis PX rejects 0 and fractions); both drivers validate the same way so a
 * bad TTL fails in embedded mode just as it would against Redis.
 */
export function ttlMs(ms: number): number {
  if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`cache TTL must be a positive number of milliseconds, got ${ms}`);
  return Math.ceil(ms);
}
