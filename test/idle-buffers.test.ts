import { afterEach, describe, expect, it, vi } from 'vitest';
import { IdleBuffers } from '../src/util/idle-buffers.js';

describe('IdleBuffers', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('hands back what it was given, newest first, and keeps no more than its cap', () => {
    const pool = new IdleBuffers(16, 2);
    const [a, b, c] = [pool.take(), pool.take(), pool.take()];
    expect(new Set([a.buffer, b.buffer, c.buffer]).size).toBe(3);
    pool.give(a);
    pool.give(b);
    pool.give(c); // over the cap: dropped
    expect(pool.count).toBe(2);
    expect(pool.take()).toBe(b);
    expect(pool.take()).toBe(a);
    expect(pool.take().buffer).not.toBe(c.buffer);
  });

  it('lets the buffers past its floor go once none was taken for a whole interval', () => {
    vi.useFakeTimers();
    const pool = new IdleBuffers(16, 10, { floor: 2, idleMs: 1000 });
    const bufs = Array.from({ length: 6 }, () => pool.take());
    for (const b of bufs) pool.give(b);
    expect(pool.count).toBe(6);
    // Still in use: a take during the interval keeps them another interval.
    vi.advanceTimersByTime(500);
    pool.give(pool.take());
    vi.advanceTimersByTime(600);
    expect(pool.count).toBe(6);
    vi.advanceTimersByTime(1000);
    expect(pool.count).toBe(2);
    // Below the floor nothing is trimmed, and no timer is left running.
    expect(vi.getTimerCount()).toBe(0);
  });
});
