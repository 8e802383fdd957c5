import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDirect } from '../src/storage/direct-io.js';
import { DurableFileWriter } from '../src/storage/durable-file.js';
import { warmPageCache } from '../src/storage/page-cache-warm.js';
import { beginTransfer, transfersInProgress, whenIdle } from '../src/storage/transfers.js';

const MiB = 1024 * 1024;

/** Bytes of `file` in the page cache (util-linux fincore); null where the tool is missing. */
function cached(file: string): number | null {
  const r = spawnSync('fincore', ['-nb', '-o', 'RES', file], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : null;
}

const until = async (cond: () => boolean, ms = 5000) => {
  for (const end = Date.now() + ms; !cond() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
  return cond();
};

describe('transfers in progress', () => {
  it('is idle once every transfer ended, whatever the order, and ending twice counts once', async () => {
    const base = transfersInProgress();
    const a = beginTransfer();
    const b = beginTransfer();
    let idle = false;
    void whenIdle().then(() => (idle = true));
    a();
    a();
    await new Promise((r) => setTimeout(r, 10));
    expect(idle).toBe(base > 0);
    b();
    await whenIdle();
    expect(transfersInProgress()).toBe(base);
  });
});

describe('reading a directly written blob back into the page cache', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aa-warm-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('waits while an upload or download is in progress, then reads the whole file in', async () => {
    const file = join(dir, 'blob');
    const fh = await open(file, 'w');
    // Written around the page cache past the first MiB, so that what is cached afterwards was read back.
    await pipeline(Readable.from([randomBytes(24 * MiB)]), new DurableFileWriter({ fh: async () => fh, path: file, directAfter: MiB }));
    await fh.close();
    const probe = await openDirect(file);
    await probe?.close();
    const before = cached(file);
    if (probe === null || before === null || before > 4 * MiB) {
      console.warn('SKIPPED: needs O_DIRECT on the temp directory and util-linux fincore');
      return;
    }
    const transfer = beginTransfer();
    warmPageCache(file);
    await new Promise((r) => setTimeout(r, 300));
    expect(cached(file)).toBeLessThanOrEqual(before);
    transfer();
    expect(await until(() => cached(file) === 24 * MiB)).toBe(true);
  });
});
