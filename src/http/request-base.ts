import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { HttpError, tooLarge } from '../errors.js';

/** What both engines share about a request once its head has been copied out of the engine. */
export interface RequestHead {
  method: string;
  rawPath: string;
  rawQuery: string;
  headers: Record<string, string>;
  remoteAddress: string;
}

export function parseContentLength(h: string | undefined): number | undefined {
  if (h === undefined) return undefined;
  if (!/^\d{1,16}$/.test(h.trim())) throw new HttpError(400, 'BAD_REQUEST', 'invalid Content-Length');
  return Number(h);
}

export function requestId(headers: Record<string, string>): string {
  const given = headers['x-request-id'];
  return given && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : randomUUID();
}

/** Collect a small body, refusing more than `limit` bytes (413) without buffering the excess. */
export async function collectBody(body: Readable, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += (c as Buffer).length;
    if (n > limit) {
      body.destroy();
      throw tooLarge(`request body exceeds ${limit} bytes`, 'BODY_TOO_LARGE');
    }
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}
