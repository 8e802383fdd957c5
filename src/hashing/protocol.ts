// The messages between a hashing stream (main thread) and its task in worker.mjs. Types only.
import type { MessagePort } from 'node:worker_threads';
import type { Digests, HashAlgorithm } from './types.js';

/** The one Piscina task of a stream: it stays pending for the stream's whole life. */
export interface StreamTask {
  port: MessagePort;
  algorithms: HashAlgorithm[];
  /** SHA-256 through hash-wasm, whose state can be saved. */
  resumable: boolean;
  resumeState?: Uint8Array;
  /** 'end' answers with a HeldEnd and the task goes on, for a next stream to continue (see HeldHash). */
  hold?: boolean;
}

export interface StreamTaskResult {
  /** Bytes seen by this task (not counting the resumed part; a held task's, since it started). */
  size: number;
  digests: Digests;
  sha256State?: Uint8Array;
}

/** Main → worker on the task's port: a chunk (its ArrayBuffer transferred), the end, or an abort. */
export type ToWorker = Uint8Array | 'end' | 'abort';

/** A held task's answer to 'end': what finish would return, the state staying alive. */
export interface HeldEnd {
  end: StreamTaskResult;
}

/** Worker → main: the chunk, hashed, handed back (transferred again, same memory); or a held task's end. */
export type FromWorker = Uint8Array | HeldEnd;
