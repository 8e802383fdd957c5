import { randomUUID } from 'node:crypto';
import { pipeline, type Readable } from 'node:stream';
import { createSHA256 } from 'hash-wasm';
import type { BlobService } from '../blobs/blob-service.js';
import { byteLimit } from '../blobs/limit.js';
import type { Cache, Lock } from '../cache/types.js';
import { advanceUploadSession, deleteUploadSession, getUploadSession, insertUploadSession, staleUploadSessions, type UploadSession } from '../db/upload-sessions-table.js';
import type { Database } from '../db/types.js';
import type { Hasher, HashResult, HeldHash } from '../hashing/types.js';
import type { AppendState, BlobStore } from '../storage/types.js';
import { ociError } from './oci-errors.js';

/**
 * Everything a blob upload session needs between requests, in the database — so any replica can take the
 * next PATCH or the closing PUT.
 */
export interface OciUploadState {
  image: string;
  append: AppendState;
  /**
   * The hash so far. `sha256` is the digest of everything, hashed with the fast engine (node:crypto), whose state
   * this process keeps for the next append (see UploadSessions.held); the closing PUT needs nothing else. An append
   * that reaches a process without that state (another replica, a restart) turns it into a resumable hash-wasm
   * `state` (recomputed once from the stored prefix), which every further append there continues.
   */
  hash: { sha256?: string; state?: string };
}

