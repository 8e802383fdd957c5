import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { badRequest, HttpError } from '../errors.js';
import type { Database, Queryable } from '../db/types.js';
import { getBlob, refreshBlob, upsertBlob, type BlobRow } from '../db/blobs-table.js';
import type { DigestLocks } from './digest-locks.js';
import type { Digests, HashAlgorithm, Hasher } from '../hashing/types.js';
import { verifyDigests } from '../hashing/digest.js';
import type { AppendState, BlobStore, ByteRange } from '../storage/types.js';
import { ByteLru } from '../util/byte-lru.js';
import { byteLimit } from './limit.js';

export interface IngestOptions {
  /** Refuse bodies larger than this (413, nothing stored). */
  maxBytes?: number;
  /** When known, the body must be exactly this long. */
  expectedSize?: number;
  /** Digests the body must match (DIGEST_MISMATCH otherwise, nothing stored). */
  expected?: Digests;
  /** Extra digests to compute besides sha256 (npm sha512, pypi md5, ...). */
  algorithms?: HashAlgorithm[];
  signal?: AbortSignal;
}

/** Bytes hashed and staged, not visible to anyone until `commit`. */
export interface IngestedBlob {
  sha256: string;
  size: number;
  digests: Digests;
  /** Read the staged bytes back (formats inspect archives before commit). */
  open(range?: ByteRange): Promise<Readable>;
  /** Make it durable and recorded; returns the blob row (an existing one if the digest was already stored). */
  commit(q?: Queryable): Promise<BlobRow>;
  discard(): Promise<void>;
}

/** The bytes are not what the client or the index promised (400 for uploads; the remote engine maps it to 502). */
export class DigestMismatchError extends HttpError {
  constructor(
    readonly algorithm: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(400, 'DIGEST_MISMATCH', `${algorithm} digest mismatch: expected ${expected}, got ${actual}`, { algorithm, expected, actual });
  }
}

/**
 * Content-addressed blobs: the one place where a byte stream becomes a stored, hashed, deduplicated
 * blob. Local uploads, remote fetches and (later) docker uploads all go through here.
 */
/** Blobs up to this size are kept in memory once read (see open). */
const SMALL_BLOB = 64 * 1024;

export class BlobService {
  private readonly small = new ByteLru<Buffer>(64 * 1024 * 1024);

  constructor(
    readonly store: BlobStore,
    private readonly db: Database,
    private readonly hasher: Hasher,
    private readonly locks: DigestLocks,
  ) {}

  /** Stream a body through the hasher into staging; verifies size and digests before returning. */
  async ingest(body: Readable, opts: IngestOptions = {}): Promise<IngestedBlob> {
    const algorithms: HashAlgorithm[] = ['sha256', ...(opts.algorithms ?? []).filter((a) => a !== 'sha256')];
    for (const a of Object.keys(opts.expected ?? {}) as HashAlgorithm[]) if (!algorithms.includes(a)) algorithms.push(a);
    const staged = this.store.stage({ sizeHint: opts.expectedSize, signal: opts.signal });
    const hashing = this.hasher.stream({ algorithms });
    const stages: NodeJS.ReadWriteStream[] = [];
    if (opts.maxBytes !== undefined) stages.push(byteLimit(opts.maxBytes));
    try {
      await pipeline([body, ...stages, hashing, staged.sink] as unknown as [Readable, NodeJS.WritableStream], opts.signal ? { signal: opts.signal } : {});
      const [{ size, digests }] = await Promise.all([hashing.result, staged.done]);
      if (opts.expectedSize !== undefined && size !== opts.expectedSize) {
        throw badRequest('SIZE_MISMATCH', `body has ${size} bytes, expected ${opts.expectedSize}`);
      }
      const bad = opts.expected ? verifyDigests({ digests }, opts.expected) : null;
      if (bad) throw new DigestMismatchError(bad, opts.expected![bad]!, digests[bad] ?? '');
      const sha256 = digests.sha256!;
      let done = false;
      return {
        sha256,
        size,
        digests,
        open: (range) => staged.readStaged(range),
        commit: async (q: Queryable = this.db) => {
          done = true;
          return this.locks.with(sha256, () => this.commitStaged(q, sha256, size, () => staged.commit(sha256)));
        },
        discard: async () => {
          if (!done) await staged.abort();
          done = true;
        },
      };
    } catch (err) {
      await staged.abort(err);
      hashing.destroy();
      throw err;
    }
  }

