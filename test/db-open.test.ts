import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';

/** The real openPglite, with a switch that makes the next N opens die the way PGlite's engine does. */
const crash = vi.hoisted(() => ({ next: 0, opened: [] as string[] }));
vi.mock('../src/db/pglite.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/db/pglite.js')>();
  return {
    ...real,
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

describe('opening the embedded database when its engine aborts', () => {
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

// A new embedded database is created by a child process in a directory of its own, then renamed into place.
describe('creating the embedded database', () => {
  it('a new data directory gets a working database and keeps no staging directory', async () => {
    const dataDir = await tmp();
    const db = await openDatabase({ dataDir });
    try {
      expect(await db.query<{ n: number }>('select count(*)::int as n from repositories')).toEqual([{ n: 0 }]);
      await db.exec(`insert into settings (key, value) values ('probe', 'x')`);
      expect(await readdir(dataDir)).not.toContain('pglite.initdb');
      expect(await readdir(join(dataDir, 'pglite'))).toContain('PG_VERSION');
    } finally {
      await db.close();
    }
    // Reopened, it is the same database (what was written is there): nothing is created again.
    const again = await openDatabase({ dataDir });
    try {
      expect(await again.query<{ key: string }>(`select key from settings where key = 'probe'`)).toEqual([{ key: 'probe' }]);
    } finally {
      await again.close();
    }
  });

  it('what a start that died during initdb left is replaced: a directory without PG_VERSION and the staging one', async () => {
    const dataDir = await tmp();
    await mkdir(join(dataDir, 'pglite', 'base'), { recursive: true });
    await writeFile(join(dataDir, 'pglite', 'half-written'), 'x');
    await mkdir(join(dataDir, 'pglite.initdb'));
    await writeFile(join(dataDir, 'pglite.initdb', 'PG_VERSION'), '18\n');
    const db = await openDatabase({ dataDir });
    try {
      expect(await db.query<{ n: number }>('select 1 as n')).toEqual([{ n: 1 }]);
      expect(await readdir(join(dataDir, 'pglite'))).not.toContain('half-written');
      expect(await readdir(dataDir)).not.toContain('pglite.initdb');
    } finally {
      await db.close();
    }
  });

  it('the creating process reports a failure as one JSON line and a non-zero exit', () => {
    const script = fileURLToPath(new URL('../src/db/pglite-initdb.mjs', import.meta.url));
    const r = spawnSync(process.execPath, [script, '/tmp/unused', 'not json'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stderr.trim().split('\n').pop()!)).toMatchObject({ name: 'SyntaxError' });
  });
});
