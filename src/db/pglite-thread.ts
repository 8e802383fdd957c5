import { Worker } from 'node:worker_threads';
import type { EngineError, EngineReply, EngineRequest, EngineStart } from './pglite-protocol.js';

// Plain JavaScript so the same file runs from src/ (vitest) and from dist/ (tsc copies it there).
const WORKER = new URL('./pglite-worker.mjs', import.meta.url);

type Pending = { resolve: (rows: Record<string, unknown>[]) => void; reject: (err: Error) => void };
/** A request without its id (the thread numbers them), each kind of request on its own. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
type Request = WithoutId<EngineRequest>;

/** The error the engine raised, with its SQLSTATE and other fields, and the stack of the call that got it here. */
function toError(e: EngineError): Error {
  const err = new Error(e.message);
  err.name = e.name;
  Object.assign(err, e.fields);
  return err;
}

/** bytea values cross the thread as Uint8Array: back to the Buffer both drivers promise. */
function restoreBuffers(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  for (const row of rows) {
    for (const k in row) {
      const v = row[k];
      if (v instanceof Uint8Array && !Buffer.isBuffer(v)) row[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    }
  }
  return rows;
}

/**
 * The embedded engine's thread (pglite-worker.mjs), seen from the main thread: numbered requests, one reply each.
 * It keeps the process alive only while a request is in flight, as a socket would.
 */
export class EngineThread {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Why the thread can no longer answer, once it cannot. */
  private dead: Error | undefined;
  /** Told when the last request in flight is answered (close waits for it). */
  private drained: (() => void) | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: EngineReply) => this.settle(m));
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`the embedded database's thread exited (code ${code})`)));
  }

  /** Starts the engine; rejects with its own error (an engine abort keeps its name) if it cannot start. */
  static async start(start: EngineStart): Promise<EngineThread> {
    const worker = new Worker(WORKER, { workerData: start });
    const thread = new EngineThread(worker);
    await new Promise<void>((resolve, reject) => thread.pending.set(0, { resolve: () => resolve(), reject }));
    worker.unref();
    return thread;
  }

  /** Sends one request; resolves with its rows (empty for all but a query). */
  request(req: Request): Promise<Record<string, unknown>[]> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    if (this.pending.size === 0) this.worker.ref();
    this.worker.postMessage({ ...req, id } as EngineRequest);
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  /** Once the requests in flight are answered, closes the engine (a checkpoint, files closed) and ends the thread. */
  async close(): Promise<void> {
    while (this.pending.size > 0 && !this.dead) await new Promise<void>((r) => (this.drained = r));
    try {
      await this.request({ op: 'close' });
    } finally {
      await this.worker.terminate();
    }
  }

  private settle(m: EngineReply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (this.pending.size === 0) this.idle();
    if (m.error) p.reject(toError(m.error));
    else p.resolve('rows' in m && m.rows ? restoreBuffers(m.rows) : []);
  }

  private fail(err: Error): void {
    this.dead ??= err;
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
    this.idle();
  }

  private idle(): void {
    this.worker.unref();
    this.drained?.();
    this.drained = undefined;
  }
}
