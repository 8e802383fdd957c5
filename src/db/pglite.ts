import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import { fsyncSync } from 'node:fs';
import { access, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { fsyncPath, fsyncTree } from '../util/fsync.js';
import { lockFile } from './dir-lock.js';
import { Mutex, NamedMutex } from './mutex.js';
import { OID, parseBytea, serializeBytea, serializeJson, toDriverParams } from './params.js';
import type { Database, Queryable, SqlParam } from './types.js';

/** The transaction (if any) the current async call chain runs inside, to catch self-deadlocks. */
interface TxScope {
  db: PgliteDatabase;
  open: boolean;
}
/**
 * Only under test (or ARTIFACTAPI_CHECK_TX=1): an AsyncLocalStorage switches on async_hooks promise tracking for
 * the whole process, which cost every request of the server ≈5 % of its CPU (plus garbage) for a check that
 * catches programming errors, and those show up in the tests.
 */
const txScope = process.env.VITEST || process.env.ARTIFACTAPI_CHECK_TX === '1' ? new AsyncLocalStorage<TxScope>() : undefined;

const parsers = {
  [OID.INT8]: (x: string) => Number(x),
  [OID.NUMERIC]: (x: string) => Number(x),
  [OID.BYTEA]: parseBytea,
};
const serializers = {
  [OID.BYTEA]: serializeBytea,
  [OID.JSON]: serializeJson,
  [OID.JSONB]: serializeJson,
};

/**
 * The embedded engine. PGlite has a single connection, so this class serialises access itself:
 * one gate admits either one statement or one whole transaction at a time (a statement from
 * another caller never lands inside someone's open transaction), and `withLock` is a
 * process-local named mutex — there is only one process using the data directory.
 */
class PgliteDatabase implements Database {
  readonly driver = 'pglite' as const;
  private readonly gate = new Mutex();
  private readonly locks = new NamedMutex();
  private closed = false;

  constructor(
    private readonly pg: PGlite,
    private readonly unlock: () => Promise<void>,
  ) {}

  private enter(what: string): void {
    if (this.closed) throw new Error(`database is closed (${what})`);
    const scope = txScope?.getStore();
    if (scope?.db === this && scope.open) {
      // Waiting for the gate from inside the transaction that holds it would hang forever.
      throw new Error(`db.${what}() called inside db.transaction() on the same database: use the transaction handle`);
    }
  }

  async query<T = Record<string, unknown>>(sql: string, params?: SqlParam[]): Promise<T[]> {
    this.enter('query');
    const values = toDriverParams(params);
    const res = await this.gate.run(() => this.pg.query<T>(sql, values));
    return res.rows;
  }

  async exec(script: string): Promise<void> {
    this.enter('exec');
    await this.gate.run(() => this.pg.exec(script));
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    this.enter('transaction');
    return this.gate.run(() =>
      this.pg.transaction(async (tx) => {
        const scope: TxScope = { db: this, open: true };
        try {
          return await (txScope ? txScope.run(scope, () => fn(wrapTransaction(tx))) : fn(wrapTransaction(tx)));
        } finally {
          // Work the callback left running keeps the scope; it must not be refused after the end.
          scope.open = false;
        }
      }),
    );
  }

  withLock<T>(name: string, fn: () => Promise<T>, wait = true): Promise<T | null> {
    return this.locks.run(name, fn, wait);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Let statements already admitted finish before the engine goes away.
    try {
      await this.gate.run(() => this.pg.close());
    } finally {
      await this.unlock();
    }
  }
}

function wrapTransaction(tx: Transaction): Queryable {
  return {
    async query<T = Record<string, unknown>>(sql: string, params?: SqlParam[]): Promise<T[]> {
      return (await tx.query<T>(sql, toDriverParams(params))).rows;
    },
    async exec(script: string): Promise<void> {
      await tx.exec(script);
    },
  };
}

/**
 * Embedded metadata is small (repositories, artifact rows): PostgreSQL's default 128 MB of shared buffers inside the
 * WASM heap is memory the process never gets back. Measured: ≈ 90-140 MiB less RSS with these.
 * The WAL is flushed with fsync(): PGlite's build answers fdatasync() without doing anything (see durableFiles).
 */
const EMBEDDED_CONF = ['shared_buffers=16MB', 'wal_buffers=1MB', 'maintenance_work_mem=16MB', 'wal_sync_method=fsync'];
/** PGlite's own start parameters but `-F` (fsync off): see durableFiles. */
const DURABLE_START = PGlite.defaultStartParams.filter((p) => p !== '-F');

/** The part of PGlite's Emscripten module used here: the filesystem that maps the data directory onto Node's. */
interface NodeFsLayer {
  stream_ops: { fsync?: (stream: { nfd?: number }) => number };
  tryFSOperation<T>(f: () => T): T;
}

/**
 * PGlite starts PostgreSQL with fsync off (`-F`), and reaches the data directory through Emscripten's NODEFS, which
 * has no fsync either: a commit reached the disk only when the kernel wrote the page cache back (strace of a generic
 * upload: the blob file and its directory fsynced, the WAL page of the row that names it written and never synced).
 * A crash of the process lost nothing, one of the machine (power, kernel) the last commits: artifacts answered 201
 * and then gone. With fsync on and NODEFS files given a real fsync, a commit returns once its WAL is on disk, as it
 * does in server mode; checkpoints sync the data files. It runs on the main thread, as the rest of PGlite does: an
 * insert took 0.47 ms with its fsync here (50 in a row), one fsync per commit, none for a read.
 */
function durableFiles(pg: PGlite): void {
  const nodefs = (pg.Module as unknown as { NODEFS?: NodeFsLayer }).NODEFS;
  if (!nodefs) throw new Error('this PGlite build has no NODEFS: the embedded database cannot be made durable');
  nodefs.stream_ops.fsync = (stream) => {
    // An error becomes the errno PostgreSQL sees, and it stops rather than go on with data that may not be on disk.
    if (stream.nfd !== undefined) nodefs.tryFSOperation(() => fsyncSync(stream.nfd!));
    return 0;
  };
}

/**
 * Open PGlite on a data directory (created if missing; one process at a time, enforced with
 * `<dataDir>.lock`) or in memory with 'memory://'. A fresh directory costs an initdb (≈2 s on
 * this machine); reopening one ≈0.25 s.
 */
export async function openPglite(dataDir: string): Promise<Database> {
  if (dataDir === 'memory://') return new PgliteDatabase(await PGlite.create(dataDir, { parsers, serializers, postgresqlconf: EMBEDDED_CONF }), async () => {});
  const dir = dataDir.replace(/\/+$/, '');
  await mkdir(dirname(dir), { recursive: true });
  const unlock = await lockFile(`${dir}.lock`, `the database directory ${dir}`);
  try {
    if (!(await hasDatabase(dir))) await createApart(dir);
    const pg = await PGlite.create(dir, { parsers, serializers, postgresqlconf: EMBEDDED_CONF, startParams: DURABLE_START });
    try {
      durableFiles(pg);
    } catch (err) {
      await pg.close();
      throw err;
    }
    return new PgliteDatabase(pg, unlock);
  } catch (err) {
    await unlock();
    throw err;
  }
}

const INITDB = fileURLToPath(new URL('./pglite-initdb.mjs', import.meta.url));

/** Whether `dir` holds an embedded database (PostgreSQL writes PG_VERSION into a data directory it created). */
export const hasDatabase = (dir: string) => access(join(dir, 'PG_VERSION')).then(() => true, () => false);

/**
 * Creates the database in another process (see pglite-initdb.mjs) and in a directory of its own, renamed into place
 * once complete: a start that dies during initdb leaves no half-created database at `dir`. A `dir` without
 * PG_VERSION holds no database (an empty directory, or what such a start left before this existed) and is replaced.
 * Costs ≈ 0.3 s more than creating it here (the process loads PGlite too, and the server then opens the directory).
 */
async function createApart(dir: string): Promise<void> {
  const staging = `${dir}.initdb`;
  await rm(staging, { recursive: true, force: true });
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [INITDB, staging, JSON.stringify(EMBEDDED_CONF)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-4096)));
    child.once('error', reject);
    child.once('close', (code, signal) => (code === 0 ? resolve() : reject(initdbFailure(stderr, code, signal))));
  });
  // The child wrote it without syncing (see durableFiles): on disk before it is renamed into place.
  await fsyncTree(staging);
  await rm(dir, { recursive: true, force: true });
  await rename(staging, dir);
  await fsyncPath(dirname(dir));
}

/** The child's own report of its failure (its last stderr line), keeping the name: an engine abort is retried. */
function initdbFailure(stderr: string, code: number | null, signal: NodeJS.Signals | null): Error {
  const last = stderr.trim().split('\n').pop() ?? '';
  try {
    const { name, message } = JSON.parse(last) as { name?: unknown; message?: unknown };
    if (typeof message === 'string') {
      const err = new Error(message);
      if (typeof name === 'string') err.name = name;
      return err;
    }
  } catch {
    // not the child's report: it died some other way
  }
  return new Error(`creating the embedded database failed (${signal ?? `exit code ${code}`})${last ? `: ${last}` : ''}`);
}
