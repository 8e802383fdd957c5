// The messages between PgliteDatabase (main thread) and the engine's thread, pglite-worker.mjs. Types only.
import type { DriverParam } from './params.js';

/** What the thread is started with (workerData). */
export interface EngineStart {
  /** Data directory, or 'memory://'. */
  dir: string;
  /** postgresql.conf settings. */
  conf: string[];
  /** A directory on disk: start with fsync on and give its files a real fsync (see durableFiles in the worker). */
  durable: boolean;
}

export type EngineRequest =
  | { id: number; op: 'query'; sql: string; params: DriverParam[]; tx: boolean }
  | { id: number; op: 'exec'; sql: string; tx: boolean }
  /** Opens the transaction later requests with `tx: true` run inside; one at a time (the main thread's gate). */
  | { id: number; op: 'begin' }
  | { id: number; op: 'end'; commit: boolean }
  | { id: number; op: 'close' };

/** An error as it crosses threads: structured clone would drop the SQLSTATE and the other fields callers read. */
export interface EngineError {
  name: string;
  message: string;
  stack?: string;
  fields: Record<string, string | number | boolean | null>;
}

export type EngineReply =
  /** First message: the engine is up, or could not start. */
  | { id: 0; error?: EngineError }
  | { id: number; rows?: Record<string, unknown>[]; error?: EngineError };
