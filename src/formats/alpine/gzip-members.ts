import { inflateRawSync } from 'node:zlib';
import { badRequest } from '../../errors.js';

/**
 * apk files and APKINDEX.tar.gz are concatenated gzip members whose boundaries matter (the signature covers the
 * next member, the index checksum is the SHA-1 of the control member): ordinary gunzip hides them.
 */
export interface GzipMember {
  start: number;
  /** Exclusive end offset of the member (after its 8-byte trailer). */
  end: number;
  data: Buffer;
}

const invalid = (message: string) => badRequest('ARCHIVE_INVALID', message);

function headerLength(buf: Buffer, at: number): number {
  if (buf.length < at + 10 || buf[at] !== 0x1f || buf[at + 1] !== 0x8b || buf[at + 2] !== 8) throw invalid('not a gzip stream');
  const flags = buf[at + 3]!;
  let p = at + 10;
  if (flags & 4) {
    if (buf.length < p + 2) throw invalid('gzip header truncated');
    p += 2 + buf.readUInt16LE(p);
  }
  for (const bit of [8, 16]) {
    if (!(flags & bit)) continue;
    const z = buf.indexOf(0, p);
    if (z < 0) throw invalid('gzip header truncated');
    p = z + 1;
  }
  if (flags & 2) p += 2;
  if (p > buf.length) throw invalid('gzip header truncated');
  return p - at;
}

/** Inflate the gzip member that starts at `at`, refusing more than `maxOut` bytes of output. */
export function gzipMemberAt(buf: Buffer, at: number, maxOut: number): GzipMember {
  const h = headerLength(buf, at);
  let r: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    r = inflateRawSync(buf.subarray(at + h), { info: true, maxOutputLength: maxOut }) as unknown as typeof r;
  } catch (err) {
    throw invalid(`gzip member at offset ${at} does not inflate (${(err as Error).message})`);
  }
  const end = at + h + r.engine.bytesWritten + 8;
  if (end > buf.length) throw invalid(`gzip member at offset ${at} is truncated`);
  return { start: at, end, data: r.buffer };
}
