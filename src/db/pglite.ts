import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import { access, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fsyncPath, fsyncTree } from '../util/fsync.js';
import { lockFile } from './dir-lock.js';
import { Mutex, NamedMutex } from './mutex.js';
import { toDriverParams } from './params.js';
import { EngineThread } from './pglite-thread.js';
import { endingHandle } from './tx-handle.js';
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

/**
 * The embedded engine, run on a thread of its own (see pglite-worker.mjs). PGlite has a single connection. Its own
 * lock keeps a statement from another caller out of an open transaction (the statement waits for the end), so plain
 * statements go to the thread as they come, several in flight at once; transactions take turns here (the thread
 * holds one open at a time). `withLock` is a process-local named mutex — there is only one process using the data
 * directory.
 */
class PgliteDatabase implements Database {
  readonly driver = 'pglite' as const;
  /** Admits one transaction at a time, and lets the last one end before the engine closes. */
  private readonly txGate = new Mutex();
  private readonly locks = new NamedMutex();
  private closed = false;

  constructor(
    private readonly engine: EngineThread,
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
    return (await this.engine.request({ op: 'query', sql, params: values, tx: false })) as T[];
  }

  async exec(script: string): Promise<void> {
    this.enter('exec');
    await this.engine.request({ op: 'exec', sql: script, tx: false });
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    this.enter('transaction');
    return this.txGate.run(async () => {
      await this.engine.request({ op: 'begin' });
      const scope: TxScope = { db: this, open: true };
      const { handle, end } = endingHandle(this.inTransaction);
      let result: T;
      try {
        result = await (txScope ? txScope.run(scope, () => fn(handle)) : fn(handle));
      } catch (err) {
        scope.open = false;
        end();
        // The callback's error is the one to report; a failed rollback leaves nothing open in the engine either.
        await this.engine.request({ op: 'end', commit: false }).catch(() => {});
        throw err;
      }
      // Work the callback left running keeps the scope; it must not be refused after the end.
      scope.open = false;
      end();
      await this.engine.request({ op: 'end', commit: true });
      return result;
    });
  }

  /** Statements inside the open transaction (txGate is held by it). */
  private readonly inTransaction: Queryable = {
    query: async <T = Record<string, unknown>>(sql: string, params?: SqlParam[]): Promise<T[]> =>
      (await this.engine.request({ op: 'query', sql, params: toDriverParams(params), tx: true })) as T[],
    exec: async (script: string): Promise<void> => {
      await this.engine.request({ op: 'exec', sql: script, tx: true });
    },
  };

  withLock<T>(name: string, fn: () => Promise<T>, wait = true): Promise<T | null> {
    return this.locks.run(name, fn, wait);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Let statements and a transaction already admitted finish before the engine goes away (engine.close drains).
    try {
      await this.txGate.run(() => this.engine.close());
    } finally {
      await this.unlock();
    }
  }
}

/**
 * Embedded metadata is small (repositories, artifact rows): PostgreSQL's default 128 MB of shared buffers inside the
 * WASM heap is memory the process never gets back. Measured: ≈ 90-140 MiB less RSS with these.
 * The WAL is flushed with fsync(): PGlite's build answers fdatasync() without doing anything (see pglite-worker.mjs).
 */
const EMBEDDED_CONF = ['shared_buffers=16MB', 'wal_buffers=1MB', 'maintenance_work_mem=16MB', 'wal_sync_method=fsync'];

/**
 * Open PGlite on a data directory (created if missing; one process at a time, enforced with
 * `<dataDir>.lock`) or in memory with 'memory://'. A fresh directory costs an initdb (≈2 s on
 * this machine); reopening one ≈0.25 s.
 */
export async function openPglite(dataDir: string): Promise<Database> {
  if (dataDir === 'memory://') return new PgliteDatabase(await EngineThread.start({ dir: dataDir, conf: EMBEDDED_CONF, durable: false }), async () => {});
  const dir = dataDir.replace(/\/+$/, '');
  await mkdir(dirname(dir), { recursive: true });
  const unlock = await lockFile(`${dir}.lock`, `the database directory ${dir}`);
  try {
    if (!(await hasDatabase(dir))) await createApart(dir);
    return new PgliteDatabase(await EngineThread.start({ dir, conf: EMBEDDED_CONF, durable: true }), unlock);
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
  // The child wrote it without syncing (see pglite-worker.mjs): on disk before it is renamed into place.
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
