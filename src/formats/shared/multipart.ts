import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import { badRequest } from '../../errors.js';

/**
 * Streaming multipart/form-data (RFC 7578) for package upload APIs (twine, Forge publish, ChartMuseum): file
 * parts stream straight into the blob store, only small text fields are held in memory.
 */

export interface FormPart {
  name: string;
  filename?: string;
  contentType?: string;
  /** Read it before asking for the next part; what is not read is skipped. */
  body: Readable;
}

const invalid = (message: string) => badRequest('MULTIPART_INVALID', message);
const MAX_HEADER_BYTES = 16 * 1024;
const CRLF2 = Buffer.from('\r\n\r\n');

export function multipartBoundary(contentType: string | undefined): string {
  const m = /^multipart\/form-data\s*;.*?\bboundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType ?? '');
  if (!m) throw badRequest('UNSUPPORTED_MEDIA_TYPE', 'expected a multipart/form-data body with a boundary');
  return (m[1] ?? m[2])!;
}

function parsePartHeaders(block: string): Omit<FormPart, 'body'> {
  let name: string | undefined;
  let filename: string | undefined;
  let contentType: string | undefined;
  for (const line of block.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (key === 'content-type') contentType = value;
    if (key !== 'content-disposition') continue;
    for (const m of value.matchAll(/;\s*([a-z*]+)=(?:"((?:[^"\\]|\\.)*)"|([^;]*))/gi)) {
      const v = (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1').trim();
      if (m[1]!.toLowerCase() === 'name') name = v;
      else if (m[1]!.toLowerCase() === 'filename') filename = v;
    }
  }
  if (name === undefined) throw invalid('a part has no Content-Disposition name');
  return { name, filename, contentType };
}

/** The parts of a multipart body, in order. */
export async function* multipartParts(input: Readable, boundary: string, maxParts = 1000): AsyncGenerator<FormPart> {
  const delim = Buffer.from(`\r\n--${boundary}`);
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  // The body opens with `--boundary` (no CRLF before it): a leading CRLF makes every delimiter look alike.
  let buf: Buffer = Buffer.from('\r\n');
  const more = async (): Promise<void> => {
    const r = await it.next();
    if (r.done) throw invalid('multipart body ended before its closing boundary');
    buf = buf.length ? Buffer.concat([buf, r.value]) : r.value;
  };
  let i: number;
  while ((i = buf.indexOf(delim)) < 0) {
    if (buf.length > MAX_HEADER_BYTES) buf = buf.subarray(buf.length - delim.length);
    await more();
  }
  buf = buf.subarray(i + delim.length);
  for (let count = 0; ; count++) {
    while (buf.length < 2) await more();
    if (buf[0] === 0x2d && buf[1] === 0x2d) return; // `--`: the closing delimiter
    if (count >= maxParts) throw invalid(`more than ${maxParts} parts`);
    let end: number;
    while ((end = buf.indexOf(CRLF2)) < 0) {
      if (buf.length > MAX_HEADER_BYTES) throw invalid('part headers too large');
      await more();
    }
    const head = parsePartHeaders(buf.subarray(0, end).toString('utf8'));
    buf = buf.subarray(end + 4);
    const body = new PassThrough({ highWaterMark: 1024 * 1024 });
    const pump = (async () => {
      for (;;) {
        const at = buf.indexOf(delim);
        if (at >= 0) {
          const last = buf.subarray(0, at);
          buf = buf.subarray(at + delim.length);
          if (last.length && !body.write(last)) await once(body, 'drain');
          body.end();
          return;
        }
        // Keep what could be the start of a delimiter split across chunks.
        const safe = buf.length - delim.length + 1;
        if (safe > 0) {
          const chunk = buf.subarray(0, safe);
          buf = buf.subarray(safe);
          if (!body.write(chunk)) await once(body, 'drain');
        }
        await more();
      }
    })();
    pump.catch((err: Error) => body.destroy(err));
    yield { ...head, body };
    body.resume(); // skip whatever the consumer left unread
    await pump;
  }
}

/** A small text field's value. */
export async function partText(part: FormPart, max = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of part.body) {
    n += (c as Buffer).length;
    if (n > max) throw invalid(`field ${part.name} is longer than ${max} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