  /** Adopt a complete local file (a remote download's spool) whose digest is already verified; see putFile for `wentDirect`. */
  async adoptFile(path: string, sha256: string, size: number, wentDirect = false): Promise<BlobRow> {
    return this.locks.with(sha256, async () => {
      // On the filesystem a duplicate costs a stat and an unlink (the store keeps the copy it has): no query first.
      if (this.store.driver !== 'fs') {
        const existing = await this.reuse(sha256);
        if (existing) return existing;
      }
      return this.commitStaged(this.db, sha256, size, () => this.store.putFile(path, sha256, size, wentDirect));
    });
  }

  /** An already stored digest, refreshed so GC spares it while the caller links it. */
  private async reuse(sha256: string): Promise<BlobRow | null> {
    const existing = await getBlob(this.db, sha256);
    if (existing) await refreshBlob(this.db, sha256);
    return existing;
  }

  /** Finish an appendable upload whose digest is verified: the appended bytes become the blob (deduplicated). */
  async commitAppended(state: AppendState, sha256: string, size: number): Promise<BlobRow> {
    return this.locks.with(sha256, async () => {
      const existing = await this.reuse(sha256);
      if (existing) {
        await this.store.abortAppend(state);
        return existing;
      }
      return this.commitStaged(this.db, sha256, size, () => this.store.completeAppend(state, sha256));
    });
  }

  private async commitStaged(q: Queryable, sha256: string, size: number, commit: () => Promise<{ key: string }>): Promise<BlobRow> {
    const { key } = await commit();
    const row = await upsertBlob(q, { sha256, size, storageKey: key });
    // Someone committed the same digest first under another key (s3): keep theirs, drop ours.
    if (row.storageKey !== key) await this.store.delete(key);
    return row;
  }

  /** SHA-256 hex of a small in-memory document (manifests, indexes). */
  digest(body: Uint8Array): string {
    return this.hasher.digestBuffer(body, ['sha256']).sha256!;
  }

  /** A small blob's bytes if they are in memory already (see open). */
  cachedSmall(sha256: string): Buffer | undefined {
    return this.small.get(sha256);
  }

  /**
   * Read a blob. Small ones (manifests, indexes, configs: the hot path of pulls) are served from memory after the
   * first read; content addressing means a cached body can never be stale.
   */
  async open(blob: Pick<BlobRow, 'storageKey'> & { sha256?: string; size?: number }, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    if (blob.sha256 === undefined || blob.size === undefined || blob.size > SMALL_BLOB) return this.store.read(blob.storageKey, range, signal);
    let body = this.small.get(blob.sha256);
    if (!body) {
      const parts: Buffer[] = [];
      // The whole blob as an explicit range: a file stream then reads into a buffer of the blob's size, not its
      // 1 MiB high-water mark (a megabyte of garbage per small read made the collector stall the server).
      const whole = blob.size > 0 ? { start: 0, end: blob.size - 1 } : undefined;
      for await (const c of await this.store.read(blob.storageKey, whole, signal)) parts.push(c as Buffer);
      body = Buffer.concat(parts);
      if (body.length !== blob.size) throw new Error(`blob ${blob.sha256} has ${body.length} bytes, metadata says ${blob.size}`);
      this.small.set(blob.sha256, body, body.length);
    }
    return Readable.from([range ? body.subarray(range.start, range.end + 1) : body]);
  }
}
