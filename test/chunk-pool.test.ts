import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHasher } from '../src/hashing/pool.js';
import { DurableFileWriter } from '../src/storage/durable-file.js';
import { idleChunks, markExclusive, POOL_CHUNK, recycleChunk, takeChunk } from '../src/util/chunk-pool.js';

const hasher = createHasher({ threads: 1 });

/** Drains the pool so a test starts from nothing idle. */
function emptyPool(): void {
  while (idleChunks() > 0) takeChunk();
}

/** `n` pool chunks filled with random bytes, as the uWS engine's body would hand them on. */
function pooledBody(n: number): { chunks: Buffer[]; bytes: Buffer } {
  const chunks = Array.from({ length: n }, () => {
    const c = takeChunk();
    randomBytes(POOL_CHUNK).copy(c);
    return c;
  });
  return { chunks, bytes: Buffer.concat(chunks) };
}

describe('upload chunk pool', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aa-pool-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await hasher.close();
  });

  async function upload(name: string, chunks: Buffer[], recycle: boolean): Promise<{ file: Buffer; sha256: string }> {
    const fh = await open(join(dir, name), 'w');
    const hashing = hasher.stream({ algorithms: ['sha256'] });
    const sink = new DurableFileWriter({ fh: async () => fh, recycle });
    await pipeline(Readable.from(chunks, { objectMode: false }), hashing, sink);
    await fh.close();
    return { file: await readFile(join(dir, name)), sha256: (await hashing.result).digests.sha256! };
  }

  it('gets chunks back once their bytes are in the file, and the next upload reuses them with its own bytes intact', async () => {
    emptyPool();
    const first = pooledBody(6);
    const a = await upload('a', first.chunks, true);
    expect(a.file.equals(first.bytes)).toBe(true);
    expect(a.sha256).toBe(createHash('sha256').update(first.bytes).digest('hex'));
    const back = idleChunks();
    expect(back).toBeGreaterThan(0);

    // The second body is written into the memory the first one used.
    const second = pooledBody(6);
    expect(idleChunks()).toBe(Math.max(0, back - 6));
    const b = await upload('b', second.chunks, true);
    expect(b.file.equals(second.bytes)).toBe(true);
    expect(b.sha256).toBe(createHash('sha256').update(second.bytes).digest('hex'));
    // The first file is untouched by the reuse.
    expect((await readFile(join(dir, 'a'))).equals(first.bytes)).toBe(true);
  });

  it('keeps nothing from a writer that is not the last holder of its chunks', async () => {
    emptyPool();
    const body = pooledBody(4);
    const r = await upload('c', body.chunks, false);
    expect(r.file.equals(body.bytes)).toBe(true);
    expect(idleChunks()).toBe(0);
  });

  it("never takes back a caller's own buffer, only what a hashing worker handed back", async () => {
    emptyPool();
    const mine = Buffer.allocUnsafeSlow(POOL_CHUNK).fill(7);
    recycleChunk(mine);
    expect(idleChunks()).toBe(0);
    // Written straight to a recycling writer (no hash stream in between), the caller's buffer stays the caller's.
    const fh = await open(join(dir, 'd'), 'w');
    await pipeline(Readable.from([mine]), new DurableFileWriter({ fh: async () => fh, recycle: true }));
    await fh.close();
    expect(idleChunks()).toBe(0);
    expect(mine.every((x) => x === 7)).toBe(true);
  });

  it('marks only whole chunk-sized ArrayBuffers, and takes one back once', () => {
    emptyPool();
    const small = Buffer.allocUnsafeSlow(4096);
    markExclusive(small);
    recycleChunk(small);
    const slice = Buffer.allocUnsafeSlow(2 * POOL_CHUNK).subarray(POOL_CHUNK);
    markExclusive(slice);
    recycleChunk(slice);
    expect(idleChunks()).toBe(0);
    const part = Buffer.from(Buffer.allocUnsafeSlow(POOL_CHUNK).buffer, 0, 1000); // a last, partial chunk
    markExclusive(part);
    recycleChunk(part);
    recycleChunk(part);
    expect(idleChunks()).toBe(1);
    expect(takeChunk().length).toBe(POOL_CHUNK);
  });
});
