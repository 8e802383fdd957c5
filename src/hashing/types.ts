import type { Transform } from 'node:stream';

export type HashAlgorithm = 'sha256' | 'sha512' | 'sha1' | 'md5';

/** Hex digests by algorithm. */
export type Digests = Partial<Record<HashAlgorithm, string>>;

export interface HashResult {
  size: number;
  digests: Digests;
  /**
   * Serialized hash-wasm SHA-256 state after the last byte (only when `resumable` was requested):
   * lets another process continue the same hash without re-reading the bytes.
   */
  sha256State?: Uint8Array;
}

export interface HashStreamOptions {
  algorithms: HashAlgorithm[];
  /** Use hash-wasm for SHA-256 so the state can be saved (slower, ~350 MiB/s vs ~1.5 GiB/s). */
  resumable?: boolean;
  /** Continue from a saved SHA-256 state (implies resumable) and the number of bytes it covers. */
  resumeFrom?: { state: Uint8Array; size: number };
}

/**
 * A pass-through Transform: every chunk is hashed in a worker thread (transferred there and
 * back, not copied) and then emitted unchanged and in order. `result` resolves after the stream ended.
 */
export interface HashingStream extends Transform {
  readonly result: Promise<HashResult>;
}

export interface Hasher {
  /** Create a pass-through hashing stream backed by the worker pool. */
  stream(options: HashStreamOptions): HashingStream;
  /** Hash a small in-memory buffer on the calling thread (manifests, index documents). */
  digestBuffer(buf: Uint8Array, algorithms: HashAlgorithm[]): Digests;
  close(): Promise<void>;
}
