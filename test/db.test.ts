import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../src/db/types.js';
import {
  artifactStats,
  artifactStatsByRepo,
  deleteArtifact,
  getArtifact,
  insertArtifact,
  listArtifacts,
  prefixUpperBound,
  touchArtifacts,
  upsertArtifact,
  type ArtifactInput,
} from '../src/db/artifacts-table.js';
import { deleteBlobIfUnreferenced, getBlob, upsertBlob } from '../src/db/blobs-table.js';
import { isForeignKeyViolation, sqlState } from '../src/db/errors.js';
import { openDatabase } from '../src/db/index.js';
import { MIGRATIONS, MigrationError, migrate, type Migration } from '../src/db/migrations.js';
import {
  deleteRepository,
  getRepositoryById,
  getRepositoryByName,
  insertRepository,
  listRepositories,
  listRepositoriesByNames,
  updateRepository,
  type NewRepository,
} from '../src/db/repositories-table.js';
import { deleteSetting, getSetting, setSetting, setSettingIfAbsent } from '../src/db/settings-table.js';
import type { Database } from '../src/db/types.js';
import { HttpError } from '../src/errors.js';
import { AccessRecorder } from '../src/repos/access-recorder.js';
import { testDatabases } from './helpers/db.js';
import { createLogger } from '../src/log.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex = (n: number) => n.toString(16).padStart(64, '0');
let uniq = 0;
const unique = (p: string) => `${p}-${++uniq}`;

const repoInput = (name: string, over: Partial<NewRepository> = {}): NewRepository => ({
  name,
  packageType: 'generic',
  repoType: 'local',
  upstream: null,
  members: [],
  settings: {},
  ...over,
});

describe('prefixUpperBound', () => {
  it('is the smallest string above every extension of the prefix, in code point order', () => {
    expect(prefixUpperBound('')).toBeNull();
    expect(prefixUpperBound('a/')).toBe('a0');
    expect(prefixUpperBound('a\u{10FFFF}')).toBe('b');
    expect(prefixUpperBound('\u{10FFFF}\u{10FFFF}')).toBeNull();
    expect(prefixUpperBound('x\uD7FF')).toBe('x\uE000');
    expect(prefixUpperBound('\u{1F600}')).toBe('\u{1F601}');
  });
});

