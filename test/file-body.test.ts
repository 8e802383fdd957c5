import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startServer } from '../src/http/server.js';
import type { RunningServer } from '../src/http/types.js';
import { createLogger } from '../src/log.js';
import { FILE_CHUNK, FileBody, LARGE_CHUNK, FEW_TRANSFERS } from '../src/storage/file-body.js';
import { beginTransfer } from '../src/storage/transfers.js';
import { POOL_CHUNK } from '../src/util/chunk-pool.js';
import { ENGINES } from './helpers/app.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let dir: string;
let file: string;
let data: Buffer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aa-filebody-'));
  file = join(dir, 'f');
  // Larger than loopback's socket buffers, so a stalled client leaves sends pending in the engine.
  data = randomBytes(95 * FILE_CHUNK + 12345);
  await writeFile(file, data);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect(body: FileBody, recycle: boolean): Promise<{ bytes: Buffer; memories: Set<ArrayBufferLike>; sizes: number[] }> {
  const parts: Buffer[] = [];
  const sizes: number[] = [];
  const memories = new Set<ArrayBufferLike>();
  for await (const c of body) {
    const chunk = c as Buffer;
    memories.add(chunk.buffer);
    sizes.push(chunk.length);
    parts.push(Buffer.from(chunk)); // a copy: the original goes back
    if (recycle) body.recycle(chunk);
  }
  return { bytes: Buffer.concat(parts), memories, sizes };
}

describe('FileBody', () => {
  it('reads the whole file, or an inclusive range, byte for byte', async () => {
    expect((await collect(new FileBody(await open(file), 0, Infinity), false)).bytes.equals(data)).toBe(true);
    const r = await collect(new FileBody(await open(file), 1000, 3 * FILE_CHUNK + 7), false);
    expect(r.bytes.equals(data.subarray(1000, 3 * FILE_CHUNK + 8))).toBe(true);
  });

  it('reads into buffers handed back instead of new ones; a body shorter than a chunk gets its own buffer', async () => {
    const recycled = await collect(new FileBody(await open(file), 0, Infinity), true);
    expect(recycled.bytes.equals(data)).toBe(true);
    // 12 chunks (2 MiB reads: nothing else runs) through a handful of buffers (the stream reads ahead a chunk or
    // two before the first comes back).
    expect(recycled.sizes.length).toBe(12);
    expect(recycled.memories.size).toBeLessThanOrEqual(6);
    const kept = await collect(new FileBody(await open(file), 0, Infinity), false);
    expect(kept.memories.size).toBe(12);
    const small = new FileBody(await open(file), 5, 104);
    const [only] = (await small.toArray()) as Buffer[];
    expect(only!.buffer.byteLength).toBe(100);
    expect(only!.equals(data.subarray(5, 105))).toBe(true);
  });

  it('reads 2 MiB at a time with at most FEW_TRANSFERS transfers, FILE_CHUNK past that', async () => {
    const alone = await collect(new FileBody(await open(file), 0, Infinity), true);
    expect(alone.bytes.equals(data)).toBe(true);
    // 2 MiB reads while at least that much is left, then 1 MiB, then FILE_CHUNK, then the rest.
    expect(alone.sizes.slice(0, 11)).toEqual(Array(11).fill(LARGE_CHUNK));
    expect(alone.sizes.slice(11, -1).every((n) => n === POOL_CHUNK || n === FILE_CHUNK)).toBe(true);
    // The body is a transfer too: with FEW_TRANSFERS - 1 others it still reads 2 MiB, with FEW_TRANSFERS others not.
    const others = Array.from({ length: FEW_TRANSFERS }, () => beginTransfer());
    try {
      others.pop()!();
      const some = await collect(new FileBody(await open(file), 0, Infinity), true);
      expect(some.bytes.equals(data)).toBe(true);
      expect(some.sizes.slice(0, 11)).toEqual(Array(11).fill(LARGE_CHUNK));
      others.push(beginTransfer());
      const crowded = await collect(new FileBody(await open(file), 0, Infinity), true);
      expect(crowded.bytes.equals(data)).toBe(true);
      expect(crowded.sizes.length).toBe(96);
      expect(crowded.sizes.slice(0, -1).every((n) => n === FILE_CHUNK)).toBe(true);
    } finally {
      for (const end of others) end();
    }
  });

  it('gets every buffer back, also those its consumer hands back after the stream closed and the read past the end', async () => {
    // A whole file of exactly 8 chunks: the read ahead after the last one finds no bytes.
    const exact = join(dir, 'exact');
    await writeFile(exact, data.subarray(0, 8 * LARGE_CHUNK));
    // As a socket does: the last chunks come back once the stream has ended and closed.
    const readLate = async () => {
      const body = new FileBody(await open(exact), 0, Infinity);
      const closed = new Promise((r) => body.once('close', r));
      const chunks = (await body.toArray()) as Buffer[];
      await closed;
      for (const c of chunks) body.recycle(c);
      return Buffer.concat(chunks.map((c) => Buffer.from(c)));
    };
    expect((await readLate()).equals(data.subarray(0, 8 * LARGE_CHUNK))).toBe(true);
    const alloc = vi.spyOn(Buffer, 'allocUnsafeSlow');
    try {
      expect((await readLate()).equals(data.subarray(0, 8 * LARGE_CHUNK))).toBe(true);
      expect(alloc.mock.calls.filter(([n]) => n === LARGE_CHUNK)).toHaveLength(0);
    } finally {
      alloc.mockRestore();
    }
  });

  it('ignores buffers that are not its own, and fails when the file is shorter than the range', async () => {
    const body = new FileBody(await open(file), 0, Infinity);
    body.recycle(Buffer.alloc(FILE_CHUNK)); // not ours: must not be read into
    expect((await collect(body, true)).bytes.equals(data)).toBe(true);
    const short = new FileBody(await open(file), data.length - 10, data.length + 100);
    await expect(short.toArray()).rejects.toThrow(/ended 101 bytes before/);
  });

  it('reads the next chunk while the current one is with its consumer, each position once', async () => {
    const fh = await open(file);
    const at: number[] = [];
    const spy = {
      read: (buf: Buffer, off: number, len: number, pos: number) => (at.push(pos), fh.read(buf, off, len, pos)),
      close: () => fh.close(),
    } as unknown as typeof fh;
    const body = new FileBody(spy, 0, Infinity);
    await new Promise((r) => body.once('readable', r));
    // Nothing consumed yet: the first chunk is buffered and the second already being read.
    expect(at).toEqual([0, LARGE_CHUNK]);
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(Buffer.from(c as Buffer));
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    // One read per chunk, the last one finding the end of the file.
    expect(at).toEqual([...Array.from({ length: 12 }, (_, i) => i * LARGE_CHUNK), data.length]);
  });
});

