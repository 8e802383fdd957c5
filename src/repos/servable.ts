import { Readable } from 'node:stream';
import type { ByteRange } from '../storage/types.js';

export type ArtifactSource = 'local' | 'cache' | 'remote';

/**
 * Something a repository found for a path, not yet sent. Repositories return it, virtual
 * repositories pick among members' answers, and `sendServable` puts it on the wire.
 * Opening the body is deferred so HEAD never reads a blob.
 */
export interface Servable {
  source: ArtifactSource;
  /** Total size when known (always for stored artifacts; may be unknown for a chunked upstream). */
  size: number | undefined;
  contentType: string;
  sha256?: string;
  etag?: string;
  lastModified?: string;
  /** Served from a stale copy because the upstream failed. */
  stale?: boolean;
  /** Extra response headers a format wants (e.g. Docker-Content-Digest). */
  headers?: Record<string, string>;
  /** Whether `open(range)` honours ranges. */
  rangeable: boolean;
  open(range?: ByteRange, signal?: AbortSignal): Promise<Readable>;
  /** The whole body when it is already in memory (small documents): sent in one write, without a stream. */
  inMemory?(): Buffer | undefined;
}

/** A small in-memory document (generated index, JSON listing) as a Servable. */
export function bufferServable(body: Buffer, contentType: string, source: ArtifactSource, extra: Partial<Servable> = {}): Servable {
  return {
    source,
    size: body.length,
    contentType,
    rangeable: true,
    inMemory: () => body,
    ...extra,
    async open(range?: ByteRange) {
      return Readable.from([range ? body.subarray(range.start, range.end + 1) : body], { objectMode: false });
    },
  };
}
