import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, truncate, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectAppender, openDirect, SLAB } from '../src/storage/direct-io.js';
import { DurableFileWriter } from '../src/storage/durable-file.js';

describe('DurableFileWriter', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aa-dfw-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes chunks that queue up behind a write (one writev) in order, reporting each total once it is in the file', async () => {
    const file = join(dir, 'a');
    const fh = await open(file, 'w');
    const reported: number[] = [];
    const w = new DurableFileWriter({ fh: async () => fh, onWritten: (n) => reported.push(n) });
    // Written in one turn: the first goes out alone, the rest wait in the buffer and reach _writev together.
    const chunks = Array.from({ length: 40 }, (_, i) => randomBytes(1000 + i * 777));
    let writevCalls = 0;
    const orig = w._writev.bind(w);
    w._writev = (c, cb) => {
      writevCalls++;
      orig(c, cb);
    };
    for (const c of chunks) w.write(c);
    await new Promise<void>((resolve, reject) => w.end(() => resolve()).once('error', reject));
    await w.flush();
    await fh.close();
    const expected = Buffer.concat(chunks);
    expect(await readFile(file)).toEqual(expected);
    expect(w.bytesWritten).toBe(expected.length);
    expect(writevCalls).toBeGreaterThan(0);
    expect(reported.at(-1)).toBe(expected.length);
    expect(reported).toEqual([...reported].sort((a, b) => a - b));
  });

  it('starts at the given offset, overwriting what lies beyond it', async () => {
    const file = join(dir, 'b');
    await writeFile(file, Buffer.from('keep-GARBAGE-GARBAGE'));
    const fh = await open(file, 'r+');
    const w = new DurableFileWriter({ fh: async () => fh, start: 4 });
    for (const c of ['-new', '-bytes', '!']) w.write(Buffer.from(c));
    await new Promise<void>((resolve) => w.end(() => resolve()));
    await w.flush();
    await fh.truncate(4 + w.bytesWritten);
    await fh.close();
    expect((await readFile(file)).toString()).toBe('keep-new-bytes!');
  });
});

describe('DurableFileWriter with a path (O_DIRECT where the filesystem allows it)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aa-dfw-direct-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const dirs = () => [dir, ...(existsSync('/dev/shm') ? ['/dev/shm'] : [])]; // tmpfs refuses O_DIRECT: the buffered path

  async function writeThrough(file: string, parts: Buffer[], start = 0) {
    const fh = await open(file, start === 0 ? 'w' : 'r+');
    const reported: number[] = [];
    const w = new DurableFileWriter({ fh: async () => fh, path: file, start, directAfter: 1024 * 1024, onWritten: (n) => reported.push(n) });
    try {
      await pipeline(Readable.from(parts), w);
      await w.flush();
    } finally {
      await fh.close();
    }
    // Where the filesystem takes O_DIRECT, the bytes past the threshold went that way.
    const probe = await openDirect(file);
    await probe?.close();
    expect(w.wentDirect).toBe(probe !== null && start + w.bytesWritten > 1024 * 1024);
    return { reported, written: w.bytesWritten };
  }

  it('writes odd-sized chunks of a body that ends inside a block, byte for byte, to the exact length', async () => {
    for (const d of dirs()) {
      const file = join(d, `odd-${process.pid}`);
      const parts = Array.from({ length: 60 }, (_, i) => randomBytes(1 + ((i * 104729) % 300_000)));
      const expected = Buffer.concat(parts);
      const { reported, written } = await writeThrough(file, parts);
      const got = await readFile(file);
      await rm(file);
      expect(got.length).toBe(expected.length);
      expect(got.equals(expected)).toBe(true);
      expect(written).toBe(expected.length);
      expect(reported.at(-1)).toBe(expected.length);
      expect(reported).toEqual([...reported].sort((a, b) => a - b));
      expect(Math.max(...reported)).toBe(expected.length); // never more than the data, whatever the padding
    }
  });

  it('a body whose announced length passes the threshold goes around the page cache from its first byte', async () => {
    const file = join(dir, `expected-${process.pid}`);
    const probeFile = join(dir, `probe-${process.pid}`);
    await writeFile(probeFile, '');
    const probe = await openDirect(probeFile);
    await probe?.close();
    if (!probe) return console.warn('SKIPPED: this filesystem refuses O_DIRECT');
    const body = randomBytes(2 * 1024 * 1024 + 777);
    for (const expectedSize of [body.length, undefined]) {
      const fh = await open(file, 'w');
      const w = new DurableFileWriter({ fh: async () => fh, path: file, directAfter: 1024 * 1024, ...(expectedSize !== undefined ? { expectedSize } : {}) });
      try {
        await new Promise<void>((resolve, reject) => w.write(body.subarray(0, 100_000), (err) => (err ? reject(err) : resolve())));
        expect(w.wentDirect).toBe(expectedSize !== undefined);
        w.end(body.subarray(100_000));
        await once(w, 'finish');
        await w.flush();
      } finally {
        await fh.close();
      }
      expect(w.wentDirect).toBe(true);
      expect((await readFile(file)).equals(body)).toBe(true);
    }
    await rm(file);
    await rm(probeFile);
  });

  it('appends at an offset inside a block, keeping the bytes before it and cutting off what lay after', async () => {
    for (const d of dirs()) {
      const file = join(d, `append-${process.pid}`);
      const first = randomBytes(3 * 1024 * 1024 + 1234);
      await writeThrough(file, [first]);
      await writeFile(file, Buffer.concat([first, Buffer.from('remains of a failed append')]));
      const second = [randomBytes(5000), randomBytes(6 * 1024 * 1024 + 77)];
      const { reported } = await writeThrough(file, second, first.length);
      const got = await readFile(file);
      await rm(file);
      expect(got.equals(Buffer.concat([first, ...second]))).toBe(true);
      expect(reported.at(-1)).toBe(5000 + 6 * 1024 * 1024 + 77);
    }
  });

  it('an empty body creates an empty file', async () => {
    const file = join(dir, 'empty');
    await writeThrough(file, []);
    expect((await readFile(file)).length).toBe(0);
  });
});

