import type { Readable } from 'node:stream';
import type { Digests } from '../hashing/types.js';
import type { HttpRequest, HttpResponse } from '../http/types.js';
import type { Repository } from '../repos/model.js';
import type { Servable } from '../repos/servable.js';
import type { ByteRange } from '../storage/types.js';

/**
 * How a remote repository treats a path: immutable content is fetched once and kept forever;
 * mutable documents (indexes, tags, listings) are cached for the repo's TTL and revalidated.
 */
export type PathClass = 'immutable' | 'mutable';

/** One stored artifact as formats see it. */
export interface ArtifactEntry {
  path: string;
  size: number;
  sha256: string;
  contentType: string | null;
  digests: Digests;
  metadata: Record<string, unknown>;
  updatedAt: Date;
}

/** Read access to the metadata of the repository a hook runs for. */
export interface ArtifactQuery {
  get(path: string): Promise<ArtifactEntry | null>;
  /** Artifacts whose path starts with `prefix`, in path order, after the cursor `after`. */
  list(prefix: string, opts: { after?: string; limit: number }): Promise<ArtifactEntry[]>;
  /** Changes whenever an artifact under `prefix` is added, replaced or removed (a cache key for generated indexes). */
  version(prefix: string): Promise<string>;
}

export interface FormatContext {
  repo: Repository;
  /** Absolute URL of this repository as the client reached it, without trailing slash. */
  repoUrl: string;
  artifacts: ArtifactQuery;
  /**
   * Resolve another path of this repository through its own kind and return its stored entry: a remote fetches
   * (or revalidates) and commits it first. Formats use it to find the index that lists a file before fetching it.
   */
  fetched(path: string): Promise<ArtifactEntry | null>;
  /**
   * Writes for format-specific upload APIs (twine, npm publish, chart upload): checks the admin credential of
   * `req` and resolves where writes land (this local repository, or a virtual's `deploy_to` member).
   */
  writer(req: HttpRequest): Promise<Publisher>;
  /** Run `fn` holding a lock named `name` in this repository across replicas (read-modify-write of documents). */
  locked<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /**
   * This repository's RSA key pair named `name` (PEM), generated on first use and kept in the database; the
   * private half never leaves the server. For signing generated indexes (APKINDEX, repomd.xml).
   */
  signingKey(name: string): Promise<SigningKey>;
}

export interface SigningKey {
  privateKeyPem: string;
  publicKeyPem: string;
  /** When the key was created (ISO 8601). */
  createdAt: string;
}

/** Options for storing one artifact through a Publisher. */
export interface PublishOptions {
  /** Bytes announced by the client; checked against what arrives. */
  size?: number;
  /** Digests the client named; the upload is refused (nothing stored) when the bytes differ. */
  expected?: Digests;
  contentType?: string;
  /** Stored as the artifact's metadata (merged over what inspectUpload returns). */
  metadata?: Record<string, unknown>;
  /** Replace an existing artifact instead of answering 409 (documents like dist-tags, not versions). */
  overwrite?: boolean;
  signal?: AbortSignal;
}

export interface PublishResult {
  path: string;
  sha256: string;
  size: number;
}

/** Store and delete artifacts in the repository that receives writes (see FormatContext.writer). */
export interface Publisher {
  /** The repository written to, and a context for it (its artifacts, URL). */
  readonly target: FormatContext;
  put(path: string, body: Readable | Buffer, opts?: PublishOptions): Promise<PublishResult>;
  /** false when nothing was stored at `path`. */
  delete(path: string): Promise<boolean>;
}

/** Where a remote fetches a path, and what the bytes must match (from an index the format read before). */
export interface UpstreamTarget {
  url: string;
  digests?: Digests;
  /**
   * A check of the downloaded bytes beyond whole-file digests (e.g. an apk's control segment against its index
   * checksum), run after the download and before anything is committed; a throw is a 502 and nothing is stored.
   */
  verify?(blob: StagedBlob): Promise<void>;
}

/** A mutable upstream document after rewriting, as stored. */
export interface RewrittenDocument {
  body: Buffer;
  contentType?: string;
  /** Stored with the document: what formats need later without parsing it again (e.g. file URL and digest). */
  metadata?: Record<string, unknown>;
}