describe.each(ENGINES)('file bodies through the HTTP engine [%s]', (engine) => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.close(200);
    server = undefined;
  });

  it('concurrent and slow clients each get exactly the file, whatever the buffer reuse', async () => {
    server = await startServer(
      engine,
      {
        host: '127.0.0.1',
        port: 0,
        handler: async (req, res) => {
          const ranged = req.rawPath === '/range';
          await res.stream(new FileBody(await open(file), ranged ? 777 : 0, ranged ? data.length - 5 : Infinity), ranged ? data.length - 4 - 777 : data.length);
        },
      },
      createLogger('silent'),
    );
    const get = (path: string, slow: boolean) =>
      new Promise<string>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: server!.port, path, agent: false }, (res) => {
          const h = createHash('sha256');
          let first = true;
          res.on('data', (c: Buffer) => {
            h.update(c);
            if (slow) {
              // A stalled reader: the socket fills, so sends are partial and remainders wait for writability.
              res.pause();
              setTimeout(() => res.resume(), first ? 300 : 1);
              first = false;
            }
          });
          res.on('end', () => resolve(h.digest('hex')));
          res.on('error', reject);
        }).on('error', reject);
      });
    const whole = sha(data);
    const ranged = sha(data.subarray(777, data.length - 4));
    const got = await Promise.all([get('/', true), get('/', false), get('/range', true), get('/', false), get('/range', false), get('/', true)]);
    expect(got).toEqual([whole, whole, ranged, whole, ranged, whole]);
  });
});
