import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Metrics } from '../api/metrics.js';
import type { BlobService } from '../blobs/blob-service.js';
import type { Cache, Lock } from '../cache/types.js';
import { getArtifact, upsertArtifact, type ArtifactRow } from '../db/artifacts-table.js';
import type { Database } from '../db/types.js';
import { badGateway, HttpError, isAbort } from '../errors.js';
import type { FormatContext, FormatProvider, UpstreamTarget } from '../formats/types.js';
import { verifyDigests } from '../hashing/digest.js';
import type { Digests, HashAlgorithm, Hasher, HashingStream } from '../hashing/types.js';
import type { Logger } from '../log.js';
import type { Repository } from '../repos/model.js';
import type { Servable } from '../repos/servable.js';
import type { ArtifactRowCache } from '../repos/row-cache.js';
import { storedServable } from '../repos/stored.js';
import { serverTiming } from '../http/server-timing.js';
import { encodePath } from '../util/paths.js';
import { FileBody } from '../storage/file-body.js';
import type { ByteRange } from '../storage/types.js';
import { Spool } from './spool.js';
import type { UpstreamClient, UpstreamResponse } from './upstream.js';
import { readBounded } from '../util/read-bounded.js';

/** Index documents are rewritten in memory; anything bigger than this is refused rather than buffered. */
const MAX_REWRITE_BYTES = 256 * 1024 * 1024;
const LOCK_TTL_MS = 30_000;
/**
 * Immutable bodies at least this large let their clients finish before the commit (see stream): the commit's fsync
 * grows with the body (≈ 330 ms for 512 MiB here). A smaller one commits in a few ms, and its clients wait for that,
 * so a client that saw a complete small body finds it listed and cached at once.
 */
const RELEASE_BEFORE_COMMIT_BYTES = 8 * 1024 * 1024;
const DEFAULT_MUTABLE_TTL_S = 300;
const DEFAULT_NEGATIVE_TTL_S = 60;
/** Metadata key of a rewritten document's upstream ETag, for conditional revalidation. */
const UPSTREAM_ETAG = '_upstreamEtag';

/**
 * How long the upstream took to answer (status line and headers), for a response that asked it: the standard
 * Server-Timing header, so a client, a browser's devtools or a benchmark can tell the upstream's share of a slow first
 * byte from the proxy's own.
 */
function upstreamTiming(ms: number): Record<string, string> {
  return { 'Server-Timing': serverTiming({ upstream: ms }) };
}

export interface RemoteEngineDeps {
  db: Database;
  rows: ArtifactRowCache;
  cache: Cache;
  blobs: BlobService;
  hasher: Hasher;
  upstream: UpstreamClient;
  metrics: Metrics;
  log: Logger;
  spoolDir: string;
  /** Spool bytes past this offset are written around the page cache (see DurableFileWriter); unset: ordinary writes. */
  spoolDirectAfter?: number;
  /** How long a replica waits for another replica's download of the same path before fetching itself. */
  crossReplicaWaitMs?: number;
}

export interface OpenRequest {
  head: boolean;
  headers: Record<string, string>;
  signal: AbortSignal;
}

/** One upstream download in this process that any number of local clients follow. */
interface Download {
  /** Resolves when the upstream answered: a Servable streaming from the spool, or null for 404. */
  ready: Promise<Servable | null>;
  /** Set once a large body arrived and was verified, while it is being committed: what a request gets meanwhile. */
  verified?: Servable;
}


/**
 * The remote-repository engine, shared by every package type: immutable content fetched once and
 * kept, mutable documents cached with a TTL and revalidated, stale-if-error, negative caching,
 * single-flight within the process (followers stream the same download) and across replicas
 * (a lock in the cache; other replicas wait for the commit), commit only after verification.
 */
export class RemoteEngine {
  private readonly downloads = new Map<string, Download>();

  constructor(private readonly d: RemoteEngineDeps) {}

  /** Create the spool directory and drop spool files a crashed process left behind (older than a day). */
  async init(): Promise<void> {
    await mkdir(this.d.spoolDir, { recursive: true });
    const cutoff = Date.now() - 24 * 3600_000;
    for (const name of await readdir(this.d.spoolDir)) {
      const p = join(this.d.spoolDir, name);
      const st = await stat(p).catch(() => null);
      if (st && st.mtimeMs < cutoff) await rm(p, { force: true });
    }
  }

  private ttlSeconds(repo: Repository): number {
    return repo.settings.mutable_ttl_seconds ?? DEFAULT_MUTABLE_TTL_S;
  }