describe('DirectAppender', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aa-appender-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A file handle whose writes finish in the reverse order of their start while several are in flight. */
  function reordering(real: FileHandle) {
    let inFlight = 0;
    let maxInFlight = 0;
    let n = 0;
    const handle = {
      write: async (buf: Buffer, off: number, len: number, pos: number) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const i = n++;
        // Earlier writes take longer: later ones overtake them.
        await new Promise((r) => setTimeout(r, 40 - (i % 4) * 10));
        try {
          return await real.write(buf, off, len, pos);
        } finally {
          inFlight--;
        }
      },
      close: () => real.close(),
    };
    return { handle: handle as unknown as FileHandle, max: () => maxInFlight };
  }

  it('keeps several writes in flight, and reports bytes in the file in order only once every earlier write landed', async () => {
    const file = join(dir, 'ordered');
    const fh = await open(file, 'w');
    const { handle, max } = reordering(fh);
    const landed: Array<{ at: number; len: number }> = [];
    const wrapped = handle.write;
    (handle as { write: unknown }).write = async (buf: Buffer, off: number, len: number, pos: number) => {
      const r = await (wrapped as (b: Buffer, o: number, l: number, p: number) => Promise<{ bytesWritten: number }>)(buf, off, len, pos);
      landed.push({ at: pos, len: r.bytesWritten });
      return r;
    };
    const reports: number[] = [];
    const contiguous = () => {
      let end = 0;
      for (const l of [...landed].sort((a, b) => a.at - b.at)) if (l.at === end) end += l.len;
      return end;
    };
    const early: number[] = [];
    const appender = new DirectAppender(handle, fh, 0, (end) => {
      // Every byte before a reported end is in the file.
      if (contiguous() < end) early.push(end);
      reports.push(end);
    });
    const data = randomBytes(9 * SLAB + 12345);
    for (let off = 0; off < data.length; off += 700_001) await appender.append([data.subarray(off, off + 700_001)]);
    await appender.finish();
    await appender.close();
    await truncate(file, data.length);
    expect((await readFile(file)).equals(data)).toBe(true);
    expect(max()).toBeGreaterThan(1);
    expect(early).toEqual([]);
    expect(reports).toEqual([...reports].sort((a, b) => a - b));
    expect(reports.at(-1)).toBe(data.length);
  });

  it('a failed write fails the append or the finish, and close still waits for the others and returns', async () => {
    const file = join(dir, 'failing');
    const fh = await open(file, 'w');
    let calls = 0;
    const handle = {
      write: async (buf: Buffer, off: number, len: number, pos: number) => {
        if (++calls === 2) throw Object.assign(new Error('disk full'), { code: 'ENOSPC' });
        return fh.write(buf, off, len, pos);
      },
      close: () => fh.close(),
    } as unknown as FileHandle;
    const appender = new DirectAppender(handle, fh, 0, () => {});
    const data = randomBytes(6 * SLAB);
    await expect(
      (async () => {
        await appender.append([data]);
        await appender.finish();
      })(),
    ).rejects.toThrow(/disk full/);
    await appender.close();
  });
});
