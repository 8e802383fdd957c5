import type { Transform } from 'node:stream';

export type HashAlgorithm = 'sha256' | 'sha512' | 'sha1' | 'md5';

/** Hex digests by algorithm. */
export type Digests = Partial<Record<HashAlgorithm, string>>;

export interface HashResult {
  /** Bytes hashed, including `resumeFrom.size` when the hash was resumed. */
  size: number;
  digests: Digests;
  /**
   * Serialized hash-wasm SHA-256 state after the last byte (only when `resumable` was requested):
   * lets another process continue the same hash without re-reading the bytes.
   */
  sha256State?: Uint8Array;
  /** With `hold`: the state after the last byte, kept in the worker for a next stream to continue. */
  held?: HeldHash;
}

/**
 * A finished stream's hash state, kept alive in its worker thread (node:crypto, which cannot be saved), so that a
 * next stream over the following bytes (an upload's next PATCH reaching this process) continues it at full speed.
 * Process-local and used at most once: the continuing stream's result holds the next one. `release` frees it.
 */
export interface HeldHash {
  /** Bytes the state covers. */
  readonly size: number;
  /** Not yet continued or released, and its worker task is alive. */
  readonly usable: boolean;
  release(): void;
}

export interface HashStreamOptions {
  /** Digests to compute, in one pass. `resumable`/`resumeFrom` imply sha256. */
  algorithms: HashAlgorithm[];
  /** Use hash-wasm for SHA-256 so the state can be saved (slower, ~350 MiB/s vs ~1.5 GiB/s). */
  resumable?: boolean;
  /**
   * Continue from a saved SHA-256 state (implies resumable) and the number of bytes it covers. Only SHA-256
   * resumes: other algorithms in the same stream cover this stream's bytes alone.
   */
  resumeFrom?: { state: Uint8Array; size: number };
  /** Keep the state in the worker after the end (`result.held`). Not with `resumable`: hash-wasm saves its state. */
  hold?: boolean;
  /**
   * Continue a held state: the algorithms are the held stream's (`algorithms` must name the same), and the result
   * covers the held bytes too. Throws if it is not usable (see `HeldHash.usable`).
   */
  continueFrom?: HeldHash;
}

/**
 * A pass-through Transform: every chunk is hashed in a worker thread and then emitted unchanged and in order.
 * A chunk that owns its whole ArrayBuffer is transferred to the worker and back, not copied: once written, the
 * caller's Buffer is detached (length 0) and the same memory comes out of the readable side. Other chunks are
 * copied once. `result` resolves after the stream ended; it rejects when the stream is destroyed first.
 */
export interface HashingStream extends Transform {
  readonly result: Promise<HashResult>;
}

export interface HasherOptions {
  /** Worker threads (default: min(2, available cores)). */
  threads?: number;
  /** Streams one thread serves at once before new ones wait in the pool's queue (default 1024). */
  streamsPerThread?: number;
}

export interface HasherStats {
  threads: number;
  /** Streams whose worker task is running or queued (a destroyed stream leaves this count). */
  streams: number;
  /** Streams waiting for a free slot on a thread. */
  queued: number;
}

export interface Hasher {
  /** Create a pass-through hashing stream backed by the worker pool. */
  stream(options: HashStreamOptions): HashingStream;
  /** Hash a small in-memory buffer on the calling thread (manifests, index documents). */
  digestBuffer(buf: Uint8Array, algorithms: HashAlgorithm[]): Digests;
  stats(): HasherStats;
  /** Destroy the pool: streams still running fail. */
  close(): Promise<void>;
}