  private async locate(fmt: FormatProvider, ctx: FormatContext, path: string): Promise<UpstreamTarget | null> {
    if (fmt.locate) return fmt.locate(ctx, path);
    return { url: `${ctx.repo.upstream!.url}/${encodePath(path)}` };
  }

  async open(fmt: FormatProvider, ctx: FormatContext, path: string, req: OpenRequest): Promise<Servable | null> {
    const repo = ctx.repo;
    if (!repo.upstream) throw new HttpError(500, 'INTERNAL', `remote repository ${repo.name} has no upstream`);
    const cls = fmt.classify(repo, path);
    const row = await this.d.rows.get(repo.id, path);
    const labels = { repo: repo.name };
    if (row) {
      const fresh = cls === 'immutable' || (row.expiresAt !== null && row.expiresAt.getTime() > Date.now());
      if (fresh) {
        this.d.metrics.cache.inc({ ...labels, result: 'hit' });
        this.d.rows.recordRead(repo.id, path);
        return storedServable(this.d.blobs, row, 'cache');
      }
      return this.revalidate(fmt, ctx, path, row, req);
    }
    const negKey = `neg:${repo.id}:${path}`;
    if (await this.d.cache.get(negKey)) {
      this.d.metrics.cache.inc({ ...labels, result: 'negative' });
      return null;
    }
    this.d.metrics.cache.inc({ ...labels, result: 'miss' });
    if (req.head) return this.headUpstream(fmt, ctx, path, req);
    return this.join(fmt, ctx, path, req, undefined);
  }

  /** HEAD on a miss asks the upstream with HEAD and caches no body. */
  private async headUpstream(fmt: FormatProvider, ctx: FormatContext, path: string, req: OpenRequest): Promise<Servable | null> {
    const target = await this.locate(fmt, ctx, path);
    if (!target) return null;
    const res = await this.request(ctx.repo, target.url, 'HEAD', this.forwardHeaders(fmt, path, req), req.signal);
    res.body.resume();
    if (res.status === 404 || res.status === 410) {
      await this.rememberMissing(ctx.repo, path);
      return null;
    }
    if (res.status !== 200) throw badGateway(`upstream answered ${res.status} to HEAD`);
    const len = res.headers['content-length'];
    return {
      source: 'remote',
      size: len !== undefined && /^\d+$/.test(len) ? Number(len) : undefined,
      contentType: res.headers['content-type'] ?? fmt.contentType(path),
      etag: res.headers.etag,
      lastModified: res.headers['last-modified'],
      headers: upstreamTiming(res.ms),
      rangeable: false,
      open: () => Promise.reject(new Error('HEAD servable has no body')),
    };
  }

  private async rememberMissing(repo: Repository, path: string): Promise<void> {
    const ttl = (repo.settings.negative_ttl_seconds ?? DEFAULT_NEGATIVE_TTL_S) * 1000;
    if (ttl > 0) await this.d.cache.set(`neg:${repo.id}:${path}`, '1', ttl);
  }

  /** Forward only what negotiates content (docker manifests, pypi JSON vs HTML, npm abbreviated). */
  private forwardHeaders(fmt: FormatProvider, path: string, req: OpenRequest): Record<string, string> {
    if (fmt.upstreamHeaders) return fmt.upstreamHeaders(path, req.headers);
    const out: Record<string, string> = {};
    if (req.headers.accept) out.accept = req.headers.accept;
    return out;
  }

  private async request(repo: Repository, url: string, method: 'GET' | 'HEAD', headers: Record<string, string>, signal?: AbortSignal): Promise<UpstreamResponse> {
    try {
      const res = await this.d.upstream.fetch(repo.upstream!, url, { method, headers, signal });
      this.d.metrics.upstreamLatency.observe({ repo: repo.name }, res.ms / 1000);
      this.d.metrics.upstreamRequests.inc({ repo: repo.name, method, status: String(res.status) });
      return res;
    } catch (err) {
      if (isAbort(err)) throw err;
      this.d.metrics.upstreamRequests.inc({ repo: repo.name, method, status: 'error' });
      throw badGateway(`upstream request failed: ${(err as Error).message}`);
    }
  }

  /** A mutable entry past its TTL: conditional request; 304 extends it; failure serves it stale. */
  private async revalidate(fmt: FormatProvider, ctx: FormatContext, path: string, row: ArtifactRow, req: OpenRequest): Promise<Servable | null> {
    const labels = { repo: ctx.repo.name };
    try {
      const result = await this.join(fmt, ctx, path, req, row);
      return result;
    } catch (err) {
      if (isAbort(err) || ctx.repo.settings.stale_if_error === false) throw err;
      this.d.log.warn({ repo: ctx.repo.name, path, err: (err as Error).message }, 'upstream failed, serving stale copy');
      this.d.metrics.cache.inc({ ...labels, result: 'stale' });
      return { ...storedServable(this.d.blobs, row, 'cache'), stale: true };
    }
  }

