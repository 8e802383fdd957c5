import type { HttpRequest, HttpResponse } from '../http/types.js';
import type { ByteRange } from '../storage/types.js';
import type { Servable } from './servable.js';

/**
 * Parse a single `Range: bytes=a-b | a- | -n` header against a known size.
 * Returns undefined when absent/ignorable (multi-range, other units), 'unsatisfiable' when out of bounds.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, a, b] = m;
  if (a === '' && b === '') return undefined;
  let start: number;
  let end: number;
  if (a === '') {
    const n = Number(b);
    if (n === 0) return 'unsatisfiable';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
    if (b !== '' && Number(b) < start) return undefined;
  }
  if (start >= size || size === 0) return 'unsatisfiable';
  return { start, end };
}

function etagMatches(header: string | undefined, etag: string | undefined): boolean {
  if (!header || !etag) return false;
  if (header.trim() === '*') return true;
  const bare = (t: string) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => bare(t) === bare(etag));
}

/** Send a Servable honouring HEAD, If-None-Match, and single byte ranges. */
export async function sendServable(req: HttpRequest, res: HttpResponse, s: Servable): Promise<void> {
  res.setHeader('X-Artifact-Source', s.source);
  res.setHeader('Content-Type', s.contentType);
  if (s.etag) res.setHeader('ETag', s.etag);
  if (s.lastModified) res.setHeader('Last-Modified', s.lastModified);
  if (s.sha256) res.setHeader('X-Checksum-Sha256', s.sha256);
  if (s.stale) {
    res.setHeader('X-Artifact-Stale', 'true');
    res.setHeader('Warning', '110 - "Response is Stale"');
  }
  for (const [k, v] of Object.entries(s.headers ?? {})) res.setHeader(k, v);
  req.log.source = s.source;

  if (etagMatches(req.header('if-none-match'), s.etag)) {
    res.status(304).end();
    return;
  }
  const head = req.method === 'HEAD';
  let range: ByteRange | undefined;
  if (s.rangeable && s.size !== undefined) {
    res.setHeader('Accept-Ranges', 'bytes');
    const r = parseRange(req.header('range'), s.size);
    // If-Range with a validator that no longer matches means "send everything".
    const ifRange = req.header('if-range');
    if (r === 'unsatisfiable') {
      res.status(416).setHeader('Content-Range', `bytes */${s.size}`).end();
      return;
    }
    if (r && (!ifRange || ifRange === s.etag || ifRange === s.lastModified)) range = r;
  }
  if (range) {
    res.status(206).setHeader('Content-Range', `bytes ${range.start}-${range.end}/${s.size}`);
  } else if (res.getStatus() < 200 || res.getStatus() >= 300) {
    res.status(200);
  }
  const length = range ? range.end - range.start + 1 : s.size;
  if (head) {
    res.endWithoutBody(length);
    return;
  }
  const whole = range ? undefined : s.inMemory?.();
  if (whole && whole.length === length) {
    res.end(whole);
    return;
  }
  const body = await s.open(range, req.signal);
  await res.stream(body, length);
}
