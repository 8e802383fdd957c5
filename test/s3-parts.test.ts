import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PartCutter } from '../src/storage/s3-parts.js';

/** A part sink that keeps a copy of each part and finishes them when told (or at once). */
function recorder(opts: { manual?: boolean; failAt?: number } = {}) {
  const got = new Map<number, Buffer>();
  const buffers = new Set<ArrayBufferLike>();
  const waiting: Array<() => void> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const send = async (n: number, bytes: Buffer) => {
    buffers.add(bytes.buffer);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    if (opts.manual) await new Promise<void>((r) => waiting.push(r));
    else await new Promise((r) => setImmediate(r));
    inFlight--;
    if (n === opts.failAt) throw new Error(`part ${n} refused`);
    got.set(n, Buffer.from(bytes));
    return `"etag-${n}"`;
  };
  return { send, got, buffers, waiting, stats: () => ({ inFlight, maxInFlight }) };
}

describe('PartCutter', () => {
  it('cuts any chunking into parts of the part size, in order, through the given number of reused buffers', async () => {
    const data = randomBytes(10 * 1000 + 123);
    const rec = recorder();
    const cut = new PartCutter(1000, rec.send, 3);
    for (let off = 0; off < data.length; ) {
      const n = 1 + Math.floor(Math.random() * 2500);
      await cut.write(data.subarray(off, off + n));
      off += n;
    }
    expect(cut.pending.length).toBe(123);
    cut.ship();
    const parts = await cut.settle();
    expect(parts.map((p) => [p.n, p.size, p.etag])).toEqual(Array.from({ length: 11 }, (_, i) => [i + 1, i < 10 ? 1000 : 123, `"etag-${i + 1}"`]));
    expect(Buffer.concat(parts.map((p) => rec.got.get(p.n)!)).equals(data)).toBe(true);
    expect(rec.buffers.size).toBe(3);
    expect(rec.stats().maxInFlight).toBe(3);
  });

  it('waits while every buffer is full or uploading', async () => {
    const rec = recorder({ manual: true });
    const cut = new PartCutter(100, rec.send, 2);
    await cut.write(Buffer.alloc(100)); // part 1 uploads
    let taken = false;
    const w = cut.write(Buffer.alloc(150)).then(() => (taken = true)); // part 2 fills: no buffer for the rest
    await new Promise((r) => setTimeout(r, 20));
    expect(taken).toBe(false);
    expect(rec.stats().inFlight).toBe(2);
    rec.waiting.shift()!();
    await w;
    expect(cut.pending.length).toBe(50);
    rec.waiting.shift()!();
    expect((await cut.settle()).map((p) => p.n)).toEqual([1, 2]);
  });

  it('numbers parts after those of earlier appends and sends an empty part when asked', async () => {
    const rec = recorder();
    const cut = new PartCutter(100, rec.send, 2, [{ n: 1, etag: '"a"', size: 100 }]);
    cut.ship();
    expect((await cut.settle()).map((p) => [p.n, p.size])).toEqual([
      [1, 100],
      [2, 0],
    ]);
  });

  it('a refused part fails the writes that follow it and settle', async () => {
    const rec = recorder({ failAt: 2 });
    const cut = new PartCutter(100, rec.send, 2);
    const writing = (async () => {
      for (let i = 0; i < 10; i++) await cut.write(Buffer.alloc(100));
    })();
    await expect(writing).rejects.toThrow('part 2 refused');
    await expect(cut.settle()).rejects.toThrow('part 2 refused');
  });
});