describe.each(testDatabases())('database on $name', (driver) => {
  let db: Database;
  beforeAll(async () => {
    db = await driver.open();
  });
  afterAll(async () => {
    await db?.close();
  });

  describe('migrations', () => {
    let raw: Database;
    beforeAll(async () => {
      raw = await driver.openRaw();
    });
    afterAll(async () => {
      await raw?.close();
    });

    const m1: Migration = { version: 1, name: 'one', sql: 'CREATE TABLE mig_one (id int PRIMARY KEY);\nCREATE INDEX mig_one_idx ON mig_one(id);' };
    const m2: Migration = { version: 2, name: 'two', sql: 'CREATE TABLE mig_two (id int);' };
    const m3bad: Migration = { version: 3, name: 'three', sql: 'CREATE TABLE mig_three (id int);\nSELECT no_such_function();' };

    it('opens migrated to the latest version, and re-running is a no-op', async () => {
      const rows = await db.query<{ version: number; name: string; applied_at: Date }>('SELECT version, name, applied_at FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(rows[0]!.applied_at).toBeInstanceOf(Date);
      expect(await migrate(db)).toEqual({ applied: [], version: MIGRATIONS.at(-1)!.version });
    });

    it('applies pending migrations in order, once, even when two start together', async () => {
      const [a, b] = await Promise.all([migrate(raw, [m1, m2]), migrate(raw, [m1, m2])]);
      expect([...a.applied, ...b.applied].sort()).toEqual([1, 2]);
      expect(a.version).toBe(2);
      expect(b.version).toBe(2);
      expect(await raw.query('SELECT * FROM mig_two')).toEqual([]);
      expect(await migrate(raw, [m1, m2])).toEqual({ applied: [], version: 2 });
    });

    it('rolls a failing migration back completely', async () => {
      await expect(migrate(raw, [m1, m2, m3bad])).rejects.toThrow(/no_such_function/);
      const tables = await raw.query(`SELECT 1 FROM information_schema.tables WHERE table_name = 'mig_three' AND table_schema = current_schema()`);
      expect(tables).toEqual([]);
      expect((await raw.query<{ v: number }>('SELECT max(version) AS v FROM schema_migrations'))[0]!.v).toBe(2);
    });

    it('refuses a database whose schema is newer than the code', async () => {
      await raw.query(`INSERT INTO schema_migrations (version, name) VALUES (7, 'from the future')`);
      const err = await migrate(raw, [m1, m2]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationError);
      expect((err as Error).message).toMatch(/version 7 \("from the future"\), newer than this build of artifactapi knows \(2\)/);
      await raw.query('DELETE FROM schema_migrations WHERE version = 7');
    });

    it('refuses a recorded migration whose name differs from the code', async () => {
      await expect(migrate(raw, [m1, { ...m2, name: 'renamed' }])).rejects.toThrow(/"two" in the database but "renamed" in this build/);
    });

    it('rejects a migration list that is not strictly ascending', async () => {
      await expect(migrate(raw, [m2, m1])).rejects.toThrow(MigrationError);
    });
  });

  describe('type normalisation', () => {
    it('returns int8 and numeric as JS numbers, including values above 2^32', async () => {
      const big = 2 ** 40 + 7;
      const [row] = await db.query<Record<string, unknown>>(
        'SELECT $1::bigint AS b, $2::bigint AS fromBigint, 12.5::numeric AS n, count(*) AS c, sum(x) AS s FROM (VALUES ($1::bigint), (1::bigint)) v(x)',
        [big, 2n ** 41n],
      );
      expect(row).toEqual({ b: big, frombigint: 2 ** 41, n: 12.5, c: 2, s: big + 1 });
    });

    it('returns timestamptz as Date and accepts Date parameters', async () => {
      const d = new Date('2024-02-29T12:34:56.789Z');
      const [row] = await db.query<{ t: Date; later: Date; now: Date }>("SELECT $1::timestamptz AS t, $1::timestamptz + interval '1 day' AS later, now() AS now", [d]);
      expect(row!.t).toBeInstanceOf(Date);
      expect(row!.t.getTime()).toBe(d.getTime());
      expect(row!.later.getTime()).toBe(d.getTime() + 86_400_000);
      expect(Math.abs(row!.now.getTime() - Date.now())).toBeLessThan(60_000);
    });

    it('sends objects and arrays as JSON and parses jsonb back', async () => {
      const obj = { a: 1, nested: { s: 'x"y\\z', list: [1, 'two', null, true] }, empty: {} };
      const arr = [{ k: 'v' }, 3, 'é', []];
      const [row] = await db.query<{ o: unknown; a: unknown; s: unknown; t: string }>(
        `SELECT $1::jsonb AS o, $2::jsonb AS a, $3::jsonb AS s, jsonb_typeof($2::jsonb) AS t`,
        [obj, arr, '"just a string"'],
      );
      expect(row).toEqual({ o: obj, a: arr, s: 'just a string', t: 'array' });
    });

    it('round-trips bytea', async () => {
      const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
      await db.exec('CREATE TABLE IF NOT EXISTS t_bytes (id int PRIMARY KEY, b bytea NOT NULL)');
      await db.query('INSERT INTO t_bytes VALUES (1, $1)', [bytes]);
      await db.query('INSERT INTO t_bytes VALUES (2, $1)', [Buffer.from(bytes.subarray(10, 20))]);
      const rows = await db.query<{ id: number; b: Uint8Array }>('SELECT id, b FROM t_bytes ORDER BY id');
      expect(Buffer.isBuffer(rows[0]!.b)).toBe(true);
      expect(Buffer.from(rows[0]!.b).equals(Buffer.from(bytes))).toBe(true);
      expect([...rows[1]!.b]).toEqual([...bytes.subarray(10, 20)]);
    });

    it('passes booleans and nulls, and refuses undefined', async () => {
      const [row] = await db.query('SELECT $1::boolean AS t, $2::boolean AS f, $3::text AS n', [true, false, null]);
      expect(row).toEqual({ t: true, f: false, n: null });
      await expect(db.query('SELECT $1::text AS x', [undefined as unknown as null])).rejects.toThrow(/\$1 is undefined/);
    });

    it('reports SQLSTATE codes the same way', async () => {
      const err = await db.query('SELECT * FROM no_such_table').catch((e: unknown) => e);
      expect(sqlState(err)).toBe('42P01');
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/no_such_table/);
    });

    it.runIf(driver.name === 'pglite')('leaves the event loop free while the engine works (it runs on its own thread)', async () => {
      // ≈ 0.8 s of the engine's CPU in one statement: on the main thread no timer could fire until it ended.
      let last = performance.now();
      let longestGap = 0;
      const tick = setInterval(() => {
        const now = performance.now();
        longestGap = Math.max(longestGap, now - last);
        last = now;
      }, 10);
      const started = performance.now();
      try {
        await db.query('SELECT count(*) FROM generate_series(1, 3000000)');
      } finally {
        clearInterval(tick);
      }
      const ended = performance.now();
      // Up to the statement's end: a timer that never fired during it leaves its whole span as the gap.
      longestGap = Math.max(longestGap, ended - last);
      const took = ended - started;
      expect(took).toBeGreaterThan(200);
      expect(longestGap, `the statement took ${took.toFixed(0)} ms`).toBeLessThan(took / 2);
    });
  });

  describe('transactions', () => {
    beforeAll(async () => {
      await db.exec('CREATE TABLE IF NOT EXISTS t_tx (v text NOT NULL)');
    });

    it('commits and returns the callback value', async () => {
      const n = await db.transaction(async (tx) => {
        await tx.query(`INSERT INTO t_tx VALUES ('committed')`);
        return (await tx.query<{ n: number }>('SELECT count(*) AS n FROM t_tx'))[0]!.n;
      });
      expect(n).toBeGreaterThanOrEqual(1);
      expect(await db.query(`SELECT v FROM t_tx WHERE v = 'committed'`)).toHaveLength(1);
    });

    it('rolls back when the callback throws, and rethrows the same error', async () => {
      const boom = new Error('boom');
      const err = await db
        .transaction(async (tx) => {
          await tx.query(`INSERT INTO t_tx VALUES ('rolled-back')`);
          throw boom;
        })
        .catch((e: unknown) => e);
      expect(err).toBe(boom);
      expect(await db.query(`SELECT v FROM t_tx WHERE v = 'rolled-back'`)).toEqual([]);
    });

    it('keeps concurrent queries out of an open transaction', async () => {
      await db.exec('CREATE TABLE IF NOT EXISTS t_iso (v text NOT NULL)');
      const events: string[] = [];
      let entered!: () => void;
      const inside = new Promise<void>((r) => (entered = r));
      const tx = db
        .transaction(async (t) => {
          await t.query(`INSERT INTO t_iso VALUES ('tx-1')`);
          entered();
          await sleep(150);
          await t.query(`INSERT INTO t_iso VALUES ('tx-2')`);
          events.push('tx-end');
          throw new Error('roll it back');
        })
        .catch(() => events.push('tx-rolled-back'));
      await inside;
      // Issued while the transaction is open: neither may execute inside it.
      const outsideInsert = db.query(`INSERT INTO t_iso VALUES ('outside')`).then(() => events.push('outside-insert'));
      const outsideSeen = db.query<{ n: number }>(`SELECT count(*) AS n FROM t_iso WHERE v LIKE 'tx-%'`).then((r) => {
        events.push('outside-select');
        return r[0]!.n;
      });
      await Promise.all([tx, outsideInsert, outsideSeen]);

      // Had the insert run inside the transaction, the rollback would have taken it too.
      expect((await db.query<{ v: string }>('SELECT v FROM t_iso')).map((r) => r.v)).toEqual(['outside']);
      expect(await outsideSeen).toBe(0);
      const end = events.indexOf('tx-end');
      if (driver.name === 'pglite') {
        // One connection: the outside statements waited for the whole transaction.
        expect(events.indexOf('outside-insert')).toBeGreaterThan(end);
        expect(events.indexOf('outside-select')).toBeGreaterThan(end);
      } else {
        // A pool: they ran on other connections while the transaction slept.
        expect(events.indexOf('outside-insert')).toBeLessThan(end);
        expect(events.indexOf('outside-select')).toBeLessThan(end);
      }
    });

    it.runIf(driver.name === 'pglite')('refuses db.query inside its own transaction instead of deadlocking', async () => {
      const err = await db.transaction(async () => db.query('SELECT 1')).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/inside db.transaction\(\).*use the transaction handle/);
      // Work left running after the transaction ends is not refused.
      let later: Promise<unknown> = Promise.resolve();
      await db.transaction(async () => {
        later = sleep(20).then(() => db.query('SELECT 1 AS one'));
      });
      expect(await later).toEqual([{ one: 1 }]);
    });

    it('refuses the handle once its transaction has ended', async () => {
      let handle!: Queryable;
      await db.transaction(async (t) => {
        handle = t;
      });
      await expect(handle.query('SELECT 1')).rejects.toThrow(/Transaction is closed/);
    });
  });

  describe('withLock', () => {
    it('is exclusive: of two concurrent non-waiting callers, one gets null', async () => {
      let release!: () => void;
      const hold = new Promise<void>((r) => (release = r));
      const runs: string[] = [];
      const a = db.withLock('excl', async () => (runs.push('a'), await hold, 'a'), false);
      const b = db.withLock('excl', async () => (runs.push('b'), await hold, 'b'), false);
      const first = await Promise.race([a, b]);
      expect(first).toBeNull();
      release();
      const results = await Promise.all([a, b]);
      expect(results.filter((r) => r === null)).toHaveLength(1);
      expect(runs).toHaveLength(1);
      expect(results).toContain(runs[0]);
    });

    it('makes a waiting caller run after the holder, and releases on throw', async () => {
      const order: string[] = [];
      let started!: () => void;
      const holding = new Promise<void>((r) => (started = r));
      const a = db
        .withLock('serial', async () => {
          started();
          order.push('a-start');
          await sleep(100);
          order.push('a-end');
          throw new Error('holder failed');
        })
        .catch((e: Error) => e.message);
      await holding;
      const b = db.withLock('serial', async () => order.push('b'), true);
      expect(await a).toBe('holder failed');
      await b;
      expect(order).toEqual(['a-start', 'a-end', 'b']);
      // Released despite the throw: a non-waiting caller gets it now.
      expect(await db.withLock('serial', async () => 'free', false)).toBe('free');
    });

    it('does not block other names', async () => {
      let release!: () => void;
      const hold = new Promise<void>((r) => (release = r));
      const a = db.withLock('name-a', () => hold, false);
      expect(await db.withLock('name-b', async () => 'b', false)).toBe('b');
      release();
      await a;
    });
  });

  describe('repositories table', () => {
    it('inserts, reads, lists, updates and deletes', async () => {
      const name = unique('repo');
      const r = await insertRepository(db, repoInput(name, { repoType: 'remote', upstream: { url: 'https://up.example', token: 't' }, settings: { blocklist: ['*.exe'] } }));
      expect(r).toMatchObject({ name, packageType: 'generic', repoType: 'remote', upstream: { url: 'https://up.example', token: 't' }, members: [], settings: { blocklist: ['*.exe'] }, origin: 'api' });
      expect(typeof r.id).toBe('number');
      expect(r.createdAt).toBeInstanceOf(Date);
      expect(await getRepositoryByName(db, name)).toEqual(r);
      expect(await getRepositoryById(db, r.id)).toEqual(r);
      expect(await getRepositoryByName(db, unique('missing'))).toBeNull();
      expect((await listRepositories(db)).map((x) => x.name)).toContain(name);

      const u = await updateRepository(db, r.id, { upstream: { url: 'https://other.example' }, members: [], settings: { mutable_ttl_seconds: 5 }, origin: 'config' });
      expect(u).toMatchObject({ id: r.id, name, upstream: { url: 'https://other.example' }, settings: { mutable_ttl_seconds: 5 }, origin: 'config' });
      expect(u.updatedAt.getTime()).toBeGreaterThanOrEqual(r.updatedAt.getTime());
      expect(u.createdAt).toEqual(r.createdAt);

      expect(await deleteRepository(db, r.id)).toBe(true);
      expect(await deleteRepository(db, r.id)).toBe(false);
      expect(await getRepositoryByName(db, name)).toBeNull();
    });

    it('answers a taken name with 409 and a vanished id with 404', async () => {
      const name = unique('dup');
      const r = await insertRepository(db, repoInput(name));
      const err = await insertRepository(db, repoInput(name)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HttpError);
      expect(err).toMatchObject({ status: 409, code: 'REPO_EXISTS' });
      await deleteRepository(db, r.id);
      await expect(updateRepository(db, r.id, { upstream: null, members: [], settings: {} })).rejects.toMatchObject({ status: 404, code: 'REPO_NOT_FOUND' });
    });

    it('lists by names in the order given, skipping unknown names', async () => {
      const [x, y, z] = [unique('x'), unique('y'), unique('z')];
      for (const n of [x, y, z]) await insertRepository(db, repoInput(n));
      const v = await insertRepository(db, repoInput(unique('virt'), { repoType: 'virtual', members: [z, x] }));
      expect(v.members).toEqual([z, x]);
      expect((await listRepositoriesByNames(db, [z, 'nope', x, y])).map((r) => r.name)).toEqual([z, x, y]);
      expect(await listRepositoriesByNames(db, [])).toEqual([]);
    });

    it('enforces the repo_type check', async () => {
      const err = await insertRepository(db, repoInput(unique('bad'), { repoType: 'weird' as 'local' })).catch((e: unknown) => e);
      expect(sqlState(err)).toBe('23514');
    });
  });

  describe('blobs table', () => {
    it('inserts once per digest; afterwards the existing row wins and is marked as just used', async () => {
      const sha = hex(1001);
      const first = await upsertBlob(db, { sha256: sha, size: 5_000_000_000_000, storageKey: 'k/first' });
      expect(first).toMatchObject({ sha256: sha, size: 5_000_000_000_000, storageKey: 'k/first' });
      expect(first.createdAt).toBeInstanceOf(Date);
      await db.query("UPDATE blobs SET created_at = now() - interval '1 day' WHERE sha256 = $1", [sha]);
      const second = await upsertBlob(db, { sha256: sha, size: 5_000_000_000_000, storageKey: 'k/second' });
      expect(second).toMatchObject({ sha256: sha, size: 5_000_000_000_000, storageKey: 'k/first' });
      expect(second.createdAt.getTime()).toBeGreaterThan(Date.now() - 60_000);
      expect(await getBlob(db, sha)).toEqual(second);
      expect(await getBlob(db, hex(1002))).toBeNull();
    });

    it('works inside a transaction and concurrently', async () => {
      const sha = hex(1003);
      const rows = await Promise.all([1, 2, 3, 4].map((i) => db.transaction((tx) => upsertBlob(tx, { sha256: sha, size: 1, storageKey: `k/${i}` }))));
      expect(new Set(rows.map((r) => r.storageKey)).size).toBe(1);
    });

    it('deletes a blob only when no artifact refers to it', async () => {
      const repo = await insertRepository(db, repoInput(unique('gc')));
      const used = hex(1004);
      const unused = hex(1005);
      await upsertBlob(db, { sha256: used, size: 3, storageKey: 'k/used' });
      await upsertBlob(db, { sha256: unused, size: 4, storageKey: 'k/unused' });
      await insertArtifact(db, artifact(repo.id, 'f', used, 3));
      expect(await deleteBlobIfUnreferenced(db, used)).toBeNull();
      expect(await getBlob(db, used)).not.toBeNull();
      expect(await deleteBlobIfUnreferenced(db, unused)).toMatchObject({ sha256: unused, storageKey: 'k/unused' });
      expect(await getBlob(db, unused)).toBeNull();
      expect(await deleteBlobIfUnreferenced(db, unused)).toBeNull();
    });
  });

  describe('artifacts table', () => {
    let repoId: number;
    const shaA = hex(2001);
    const shaB = hex(2002);
    beforeAll(async () => {
      repoId = (await insertRepository(db, repoInput(unique('arts')))).id;
      await upsertBlob(db, { sha256: shaA, size: 10, storageKey: 'blobs/a' });
      await upsertBlob(db, { sha256: shaB, size: 6_000_000_000, storageKey: 'blobs/b' });
    });

    it('inserts once, with the blob storage key joined, and reads back', async () => {
      const input = { ...artifact(repoId, 'dir/one.bin', shaA, 10), digests: { md5: 'abc' }, metadata: { version: '1.0', tags: ['x'] }, etag: '"e"' };
      const row = await insertArtifact(db, input);
      expect(row).toMatchObject({ repoId, path: 'dir/one.bin', sha256: shaA, size: 10, storageKey: 'blobs/a', source: 'local', digests: { md5: 'abc' }, metadata: { version: '1.0', tags: ['x'] }, etag: '"e"', lastModified: null, expiresAt: null });
      expect(row!.createdAt).toBeInstanceOf(Date);
      expect(row!.lastAccessedAt).toBeInstanceOf(Date);
      expect(await getArtifact(db, repoId, 'dir/one.bin')).toEqual(row);
      expect(await insertArtifact(db, { ...input, sha256: shaB })).toBeNull();
      expect((await getArtifact(db, repoId, 'dir/one.bin'))!.sha256).toBe(shaA);
      expect(await getArtifact(db, repoId, 'dir/none')).toBeNull();
    });

    it('cannot reference a blob that does not exist', async () => {
      const err = await insertArtifact(db, artifact(repoId, 'orphan', hex(2999), 1)).catch((e: unknown) => e);
      expect(isForeignKeyViolation(err)).toBe(true);
      const err2 = await upsertArtifact(db, artifact(repoId, 'orphan', hex(2999), 1)).catch((e: unknown) => e);
      expect(isForeignKeyViolation(err2)).toBe(true);
    });

    it('upserts, reporting the previous digest and keeping created_at', async () => {
      const expires = new Date(Date.now() + 60_000);
      const created = await upsertArtifact(db, { ...artifact(repoId, 'idx/index.json', shaA, 10), source: 'remote', fetchedAt: new Date(), expiresAt: expires });
      expect(created.previousSha256).toBeNull();
      expect(created).toMatchObject({ sha256: shaA, storageKey: 'blobs/a', source: 'remote' });
      expect(created.expiresAt!.getTime()).toBe(expires.getTime());
      await sleep(5);
      // The revalidation shape the remote engine uses: a whole row spread with new times.
      const { previousSha256: _p, ...asRow } = created;
      const replaced = await upsertArtifact(db, { ...asRow, sha256: shaB, size: 6_000_000_000, expiresAt: null });
      expect(replaced.previousSha256).toBe(shaA);
      expect(replaced).toMatchObject({ sha256: shaB, size: 6_000_000_000, storageKey: 'blobs/b', expiresAt: null });
      expect(replaced.createdAt).toEqual(created.createdAt);
      expect(replaced.updatedAt.getTime()).toBeGreaterThan(created.updatedAt.getTime());
      const again = await upsertArtifact(db, { ...asRow, sha256: shaB, size: 6_000_000_000 });
      expect(again.previousSha256).toBe(shaB);
    });

    it('touches last_accessed_at of many paths at once, at most once per interval', async () => {
      const hourAgo = new Date(Date.now() - 3_600_000);
      for (const p of ['touch/me', 'touch/too', 'touch/not']) {
        await insertArtifact(db, artifact(repoId, p, shaA, 10));
        await db.query('UPDATE artifacts SET last_accessed_at = $3 WHERE repo_id = $1 AND path = $2', [repoId, p, hourAgo]);
      }
      const at = async (p: string) => (await getArtifact(db, repoId, p))!.lastAccessedAt;
      await touchArtifacts(db, repoId, ['touch/me', 'touch/too', 'touch/absent']);
      const t1 = await at('touch/me');
      expect(t1.getTime()).toBeGreaterThan(hourAgo.getTime() + 3_000_000);
      expect((await at('touch/too')).getTime()).toBeGreaterThan(hourAgo.getTime() + 3_000_000);
      expect(await at('touch/not')).toEqual(hourAgo);
      await sleep(5);
      await touchArtifacts(db, repoId, ['touch/me']);
      expect(await at('touch/me')).toEqual(t1);
      await touchArtifacts(db, repoId, ['touch/me'], 0);
      expect((await at('touch/me')).getTime()).toBeGreaterThan(t1.getTime());
    });

    it('AccessRecorder: reads recorded on the hot path reach the table in batches (1,200 paths, repeats folded)', async () => {
      const hourAgo = new Date(Date.now() - 3_600_000);
      const paths = Array.from({ length: 1_200 }, (_, i) => `rec/${i}`);
      for (const p of [...paths, 'rec/unread']) await insertArtifact(db, artifact(repoId, p, shaA, 10));
      await db.query("UPDATE artifacts SET last_accessed_at = $2 WHERE repo_id = $1 AND path LIKE 'rec/%'", [repoId, hourAgo]);
      const recorder = new AccessRecorder(db, createLogger('silent'));
      for (const p of paths) recorder.record(repoId, p);
      for (const p of paths.slice(0, 100)) recorder.record(repoId, p);
      // Nothing is written on the request path: the rows are unchanged until the flush.
      expect((await getArtifact(db, repoId, 'rec/7'))!.lastAccessedAt).toEqual(hourAgo);
      await recorder.close();
      const [counted] = await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM artifacts WHERE repo_id = $1 AND path LIKE 'rec/%' AND last_accessed_at > $2",
        [repoId, new Date(hourAgo.getTime() + 3_000_000)],
      );
      expect(counted!.n).toBe(1_200);
      expect((await getArtifact(db, repoId, 'rec/unread'))!.lastAccessedAt).toEqual(hourAgo);
    });

    it('deletes, returning what the path pointed to', async () => {
      await insertArtifact(db, artifact(repoId, 'del/x', shaA, 10));
      expect(await deleteArtifact(db, repoId, 'del/x')).toEqual({ sha256: shaA, size: 10 });
      expect(await deleteArtifact(db, repoId, 'del/x')).toBeNull();
    });

    it('lists by prefix in byte order, page by page', async () => {
      const r = (await insertRepository(db, repoInput(unique('list')))).id;
      const paths = ['a/b', 'a/b%', 'a/b_', 'a/B', 'a/c/d', 'a/\u00fc', 'a/\u{1F600}', 'a0', 'a', 'b/a', 'a/'];
      for (const p of paths) await insertArtifact(db, artifact(r, p, shaA, 10));
      const byteOrder = (xs: string[]) => [...xs].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));

      const collect = async (prefix: string, limit: number) => {
        const out: string[] = [];
        let after: string | undefined;
        for (let pages = 0; pages < 20; pages++) {
          const page = await listArtifacts(db, r, { prefix, after, limit });
          out.push(...page.map((a) => a.path));
          if (page.length < limit) return out;
          after = page.at(-1)!.path;
        }
        throw new Error('pagination did not end');
      };
      expect(await collect('a/', 2)).toEqual(byteOrder(paths.filter((p) => p.startsWith('a/'))));
      expect(await collect('', 3)).toEqual(byteOrder(paths));
      expect(await collect('a/b', 100)).toEqual(byteOrder(['a/b', 'a/b%', 'a/b_']));
      expect(await collect('a/b%', 100)).toEqual(['a/b%']);
      expect(await collect('zz', 5)).toEqual([]);
      const first = await listArtifacts(db, r, { prefix: 'a/', limit: 1 });
      expect(first[0]).toMatchObject({ path: 'a/', storageKey: 'blobs/a', size: 10 });
      await expect(listArtifacts(db, r, { limit: 0 })).rejects.toThrow(RangeError);
    });

    it('counts artifacts and their size per repository', async () => {
      const r = (await insertRepository(db, repoInput(unique('stats')))).id;
      expect(await artifactStats(db, r)).toEqual({ count: 0, totalSize: 0 });
      await insertArtifact(db, artifact(r, 'x', shaA, 10));
      await insertArtifact(db, artifact(r, 'y', shaB, 6_000_000_000));
      expect(await artifactStats(db, r)).toEqual({ count: 2, totalSize: 6_000_000_010 });
      expect((await artifactStatsByRepo(db)).get(r)).toEqual({ count: 2, totalSize: 6_000_000_010 });
    });

    it('go with their repository, while blobs stay', async () => {
      const r = (await insertRepository(db, repoInput(unique('cascade')))).id;
      await insertArtifact(db, artifact(r, 'gone/1', shaA, 10));
      await insertArtifact(db, artifact(r, 'gone/2', shaB, 6_000_000_000));
      await db.query(`INSERT INTO upload_sessions (id, repo_id, kind) VALUES ('6f1c1f0e-8a7b-4d5e-9c3b-2a1f0e9d8c7b', $1, 'docker')`, [r]);
      expect(await deleteRepository(db, r)).toBe(true);
      expect(await db.query('SELECT 1 FROM artifacts WHERE repo_id = $1', [r])).toEqual([]);
      expect(await db.query('SELECT 1 FROM upload_sessions WHERE repo_id = $1', [r])).toEqual([]);
      expect(await getBlob(db, shaA)).not.toBeNull();
      expect(await getBlob(db, shaB)).not.toBeNull();
    });
  });

  describe('settings table', () => {
    it('gets, sets, keeps the first value, deletes', async () => {
      const key = unique('setting');
      expect(await getSetting(db, key)).toBeNull();
      await setSetting(db, key, 'one');
      await setSetting(db, key, 'two');
      expect(await getSetting(db, key)).toBe('two');
      expect(await setSettingIfAbsent(db, key, 'three')).toBe('two');
      expect(await deleteSetting(db, key)).toBe(true);
      expect(await setSettingIfAbsent(db, key, 'four')).toBe('four');
      expect(await getSetting(db, key)).toBe('four');
    });
  });
});

