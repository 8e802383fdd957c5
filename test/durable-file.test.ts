import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
    const w = new DurableFileWriter(async () => fh, (n) => reported.push(n));
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
    const w = new DurableFileWriter(async () => fh, undefined, 4);
    for (const c of ['-new', '-bytes', '!']) w.write(Buffer.from(c));
    await new Promise<void>((resolve) => w.end(() => resolve()));
    await w.flush();
    await fh.truncate(4 + w.bytesWritten);
    await fh.close();
    expect((await readFile(file)).toString()).toBe('keep-new-bytes!');
  });
});
