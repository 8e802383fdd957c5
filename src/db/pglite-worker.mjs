// @ts-check
// The embedded PostgreSQL (PGlite) on a thread of its own. PGlite's file system is synchronous: on the server's
// event loop every WAL fsync stopped every transfer in the process for as long as the disk took (measured with the
// server's writes throttled to 20 MB/s: fsyncs of ~100 ms each, the loop late by up to 0.5 s). Here they stop only
// this thread. Plain JavaScript so the same file runs from src/ (vitest) and from dist/ (tsc copies it there).
import { fsyncSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { OID, parseBytea, serializeBytea, serializeJson } from './codecs.mjs';

/**
 * @typedef {import('./pglite-protocol.js').EngineStart} EngineStart
 * @typedef {import('./pglite-protocol.js').EngineRequest} EngineRequest
 * @typedef {import('./pglite-protocol.js').EngineReply} EngineReply
 * @typedef {import('./pglite-protocol.js').EngineError} EngineError
 * @typedef {import('@electric-sql/pglite').Transaction} Transaction
 */

const port = parentPort;
if (!port) throw new Error('pglite-worker.mjs runs as a worker thread');

const parsers = {
  [OID.INT8]: (/** @type {string} */ x) => Number(x),
  [OID.NUMERIC]: (/** @type {string} */ x) => Number(x),
  // A Buffer from Node's pool would take its whole 8 KiB slab across the thread: one of its own size.
  [OID.BYTEA]: (/** @type {string} */ x) => new Uint8Array(parseBytea(x)),
};
const serializers = {
  [OID.BYTEA]: serializeBytea,
  [OID.JSON]: serializeJson,
  [OID.JSONB]: serializeJson,
};

/**
 * @typedef {{ stream_ops: { fsync?: (stream: { nfd?: number }) => number }, tryFSOperation<T>(f: () => T): T }} NodeFsLayer
 */

/**
 * PGlite starts PostgreSQL with fsync off (`-F`), and reaches the data directory through Emscripten's NODEFS, which
 * has no fsync either: a commit reached the disk only when the kernel wrote the page cache back (strace of a generic
 * upload: the blob file and its directory fsynced, the WAL page of the row that names it written and never synced).
 * A crash of the process lost nothing, one of the machine (power, kernel) the last commits: artifacts answered 201
 * and then gone. With fsync on and NODEFS files given a real fsync, a commit returns once its WAL is on disk, as it
 * does in server mode; checkpoints sync the data files. One fsync per commit, none for a read.
 * @param {PGlite} pg
 */
function durableFiles(pg) {
  const nodefs = /** @type {{ NODEFS?: NodeFsLayer }} */ (/** @type {unknown} */ (pg.Module)).NODEFS;
  if (!nodefs) throw new Error('this PGlite build has no NODEFS: the embedded database cannot be made durable');
  nodefs.stream_ops.fsync = (stream) => {
    // An error becomes the errno PostgreSQL sees, and it stops rather than go on with data that may not be on disk.
    if (stream.nfd !== undefined) nodefs.tryFSOperation(() => fsyncSync(/** @type {number} */ (stream.nfd)));
    return 0;
  };
}

/**
 * @param {unknown} err
 * @returns {EngineError}
 */
function engineError(err) {
  const e = err instanceof Error ? err : new Error(String(err));
  /** @type {EngineError['fields']} */
  const fields = {};
  for (const [k, v] of Object.entries(e)) {
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') fields[k] = v;
  }
  return { name: e.name, message: e.message, stack: e.stack, fields };
}

/** @param {EngineReply} reply */
const send = (reply) => port.postMessage(reply);

/** @type {EngineStart} */
const start = workerData;
/** @type {PGlite} */
let pg;
try {
  pg = await PGlite.create(start.dir, {
    parsers,
    serializers,
    postgresqlconf: start.conf,
    // PGlite's own start parameters but `-F` (fsync off): see durableFiles.
    ...(start.durable ? { startParams: PGlite.defaultStartParams.filter((p) => p !== '-F') } : {}),
  });
  if (start.durable) {
    try {
      durableFiles(pg);
    } catch (err) {
      await pg.close();
      throw err;
    }
  }
} catch (err) {
  send({ id: 0, error: engineError(err) });
  port.close();
  throw err;
}

/**
 * The open transaction: its handle and how to end it. PGlite's own transaction() runs it, so COMMIT's
 * TransactionAbortedError and the handle's closing behave as they do on the main thread.
 * @type {{ tx: Transaction, end: (commit: boolean) => void, done: Promise<unknown> } | undefined}
 */
let open;
const ROLLBACK = Symbol('rollback');

/** @param {boolean} inTx */
function target(inTx) {
  if (!inTx) return pg;
  if (!open) throw new Error('no transaction is open');
  return open.tx;
}

/** @param {EngineRequest} req */
async function handle(req) {
  switch (req.op) {
    case 'query':
      return { rows: (await target(req.tx).query(req.sql, req.params)).rows };
    case 'exec':
      await target(req.tx).exec(req.sql);
      return {};
    case 'begin': {
      if (open) throw new Error('a transaction is already open');
      /** @type {(tx: Transaction) => void} */
      let opened = () => {};
      const ready = new Promise((resolve) => (opened = resolve));
      /** @type {(commit: boolean) => void} */
      let end = () => {};
      const ended = new Promise((resolve) => (end = resolve));
      const done = pg
        .transaction(async (tx) => {
          opened(tx);
          if (!(await ended)) throw ROLLBACK;
        })
        .catch((err) => {
          if (err !== ROLLBACK) throw err;
        });
      // BEGIN itself failing ends `done` before the handle exists.
      const tx = await Promise.race([ready, done.then(() => undefined)]);
      if (!tx) throw new Error('the transaction did not open');
      open = { tx: /** @type {Transaction} */ (tx), end, done };
      return {};
    }
    case 'end': {
      const t = open;
      if (!t) throw new Error('no transaction is open');
      open = undefined;
      t.end(req.commit);
      await t.done;
      return {};
    }
    case 'close':
      await pg.close();
      return {};
  }
}

port.on('message', (/** @type {EngineRequest} */ req) => {
  handle(req).then(
    (r) => send({ id: req.id, ...r }),
    (err) => send({ id: req.id, error: engineError(err) }),
  );
});
send({ id: 0 });