/** A blob that has been hashed and staged but not yet committed: formats inspect it before it becomes visible. */
export interface StagedBlob {
  sha256: string;
  size: number;
  digests: Digests;
  /** The staged bytes, all or an inclusive byte range (archives with a central directory read their end first). */
  open(range?: ByteRange): Promise<Readable>;
}

/** One member's answer for a document a virtual repository merges. */
export interface MemberDocument {
  member: string;
  body: Buffer;
  contentType?: string;
}

/**
 * Everything that differs between package types. The engine, the local and the virtual
 * repositories call these hooks and know nothing else about a format. Optional hooks have a
 * documented default; a format implements only what its protocol needs.
 */
export interface FormatProvider {
  readonly type: string;
  /** Remote caching policy for a path. */
  classify(repo: Repository, path: string): PathClass;
  /** Content-Type when neither the upstream nor the upload named one. */
  contentType(path: string): string;
  /**
   * Remote: the upstream URL for a path and the digests its bytes must match. Default: upstream.url + '/' +
   * encoded path, no digests. null: the upstream has no such path (404), e.g. a file its index does not list;
   * this is also what keeps a remote from fetching URLs its indexes never named.
   */
  locate?(ctx: FormatContext, path: string): Promise<UpstreamTarget | null>;
  /** Remote: request headers for the upstream (default: the client's Accept, for content negotiation). */
  upstreamHeaders?(path: string, clientHeaders: Readonly<Record<string, string>>): Record<string, string>;
  /**
   * Remote: the SHA-256 (hex) an upstream HEAD answer names for a mutable path, if the protocol has one. When
   * present, revalidation is a HEAD compared with the cached digest instead of a conditional GET.
   */
  revalidationDigest?(path: string, headers: Readonly<Record<string, string>>): string | undefined;
  /**
   * Remote: rewrite a mutable document (links through this server, one canonical representation) before it is
   * stored. Links should be relative or built from ctx.repoUrl; documents that cannot be rewritten are refused
   * with an HttpError.
   */
  rewriteDocument?(ctx: FormatContext, path: string, body: Buffer, contentType: string | undefined): Promise<RewrittenDocument>;
  /**
   * Any kind: the representation the client asked for (content negotiation by Accept, abbreviated documents),
   * applied to what the repository found just before it is sent; not applied to what a virtual repository reads
   * from its members. Default: sent as found.
   */
  present?(ctx: FormatContext, path: string, found: Servable, req: HttpRequest): Promise<Servable>;
  /**
   * Local: check an upload's path before any byte is read; returns the path to store it at.
   * Default: the path as given (already traversal-safe).
   */
  validateUpload?(ctx: FormatContext, path: string, req: HttpRequest): string;
  /**
   * Local: look inside a staged upload before it is committed (archive metadata, name/version checks).
   * Throw an HttpError to refuse it; the returned object is stored as the artifact's metadata.
   */
  inspectUpload?(ctx: FormatContext, path: string, blob: StagedBlob): Promise<Record<string, unknown>>;
  /** Local: paths whose content is generated from metadata (indexes, listings). null = not generated. */
  generate?(ctx: FormatContext, path: string): Promise<Servable | null>;
  /** Virtual: paths whose members' answers are merged rather than first-wins. */
  mergeable?(path: string): boolean;
  /** Virtual: merge one document from several members (first member wins on a conflict). */
  merge?(ctx: FormatContext, path: string, docs: MemberDocument[]): Promise<Servable>;
  /**
   * The request path as sent, before it is percent-decoded segment by segment (where `%2F` is refused: it could
   * smuggle `..`): formats whose names legitimately carry an encoded slash (npm's `@scope%2fname`) rewrite it here.
   */
  rawPath?(raw: string): string;
  /**
   * Format-specific endpoints (upload APIs, logins) tried before the generic handling.
   * Returns true when it answered the request.
   */
  route?(ctx: FormatContext, path: string, req: HttpRequest, res: HttpResponse): Promise<boolean>;
}
