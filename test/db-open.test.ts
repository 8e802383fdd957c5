import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

/** The real openPglite, with a switch that makes the next N opens die the way PGlite's engine does. */
const crash = vi.hoisted(() => ({ next: 0, opened: [] as string[] }));
vi.mock('../src/db/pglite.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/db/pglite.js')>();
  return {
    openPglite: async (dir: string) => {
      crash.opened.push(dir);
      if (crash.next > 0) {
        crash.next--;
        // What PGlite throws when its WebAssembly PostgreSQL aborts (after initdb wrote part of the directory).
        if (dir !== 'memory://') {
          await mkdir(dir, { recursive: true });
          await writeFile(join(dir, 'half-written'), 'x');
        }
        const err = new Error('Aborted(). Build with -sASSERTIONS for more info.');
        err.name = 'RuntimeError';
        throw err;
      }
      return real.openPglite(dir);
    },
  };
});
const { openDatabase } = await import('../src/db/index.js');

describe('opening the embedded database when its engine aborts', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    crash.next = 0;
    crash.opened = [];
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  const tmp = async () => {
    const d = await mkdtemp(join(tmpdir(), 'aa-dbopen-'));
    dirs.push(d);
    return d;
  };

  it('a new database is thrown away and created once more; the retry is reported', async () => {
    const dataDir = await tmp();
    crash.next = 1;
    const retries: unknown[] = [];
    const db = await openDatabase({ dataDir, onRetry: (err) => retries.push(err) });
    try {
      expect(retries).toHaveLength(1);
      expect(crash.opened).toHaveLength(2);
      expect(await readdir(join(dataDir, 'pglite'))).not.toContain('half-written');
      expect(await db.query<{ n: number }>('select 1 as n')).toEqual([{ n: 1 }]);
    } finally {
      await db.close();
    }
  });

  it('gives up after the second abort', async () => {
    crash.next = 2;
    await expect(openDatabase({ dataDir: await tmp() })).rejects.toThrow(/Aborted/);
    expect(crash.opened).toHaveLength(2);
  });

  it('an existing database that aborts is left as it is', async () => {
    const dataDir = await tmp();
    await (await openDatabase({ dataDir })).close();
    crash.opened = [];
    crash.next = 1;
    await expect(openDatabase({ dataDir })).rejects.toThrow(/Aborted/);
    expect(crash.opened).toHaveLength(1);
    const files = await readdir(join(dataDir, 'pglite'));
    expect(files).toContain('PG_VERSION');
    expect(files).toContain('half-written');
  });
});
