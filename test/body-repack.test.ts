import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BodyRepacker } from '../src/http/body-repack.js';
import { POOL_CHUNK } from '../src/util/chunk-pool.js';

describe('BodyRepacker', () => {
  it('emits full pool chunks across piece boundaries, then the rest; the bytes are the same', () => {
    const body = randomBytes(2 * POOL_CHUNK + 777);
    const p = new BodyRepacker();
    const out: Buffer[] = [];
    const ends: boolean[] = [];
    const pieces = [body.subarray(0, 100), body.subarray(100, POOL_CHUNK + 5), body.subarray(POOL_CHUNK + 5)];
    for (const piece of pieces) p.add(piece, (c, endsSrc) => (out.push(c), ends.push(endsSrc), true));
    expect(out.map((c) => c.length)).toEqual([POOL_CHUNK, POOL_CHUNK]);
    expect(ends).toEqual([false, false]);
    const rest = p.rest()!;
    expect(rest.length).toBe(777);
    expect(Buffer.concat([...out, rest]).equals(body)).toBe(true);
    expect(out.every((c) => c.byteOffset === 0 && c.buffer.byteLength === POOL_CHUNK)).toBe(true);
    expect(p.rest()).toBeUndefined();
  });

  it('sizes the last buffer of an announced length to what is left, and returns what emit returned', () => {
    const p = new BodyRepacker(POOL_CHUNK + 10);
    const out: Buffer[] = [];
    expect(p.add(randomBytes(POOL_CHUNK + 10), (c) => (out.push(c), false))).toBe(false);
    expect(out.map((c) => [c.length, c.buffer.byteLength])).toEqual([[POOL_CHUNK, POOL_CHUNK], [10, 10]]);
    expect(p.rest()).toBeUndefined();
    expect(new BodyRepacker().add(Buffer.alloc(10), () => false)).toBe(true);
  });

  it('forgets held bytes when dropped', () => {
    const p = new BodyRepacker();
    p.add(Buffer.alloc(10), () => true);
    p.drop();
    expect(p.rest()).toBeUndefined();
  });
});
