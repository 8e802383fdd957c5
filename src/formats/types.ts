import type { Readable } from 'node:stream';
import type { Digests } from '../hashing/types.js';
import type { HttpRequest, HttpResponse } from '../http/types.js';
import type { Repository } from '../repos/model.js';
import type { Servable } from '../repos/servable.js';

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
}

export interface FormatContext {
  repo: Repository;
  /** Absolute URL of this repository as the client reached it, without trailing slash. */
  repoUrl: string;
  artifacts: ArtifactQuery;
}

/** A blob that has been hashed and staged but not yet committed: formats inspect it before it becomes visible. */
export interface StagedBlob {
  sha256: string;
  size: number;
  digests: Digests;
  open(): Promise<Readable>;
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
  /** Remote: the upstream URL for a path. Default: upstream.url + '/' + encoded path. */
  upstreamUrl?(ctx: FormatContext, path: string): string;
  /** Remote: request headers for the upstream (default: the client's Accept, for content negotiation). */
  upstreamHeaders?(path: string, clientHeaders: Readonly<Record<string, string>>): Record<string, string>;
  /**
   * Remote: the SHA-256 (hex) an upstream HEAD answer names for a mutable path, if the protocol has one. When
   * present, revalidation is a HEAD compared with the cached digest instead of a conditional GET.
   */
  revalidationDigest?(path: string, headers: Readonly<Record<string, string>>): string | undefined;
  /** Remote: digests the fetched bytes must match, known before the fetch (e.g. from an index fetched earlier). */
  expectedDigests?(ctx: FormatContext, path: string): Promise<Digests | undefined>;
  /** Remote: rewrite a mutable document (links through this server) before it is stored. */
  rewriteDocument?(ctx: FormatContext, path: string, body: Buffer): Promise<Buffer>;
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
   * Format-specific endpoints (upload APIs, logins) tried before the generic handling.
   * Returns true when it answered the request.
   */
  route?(ctx: FormatContext, path: string, req: HttpRequest, res: HttpResponse): Promise<boolean>;
}