const LOCK_TTL_MS = 60_000;
/** Upload sessions whose hash state this process keeps (a few hundred bytes each, and a slot of a worker's). */
const MAX_HELD = 256;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export class UploadSessions {
  /**
   * The live node:crypto state of each session's last append here, least recently used first: a push in chunks
   * (one PATCH after another, which stay on one replica behind a sticky balancer or with one replica) hashes every
   * chunk at node:crypto's speed. Before, every PATCH after the first went through hash-wasm, ≈ 4× slower here.
   */
  private readonly held = new Map<string, HeldHash>();

  constructor(
    private readonly db: Database,
    private readonly cache: Cache,
    private readonly store: BlobStore,
    private readonly blobs: BlobService,
    private readonly hasher: Hasher,
  ) {}

  async create(repoId: number, image: string): Promise<UploadSession<OciUploadState>> {
    const id = randomUUID();
    const state: OciUploadState = { image, append: await this.store.beginAppend(), hash: {} };
    await insertUploadSession(this.db, { id, repoId, kind: 'oci-blob', state });
    return { id, repoId, kind: 'oci-blob', state, size: 0, createdAt: new Date(), updatedAt: new Date() };
  }

  async get(id: string, repoId: number, image: string): Promise<UploadSession<OciUploadState>> {
    const s = /^[0-9a-f-]{36}$/.test(id) ? await getUploadSession<OciUploadState>(this.db, id) : null;
    if (!s || s.repoId !== repoId || s.kind !== 'oci-blob' || s.state.image !== image) throw ociError('BLOB_UPLOAD_UNKNOWN', `upload ${id.slice(0, 64)} is unknown`);
    return s;
  }

  /** One request at a time per session, whichever replica it reaches. */
  private async lock(id: string): Promise<Lock> {
    const lock = await this.cache.tryLock(`oci-upload:${id}`, LOCK_TTL_MS);
    if (!lock) throw ociError('BLOB_UPLOAD_INVALID', 'another request is writing to this upload', undefined, 409);
    return lock;
  }

  /** Append a chunk (PATCH, or the body of the closing PUT) while hashing it; returns the updated session. */
  async append(s: UploadSession<OciUploadState>, body: Readable, maxBytes: number, signal: AbortSignal): Promise<UploadSession<OciUploadState>> {
    const lock = await this.lock(s.id);
    const keep = setInterval(() => void lock.extend(LOCK_TTL_MS), LOCK_TTL_MS / 3);
    try {
      const fresh = await this.get(s.id, s.repoId, s.state.image);
      if (fresh.size !== s.size) throw ociError('BLOB_UPLOAD_INVALID', 'the upload moved on meanwhile', undefined, 416);
      const hashing = await this.hashStream(fresh);
      try {
        // One chain: an error anywhere (client gone, size limit) destroys every stage.
        const source = pipeline(body, byteLimit(Math.max(0, maxBytes - fresh.size), 'blob upload'), hashing, () => {});
        const append = await this.store.append(fresh.state.append, source, signal);
        const r: HashResult = await hashing.result;
        const state: OciUploadState = {
          ...fresh.state,
          append,
          hash: r.sha256State ? { state: Buffer.from(r.sha256State).toString('base64') } : { sha256: r.digests.sha256! },
        };
        if (!(await advanceUploadSession(this.db, s.id, fresh.size, state, append.size))) {
          throw ociError('BLOB_UPLOAD_INVALID', 'the upload moved on meanwhile', undefined, 416);
        }
        if (r.held) this.keepHeld(s.id, r.held);
        return { ...fresh, state, size: append.size, updatedAt: new Date() };
      } catch (err) {
        // A state held for bytes that did not become the session's is of no use to anyone.
        hashing.result.then((r) => r.held?.release(), () => {});
        throw err;
      }
    } finally {
      clearInterval(keep);
      await lock.release();
    }
  }

  /**
   * The first append, and one that follows an append in this process, use the fast engine and keep its state; others
   * continue (or first rebuild) a resumable state.
   */
  private async hashStream(s: UploadSession<OciUploadState>) {
    if (s.size === 0) return this.hasher.stream({ algorithms: ['sha256'], hold: true });
    const held = this.takeHeld(s.id, s.size);
    if (held) return this.hasher.stream({ algorithms: ['sha256'], continueFrom: held, hold: true });
    let state = s.state.hash.state ? Buffer.from(s.state.hash.state, 'base64') : undefined;
    if (!state) {
      // Recompute from the stored prefix once; from now on the state travels with the session.
      const h = this.hasher.stream({ algorithms: ['sha256'], resumable: true });
      const prefix = await this.store.readAppended(s.state.append);
      prefix.pipe(h).resume();
      state = Buffer.from((await h.result).sha256State!);
    }
    return this.hasher.stream({ algorithms: ['sha256'], resumeFrom: { state, size: s.size } });
  }

  /** The session's held state if it covers exactly its `size` bytes (it is then the caller's), else undefined. */
  private takeHeld(id: string, size: number): HeldHash | undefined {
    const h = this.held.get(id);
    if (!h) return undefined;
    this.held.delete(id);
    if (h.size === size && h.usable) return h;
    h.release();
    return undefined;
  }

  private keepHeld(id: string, h: HeldHash): void {
    this.dropHeld(id);
    this.held.set(id, h);
    if (this.held.size > MAX_HELD) {
      const [oldest] = this.held.keys();
      this.dropHeld(oldest!);
    }
  }

  private dropHeld(id: string): void {
    this.held.get(id)?.release();
    this.held.delete(id);
  }

  async digestOf(s: UploadSession<OciUploadState>): Promise<string> {
    if (s.size === 0) return EMPTY_SHA256;
    if (s.state.hash.sha256) return s.state.hash.sha256;
    const h = await createSHA256();
    h.init();
    h.load(Buffer.from(s.state.hash.state!, 'base64'));
    return h.digest('hex');
  }

  /** Verify the digest and make the bytes a blob: O(1) for a one-PATCH push, whatever its size. */
  async complete(s: UploadSession<OciUploadState>, expectedHex: string): Promise<void> {
    const lock = await this.lock(s.id);
    try {
      const actual = await this.digestOf(s);
      if (actual !== expectedHex) {
        await this.cancel(s);
        throw ociError('DIGEST_INVALID', `the uploaded bytes have digest sha256:${actual}, not sha256:${expectedHex}`);
      }
      await this.blobs.commitAppended(s.state.append, actual, s.size);
      await deleteUploadSession(this.db, s.id);
      this.dropHeld(s.id);
    } finally {
      await lock.release();
    }
  }

  /**
   * Drop sessions nobody touched for `maxAgeMs` (abandoned pushes) with their staged bytes. One replica at a time;
   * returns how many were reaped (null when another replica is doing it).
   */
  async reap(maxAgeMs: number): Promise<number | null> {
    return this.db.withLock(
      'artifactapi:reap-uploads',
      async () => {
        let n = 0;
        for (const s of await staleUploadSessions<OciUploadState>(this.db, new Date(Date.now() - maxAgeMs))) {
          if (s.kind !== 'oci-blob') continue;
          await this.cancel(s).catch(() => {});
          n++;
        }
        return n;
      },
      false,
    );
  }

  async cancel(s: UploadSession<OciUploadState>): Promise<void> {
    this.dropHeld(s.id);
    await this.store.abortAppend(s.state.append);
    await deleteUploadSession(this.db, s.id);
  }
}
