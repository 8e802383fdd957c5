import type { Readable } from 'node:stream';

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

export interface ObjectStat {
  key: string;
  size: number;
  mtime: Date;
}

/**
 * Where a staged write ended up. `key` is what metadata records; for the fs driver it is the
 * content-addressed path, for s3 the unique object key the bytes were uploaded to
 * (no server-side copy on commit).
 */
export interface CommittedObject {
  key: string;
  size: number;
}

/** A write in progress. Bytes become readable only after `commit`. */
export interface StagedWrite {
  /** Writable side: pipe the body into it (backpressured). */
  readonly sink: NodeJS.WritableStream & import('node:stream').Writable;
  /** Resolves when every byte written to `sink` is durable in the staging area. */
  readonly done: Promise<{ size: number }>;
  /** Make the staged bytes durable under the final name for `sha256`. Idempotent per digest. */
  commit(sha256: string): Promise<CommittedObject>;
  /** Discard everything staged (on abort, mismatch, size limit). Never throws. */
  abort(reason?: unknown): Promise<void>;
  /** Read the staged bytes back before commit (formats inspect archives). Only after `done`. */
  /** Read the staged bytes back (all, or an inclusive byte range). */
  readStaged(range?: ByteRange): Promise<Readable>;
}

/**
 * The blob store: immutable objects, written once through a staging step, read with optional
 * byte ranges. Blobs are content-addressed by SHA-256; metadata (db/) records the key each digest
 * lives at, so one copy per digest exists whatever repository refers to it.
 */
/**
 * An upload that grows over several requests (OCI chunked uploads), possibly handled by different replicas.
 * The state is plain JSON: it lives in the database between requests, never in process memory.
 */
export type AppendState =
  /** One staging file, appended in place. */
  | { driver: 'fs'; file: string; size: number }
  /**
   * S3: the first append is one object, which becomes the blob as is when nothing follows. From the second append
   * on, bytes go into a multipart upload (`multipart`, 8 MiB parts); `segments` then holds what waits to lead the
   * next part (parts must be ≥ 5 MiB). See s3-append.ts.
   */
  | {
      driver: 's3';
      segments: Array<{ key: string; size: number }>;
      size: number;
      multipart?: { key: string; uploadId: string; parts: Array<{ n: number; etag: string; size: number }> };
    };

export interface BlobStore {
  readonly driver: 'fs' | 's3';
  /** Begin an upload that can be appended to across requests and replicas. */
  beginAppend(): Promise<AppendState>;
  /** Append a body; returns the new state (persist it before answering the client). */
  append(state: AppendState, body: import('node:stream').Readable, signal?: AbortSignal): Promise<AppendState>;
  /**
   * The bytes of a state with exactly one append, the only state whose hash state the session does not carry
   * (registry/uploads.ts). After a second append, S3 cannot read them back (an unfinished multipart upload).
   */
  readAppended(state: AppendState): Promise<import('node:stream').Readable>;
  /** Make the appended bytes the blob for `sha256` — without copying them. */
  completeAppend(state: AppendState, sha256: string): Promise<CommittedObject>;
  abortAppend(state: AppendState): Promise<void>;
  /** Start a staged write. `sizeHint` lets s3 pick a part size (parts ≥ 5 MiB, ≤ 10 000 parts). */
  stage(options?: { sizeHint?: number; signal?: AbortSignal }): StagedWrite;
  /**
   * Adopt a complete local file whose SHA-256 is already verified (a remote download's spool): fs renames
   * it into place (same filesystem), s3 uploads it. The file is gone or left for the caller to delete.
   * `wentDirect`: some of the file was written around the page cache (fs reads it back in once placed).
   */
  putFile(path: string, sha256: string, size: number, wentDirect?: boolean): Promise<CommittedObject>;
  /** Stream an object (or a byte range of it). Rejects with code 'ENOENT' when missing. */
  read(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable>;
  stat(key: string): Promise<ObjectStat | null>;
  /** Delete an object; a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** Every committed object (for GC: objects no metadata refers to). */
  list(): AsyncIterable<ObjectStat>;
  /** Remove staging leftovers older than `olderThanMs` (crashed writes, abandoned multipart uploads). */
  sweepStaging(olderThanMs: number): Promise<number>;
  /** Cheap liveness probe for /health. */
  check(): Promise<void>;
  close(): Promise<void>;
}
