import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { HttpError, tooLarge } from '../errors.js';
import type { Logger } from '../log.js';
import type { HttpRequest, HttpResponse } from './types.js';

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

/** Counts requests in progress so a graceful close can wait for them. */
export class InFlight {
  private n = 0;
  private waiter: (() => void) | undefined;
  begin(): void {
    this.n++;
  }
  end(): void {
    if (--this.n === 0) this.waiter?.();
  }
  /** Resolves when nothing is in flight, or after `graceMs`. */
  drain(graceMs: number): Promise<void> {
    if (this.n === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.waiter = resolve;
      setTimeout(resolve, graceMs).unref();
    });
  }
}

const BAD_LENGTH = JSON.stringify({ error: { code: 'BAD_REQUEST', message: 'invalid Content-Length' } });

/**
 * Run the application handler for one request, the same way on both engines: a malformed Content-Length is a
 * 400 before the handler runs; an error that escaped the handler's own error handling is a bare 500 (or a closed
 * connection if the body had started); a handler that returned without finishing closes the connection.
 */
export function dispatch(
  handler: (req: HttpRequest, res: HttpResponse) => Promise<void> | void,
  request: HttpRequest,
  out: HttpResponse,
  badLength: boolean,
  log: Logger,
  finish: () => void,
): void {
  if (badLength) {
    out.status(400).setHeader('content-type', 'application/json').end(BAD_LENGTH);
    finish();
    return;
  }
  Promise.resolve()
    .then(() => handler(request, out))
    .catch((err) => {
      log.error({ err, id: request.id }, 'handler failed outside its error handling');
      if (!out.headersSent && !out.finished) out.status(500).end();
      else if (!out.finished) out.destroy();
    })
    .finally(() => {
      if (!out.finished) out.destroy();
      finish();
    });
}
