import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Spool } from '../src/engine/spool.js';
import { openDirect } from '../src/storage/direct-io.js';
import type { DurableFileWriter } from '../src/storage/durable-file.js';
import { idleChunks, markExclusive, POOL_CHUNK, takeChunk } from '../src/util/chunk-pool.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aa-spool-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const MiB = 1024 * 1024;
const tick = () => new Promise((r) => setTimeout(r, 20));
/** Waits until `cond` holds (reads from the file take a while on a loaded machine). */
async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !cond() && Date.now() < end; ) await tick();
}
const write = (w: Writable, b: Buffer) => new Promise<void>((resolve, reject) => w.write(b, (err) => (err ? reject(err) : resolve())));

/** Everything a reader has delivered so far, and whether it ended or failed. */
function follow(r: Readable) {
  const got: Buffer[] = [];
  const state = { ended: false, error: undefined as Error | undefined, bytes: () => Buffer.concat(got) };
  r.on('data', (c: Buffer) => got.push(Buffer.from(c)));
  r.on('end', () => (state.ended = true));
  r.on('error', (e) => (state.error = e));
  return state;
}

describe('Spool', () => {
  it('with a known length, a reader that keeps up gets all but the last byte before finish, the rest after', async () => {
    const data = randomBytes(3 * MiB + 17);
    const spool = new Spool(join(dir, 'a'), data.length);
    const w = spool.writer();
    const r = follow(spool.reader());
    for (let i = 0; i < data.length; i += 64 * 1024) {
      await write(w, data.subarray(i, i + 64 * 1024));
      await until(() => r.bytes().length >= Math.min(i + 64 * 1024, data.length - 1));
      // Caught up: each chunk is there as soon as it was handed to the file, whole, except the very last byte.
      expect(r.bytes().length).toBe(Math.min(i + 64 * 1024, data.length - 1));
      if (i > MiB) break;
    }
    for (let i = MiB + 64 * 1024 + 64 * 1024; i < data.length; i += 64 * 1024) await write(w, data.subarray(i, i + 64 * 1024));
    await new Promise<void>((resolve) => w.end(resolve));
    await until(() => r.bytes().length >= data.length - 1);
    await tick();
    expect(r.bytes().length).toBe(data.length - 1);
    expect(r.ended).toBe(false);
    spool.finish();
    await until(() => r.ended);
    expect(r.ended).toBe(true);
    expect(r.bytes().equals(data)).toBe(true);
    await spool.dispose();
  });

  it('without a length, readers stay one byte behind until finish', async () => {
    const spool = new Spool(join(dir, 'b'));
    const w = spool.writer();
    const r = follow(spool.reader());
    await write(w, Buffer.from('hello '));
    await until(() => r.bytes().length >= 5);
    await tick();
    expect(r.bytes().toString()).toBe('hello');
    await write(w, Buffer.from('world'));
    await until(() => r.bytes().length >= 10);
    await tick();
    expect(r.bytes().toString()).toBe('hello worl');
    await new Promise<void>((resolve) => w.end(resolve));
    spool.finish();
    await until(() => r.ended);
    expect(r.bytes().toString()).toBe('hello world');
    expect(r.ended).toBe(true);
    await spool.dispose();
  });

  // Past `directAfter` the spool's bytes go around the page cache (O_DIRECT) and a reader behind reads them from disk.
  it.each([['ordinary writes', undefined], ['direct writes past 1 MiB', MiB + 3]])('a reader that starts late reads the file, then joins the live chunks; a slow one is not held in memory (%s)', async (name, directAfter) => {
    const data = randomBytes(12 * MiB + 5);
    const spool = new Spool(join(dir, `c-${name.length}`), data.length, directAfter);
    const w = spool.writer();
    const early = spool.reader();
    early.pause(); // never reads: must not keep the writer from going on
    for (let i = 0; i < 10 * MiB; i += 256 * 1024) await write(w, data.subarray(i, i + 256 * 1024));
    await tick();
    const late = follow(spool.reader());
    await until(() => late.bytes().length >= 10 * MiB);
    expect(late.bytes().length).toBe(10 * MiB);
    expect(late.bytes().equals(data.subarray(0, 10 * MiB))).toBe(true);
    for (let i = 10 * MiB; i < data.length; i += 256 * 1024) await write(w, data.subarray(i, i + 256 * 1024));
    await new Promise<void>((resolve) => w.end(resolve));
    spool.finish();
    await until(() => late.ended);
    expect(late.ended).toBe(true);
    expect(late.bytes().equals(data)).toBe(true);
    const rest: Buffer[] = [];
    for await (const c of early) rest.push(c as Buffer);
    expect(Buffer.concat(rest).equals(data)).toBe(true);
    const probe = await openDirect(join(dir, `c-${name.length}`));
    await probe?.close();
    expect((w as DurableFileWriter).wentDirect).toBe(directAfter !== undefined && probe !== null);
    expect(spool.wentDirect).toBe((w as DurableFileWriter).wentDirect);
    await spool.dispose();
  });

  it('a failure reaches every reader, with no last byte delivered', async () => {
    const spool = new Spool(join(dir, 'd'), 10);
    const w = spool.writer();
    const r = follow(spool.reader());
    await write(w, Buffer.from('0123456789'));
    await until(() => r.bytes().length >= 9);
    await tick();
    expect(r.bytes().toString()).toBe('012345678');
    spool.fail(new Error('digest mismatch'));
    await until(() => r.error !== undefined);
    expect(r.error?.message).toBe('digest mismatch');
    expect(r.ended).toBe(false);
    w.destroy();
    await spool.dispose();
  });

  it('a reader that keeps up paces the download; one that stalls stops pacing it after a second', async () => {
    const data = randomBytes(14 * MiB);
    const spool = new Spool(join(dir, 'pace'), data.length);
    const w = spool.writer();
    const reader = spool.reader();
    const got: Buffer[] = [];
    reader.on('data', (c: Buffer) => got.push(Buffer.from(c)));
    reader.pause();
    // The reader takes nothing: the writes stop being accepted a little over 2 MiB ahead of it.
    let accepted = 0;
    const writes = (async () => {
      for (let i = 0; i < 6 * MiB; i += 256 * 1024) {
        await write(w, data.subarray(i, i + 256 * 1024));
        accepted = i + 256 * 1024;
      }
    })();
    await new Promise((r) => setTimeout(r, 400));
    expect(accepted).toBeGreaterThanOrEqual(2 * MiB);
    expect(accepted).toBeLessThanOrEqual(4 * MiB);
    // It reads again: the download follows it.
    reader.resume();
    await writes;
    expect(accepted).toBe(6 * MiB);
    // It stalls: after a second in vain the download goes on without it, at full speed.
    reader.pause();
    await until(() => got.reduce((n, c) => n + c.length, 0) >= 6 * MiB - 1024 * 1024);
    const t0 = Date.now();
    for (let i = 6 * MiB; i < data.length; i += 256 * 1024) await write(w, data.subarray(i, i + 256 * 1024));
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThan(5000);
    await new Promise<void>((resolve) => w.end(resolve));
    spool.finish();
    reader.resume();
    await new Promise((r) => reader.once('end', r));
    expect(Buffer.concat(got).equals(data)).toBe(true);
    await spool.dispose();
  });

  /** `n` MiB of random bytes in exclusive pool chunks, as the upstream client and the hash stream hand them on. */
  function pooledChunks(n: number): { chunks: Buffer[]; bytes: Buffer } {
    const chunks = Array.from({ length: n }, () => {
      const c = takeChunk();
      randomBytes(POOL_CHUNK).copy(c);
      markExclusive(c);
      return c;
    });
    return { chunks, bytes: Buffer.concat(chunks) };
  }

  it.each([
    ['hands back what it sent', true],
    ['keeps what it was given', false],
  ])('pool chunks go back to the pool once in the file and every reader whose consumer %s is done with them', async (_name, recycles) => {
    while (idleChunks() > 0) takeChunk();
    const { chunks, bytes } = pooledChunks(12);
    const spool = new Spool(join(dir, `pool-${recycles}`), bytes.length);
    const w = spool.writer();
    const r = spool.reader();
    const got: Buffer[] = [];
    r.on('data', (c: Buffer) => {
      got.push(Buffer.from(c));
      // As the HTTP engines do once the bytes left.
      if (recycles) r.recycle(c);
    });
    for (const c of chunks) await write(w, c);
    await new Promise<void>((resolve) => w.end(resolve));
    spool.finish();
    await new Promise((resolve) => r.once('end', resolve));
    await spool.dispose();
    expect(Buffer.concat(got).equals(bytes)).toBe(true);
    // A consumer that never hands its chunks back leaves them to the collector: nothing comes back.
    if (recycles) expect(idleChunks()).toBeGreaterThanOrEqual(10);
    else expect(idleChunks()).toBe(0);
  });
});