describe('openDatabase on a PGlite data directory', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'artifactapi-db-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('persists under <dataDir>/pglite, migrates once, and refuses a newer schema', async () => {
    const first = await openDatabase({ dataDir: dir });
    await setSetting(first, 'persisted', 'yes');
    // PGlite would let a second opener in and the two would corrupt the files.
    await expect(openDatabase({ dataDir: dir })).rejects.toThrow(/in use by this process/);
    await first.close();
    // Another live process holds it.
    await writeFile(join(dir, 'pglite.lock'), `${process.ppid}\n`);
    await expect(openDatabase({ dataDir: dir })).rejects.toThrow(new RegExp(`in use by process ${process.ppid}`));
    // A lock left behind by a process that died is taken over.
    await writeFile(join(dir, 'pglite.lock'), '99999999\n');

    const second = await openDatabase({ dataDir: dir });
    expect(await getSetting(second, 'persisted')).toBe('yes');
    expect(await second.query('SELECT version FROM schema_migrations')).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
    await second.query(`INSERT INTO schema_migrations (version, name) VALUES (1000, 'newer')`);
    await second.close();

    await expect(openDatabase({ dataDir: dir })).rejects.toThrow(/version 1000 \("newer"\), newer than this build/);
  });
});

function artifact(repoId: number, path: string, sha256: string, size: number): ArtifactInput {
  return {
    repoId,
    path,
    sha256,
    size,
    contentType: 'application/octet-stream',
    source: 'local',
    digests: {},
    etag: null,
    lastModified: null,
    metadata: {},
    fetchedAt: null,
    expiresAt: null,
  };
}