  /** Follow the download of this path in this process, or start it. */
  private async join(fmt: FormatProvider, ctx: FormatContext, path: string, req: OpenRequest, cached: ArtifactRow | undefined): Promise<Servable | null> {
    const key = `${ctx.repo.id}:${path}`;
    let dl = this.downloads.get(key);
    if (!dl) {
      const ready = this.lead(fmt, ctx, path, req, cached, key);
      dl = { ready };
      this.downloads.set(key, dl);
      // A failed or not-found download is forgotten at once; a successful one when committed.
      ready.then(
        (s) => s === null && this.downloads.get(key) === dl && this.downloads.delete(key),
        () => this.downloads.get(key) === dl && this.downloads.delete(key),
      );
    }
    return dl.verified ?? dl.ready;
  }

  /** Take the cross-replica lock, or wait for the replica that holds it to commit. */
  private async lead(fmt: FormatProvider, ctx: FormatContext, path: string, req: OpenRequest, cached: ArtifactRow | undefined, key: string): Promise<Servable | null> {
    const lockKey = `fetch:${key}`;
    const deadline = Date.now() + (this.d.crossReplicaWaitMs ?? 120_000);
    let delay = 20;
    for (;;) {
      const lock = await this.d.cache.tryLock(lockKey, LOCK_TTL_MS);
      if (lock) return this.fetch(fmt, ctx, path, req, cached, key, lock);
      // Another replica is downloading: serve its result when it lands.
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 500);
      const row = await getArtifact(this.d.db, ctx.repo.id, path);
      if (row && (!cached || row.updatedAt.getTime() > cached.updatedAt.getTime())) {
        this.d.metrics.cache.inc({ repo: ctx.repo.name, result: 'hit' });
        this.downloads.delete(key);
        return storedServable(this.d.blobs, row, 'cache');
      }
      if (await this.d.cache.get(`neg:${ctx.repo.id}:${path}`)) return null;
      if (Date.now() > deadline) return this.fetch(fmt, ctx, path, req, cached, key, undefined);
    }
  }

  private async fetch(fmt: FormatProvider, ctx: FormatContext, path: string, req: OpenRequest, cached: ArtifactRow | undefined, key: string, lock: Lock | undefined): Promise<Servable | null> {
    const repo = ctx.repo;
    const abort = new AbortController();
    const keepAlive = lock ? setInterval(() => void lock.extend(LOCK_TTL_MS), LOCK_TTL_MS / 3) : undefined;
    const finish = () => {
      clearInterval(keepAlive);
      void lock?.release();
    };
    let res: UpstreamResponse;
    let target: UpstreamTarget | null;
    let hashing: Promise<HashingStream> | undefined;
    try {
      const headers = this.forwardHeaders(fmt, path, req);
      target = await this.locate(fmt, ctx, path);
      if (!target) {
        finish();
        return null;
      }
      const url = target.url;
      const headMs = cached && fmt.revalidationDigest ? await this.unchangedByHead(fmt, repo, url, path, headers, cached, abort.signal) : undefined;
      if (headMs !== undefined) {
        res = { status: 304, headers: {}, body: Readable.from([]), ms: headMs };
      } else {
        // A rewritten document is stored without the upstream's ETag (it names other bytes); it is kept aside.
        const etag = cached?.etag ?? (cached?.metadata[UPSTREAM_ETAG] as string | undefined);
        if (etag) headers['if-none-match'] = etag;
        if (cached?.lastModified) headers['if-modified-since'] = cached.lastModified;
        const asked = this.request(repo, url, 'GET', headers, abort.signal);
        // A first fetch makes its hash stream while the upstream answers, once the request is on its way: the
        // stream's worker task and port cost this thread 0.5–3 ms here, which lay between the upstream's answer
        // and the client's first byte. (A revalidation, often answered 304, makes it only for a new body.)
        if (!cached) {
          hashing = afterThisTurn(() => this.d.hasher.stream({ algorithms: algorithmsFor(target!) }));
          hashing.catch(() => {}); // a failure is met where the stream is used (see stream)
        }
        res = await asked;
      }
    } catch (err) {
      release(hashing);
      finish();
      throw err;
    }
    try {
      // Every answer but a 200 ends here (returned or thrown), with no body to hash.
      if (res.status !== 200) release(hashing);
      if (res.status === 304 && cached) {
        res.body.resume();
        const row = await upsertArtifact(this.d.db, { ...cached, expiresAt: new Date(Date.now() + this.ttlSeconds(repo) * 1000), fetchedAt: new Date() });
        await this.d.rows.changed(repo.id, path, row);
        this.d.metrics.cache.inc({ repo: repo.name, result: 'revalidated' });
        this.downloads.delete(key);
        finish();
        return { ...storedServable(this.d.blobs, row, 'cache'), headers: upstreamTiming(res.ms) };
      }
      if (res.status === 404 || res.status === 410) {
        res.body.resume();
        await this.rememberMissing(repo, path);
        finish();
        return null;
      }
      if (res.status !== 200) {
        res.body.resume();
        throw badGateway(`upstream answered ${res.status}`, { status: res.status });
      }
    } catch (err) {
      finish();
      throw err;
    }
    return this.stream(fmt, ctx, path, res, target, abort, key, finish, hashing);
  }

  /**
   * Formats whose upstream names the content's digest in a HEAD answer (registries: Docker-Content-Digest)
   * revalidate with HEAD: cheaper, and not counted against Docker Hub's pull limit. Resolves with the HEAD's time (ms)
   * when the content is unchanged, undefined otherwise.
   */
  private async unchangedByHead(fmt: FormatProvider, repo: Repository, url: string, path: string, headers: Record<string, string>, cached: ArtifactRow, signal: AbortSignal): Promise<number | undefined> {
    const res = await this.request(repo, url, 'HEAD', headers, signal);
    res.body.resume();
    return res.status === 200 && fmt.revalidationDigest!(path, res.headers) === cached.sha256 ? res.ms : undefined;
  }

  /**
   * A verified download's bytes while it is being committed: its spool's file while that is there, then the committed
   * blob (on the fs driver the file becomes the blob, and its row follows).
   */
  private async readVerified(file: string, committing: Promise<ArtifactRow>, path: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    const fh = await open(file, 'r').catch(() => undefined);
    if (fh) return new FileBody(fh, range?.start ?? 0, range?.end ?? Infinity);
    const row = await committing.catch(() => undefined);
    if (!row) throw new HttpError(503, 'UNAVAILABLE', `${path} could not be stored; retry`);
    return this.d.blobs.open(row, range, signal);
  }

  /** Spool the body while clients follow it; verify, commit, then forget the download. */
  private async stream(
    fmt: FormatProvider,
    ctx: FormatContext,
    path: string,
    res: UpstreamResponse,
    target: UpstreamTarget,
    abort: AbortController,
    key: string,
    finish: () => void,
    /** The hash stream made while the upstream answered (see fetch); made here when there is none. */
    prepared?: Promise<HashingStream>,
  ): Promise<Servable> {
    const repo = ctx.repo;
    const expected: Digests = target.digests ?? {};
    const cls = fmt.classify(repo, path);
    const lenHeader = res.headers['content-length'];
    const upstreamLength = lenHeader !== undefined && /^\d+$/.test(lenHeader) ? Number(lenHeader) : undefined;
    const rewriting = cls === 'mutable' && fmt.rewriteDocument !== undefined;
    const spool = new Spool(join(this.d.spoolDir, randomUUID()), rewriting ? undefined : upstreamLength, this.d.spoolDirectAfter);
    let contentType = res.headers['content-type'] ?? fmt.contentType(path);
    let metadata: Record<string, unknown> = {};
    let source: Readable = res.body;
    let rewrittenSize: number | undefined;
    if (rewriting) {
      // A document is rewritten whole before anyone reads it: its final type and length are known up front.
      try {
        const doc = await readBounded(res.body, MAX_REWRITE_BYTES, () => badGateway(`upstream document exceeds ${MAX_REWRITE_BYTES} bytes`), abort.signal);
        const rewritten = await fmt.rewriteDocument!(ctx, path, doc, res.headers['content-type']);
        contentType = rewritten.contentType ?? contentType;
        metadata = { ...rewritten.metadata, ...(res.headers.etag ? { [UPSTREAM_ETAG]: res.headers.etag } : {}) };
        source = Readable.from([rewritten.body]);
        rewrittenSize = rewritten.body.length;
      } catch (err) {
        release(prepared);
        res.body.destroy();
        finish();
        throw err;
      }
    }
    this.d.metrics.downloadsInFlight.inc({}, 1);

    // The fetch belongs to its readers: when the last one leaves before the end, stop downloading.
    spool.on('reader-gone', () => {
      if (spool.readerCount === 0 && !spool.complete && !spool.failure) abort.abort(Spool.abortedError());
    });

    const dl = this.downloads.get(key);
    const run = async () => {
      const hashing = prepared ? await prepared : this.d.hasher.stream({ algorithms: algorithmsFor(target) });
      await pipeline(source, hashing, spool.writer(), { signal: abort.signal });
      const { size, digests } = await hashing.result;
      if (!rewriting && upstreamLength !== undefined && size !== upstreamLength) {
        throw badGateway(`upstream body was ${size} bytes, Content-Length said ${upstreamLength}`);
      }
      const bad = verifyDigests({ digests }, expected);
      if (bad) throw badGateway(`upstream ${bad} digest mismatch for ${path}`, { expected: expected[bad], actual: digests[bad] });
      if (target.verify) {
        const spooled = spool.path;
        await target
          .verify({ sha256: digests.sha256!, size, digests, open: async (r) => createReadStream(spooled, r ? { start: r.start, end: r.end } : {}) })
          .catch((err: Error) => {
            throw badGateway(`upstream ${path} failed verification: ${err.message}`);
          });
      }
      const commit = async (): Promise<ArtifactRow> => {
        const blob = await this.d.blobs.adoptFile(spool.path, digests.sha256!, size, spool.wentDirect);
        const now = new Date();
        const row = await upsertArtifact(this.d.db, {
          repoId: repo.id,
          path,
          sha256: blob.sha256,
          size,
          contentType,
          source: 'remote',
          digests: Object.fromEntries(Object.entries(digests).filter(([a]) => a !== 'sha256')),
          etag: rewriting ? null : (res.headers.etag ?? null),
          lastModified: res.headers['last-modified'] ?? null,
          metadata,
          fetchedAt: now,
          expiresAt: cls === 'mutable' ? new Date(now.getTime() + this.ttlSeconds(repo) * 1000) : null,
        });
        await this.d.rows.changed(repo.id, path, row);
        return row;
      };
      if (cls === 'immutable' && size >= RELEASE_BEFORE_COMMIT_BYTES) {
        // Verified large content: its clients may finish now, while the file is made durable and committed (the fsync
        // alone takes ≈ 330 ms per 512 MiB here). A commit that fails after this leaves nothing cached; the bytes
        // served were right.
        spool.finish();
        const committing = commit();
        committing.catch(() => {});
        // A request that comes meanwhile is served the verified bytes without the upstream (see readVerified).
        if (dl) {
          dl.verified = {
            source: 'cache',
            size,
            contentType,
            sha256: digests.sha256!,
            etag: res.headers.etag ?? `"${digests.sha256!}"`,
            lastModified: res.headers['last-modified'],
            rangeable: true,
            open: (range, signal) => this.readVerified(spool.path, committing, path, range, signal),
          };
        }
        await committing;
      } else {
        // Released once committed: a mutable document's next request revalidates the committed copy.
        await commit();
        spool.finish();
      }
    };
    run()
      .catch((err: Error) => {
        spool.fail(err);
        if (!isAbort(err)) this.d.log.warn({ repo: repo.name, path, err: err.message }, 'remote download failed; nothing committed');
        res.body.destroy();
      })
      .finally(() => {
        this.d.metrics.downloadsInFlight.inc({}, -1);
        this.downloads.delete(key);
        finish();
        void spool.dispose();
      });

    return {
      source: 'remote',
      size: rewriting ? rewrittenSize : upstreamLength,
      contentType,
      etag: rewriting ? undefined : res.headers.etag,
      lastModified: res.headers['last-modified'],
      headers: upstreamTiming(res.ms),
      rangeable: false,
      open: async () => spool.reader(),
    };
  }
}

/** What a download is hashed with: SHA-256 (its blob's address) and whatever else the upstream names a digest in. */
function algorithmsFor(target: UpstreamTarget): HashAlgorithm[] {
  return ['sha256', ...(Object.keys(target.digests ?? {}) as HashAlgorithm[]).filter((a) => a !== 'sha256')];
}

/** Destroys a prepared hash stream that will hash nothing (see RemoteEngine.fetch). */
function release(prepared: Promise<HashingStream> | undefined): void {
  void prepared?.then(
    (h) => h.destroy(),
    () => {},
  );
}

/** `make()`'s result, made once this turn of the event loop (and the I/O it started) is done. */
function afterThisTurn<T>(make: () => T): Promise<T> {
  return new Promise<T>((resolve, reject) =>
    setImmediate(() => {
      try {
        resolve(make());
      } catch (err) {
        reject(err as Error);
      }
    }),
  );
}
