import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { HttpError, isAbort, tooLarge } from '../errors.js';
import type { Logger } from '../log.js';
import { errorEnvelope, sendError } from './respond.js';
import type { Handler, HttpRequest, HttpResponse } from './types.js';

/** What both engines copy out of the engine's request before the handler runs. */
export interface RequestHead {
  method: string;
  /** Path as sent (percent-encoding intact). */
  rawPath: string;
  /** Query without the leading '?'. */
  rawQuery: string;
  headers: Record<string, string>;
  /** Asked for only when used (uWS: a getpeername call). */
  remoteAddress: () => string;
}

/** What the engine supplies about the body. */
export interface BodySource {
  body(): Readable;
  /** Body bytes received so far. */
  bytesRead(): number;
  signal: LazyAbort;
}

/**
 * A request's AbortSignal, created only when a handler asks for it (an AbortController is an EventTarget: on a
 * hot path of small requests it is a measurable share of the cost). Aborting before that yields an aborted one.
 */
export class LazyAbort {
  private ac: AbortController | undefined;
  private reason: unknown;
  private aborted = false;

  get signal(): AbortSignal {
    if (!this.ac) {
      this.ac = new AbortController();
      if (this.aborted) this.ac.abort(this.reason);
    }
    return this.ac.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.ac?.abort(reason);
  }
}

export function parseContentLength(h: string | undefined): number | undefined {
  if (h === undefined) return undefined;
  if (!/^\d{1,16}$/.test(h.trim())) throw new HttpError(400, 'BAD_REQUEST', 'invalid Content-Length');
  return Number(h);
}

/** Request ids: unique per process start (random prefix) and cheap (a counter), unlike a UUID per request. */
const ID_PREFIX = randomUUID().slice(0, 8);
let idCounter = 0;

/** A client's X-Request-Id is kept when it is a sane token (so ids follow a request through proxies). */
export function requestId(headers: Record<string, string>): string {
  const given = headers['x-request-id'];
  return given && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : `${ID_PREFIX}-${(idCounter++).toString(36)}`;
}

/** The request's body stream whether or not a handler took it (see drainSmallBody). */
const BODY_STREAM = Symbol('body stream');

/**
 * The engine-neutral request. A class with its lazy members (query, remote address, signal, bytes read) as
 * prototype getters: as getters of an object literal they cost a pair of accessor objects per request that V8
 * allocates in old space, and those kept each request's closures, request and response alive through every young
 * collection until the next full one (measured: 15 MB surviving each scavenge and a mark-compact every 0.4 s
 * at 20 k req/s, against none for node:http alone). A variant of a request is made with requestVariant, which
 * keeps every member.
 */
class EngineRequest implements HttpRequest {
  readonly method: string;
  readonly rawPath: string;
  readonly rawQuery: string;
  readonly headers: Record<string, string>;
  readonly log: Record<string, unknown> = {};
  /** What the lazy members computed, in one object that variants (see requestVariant) share with the original. */
  private readonly got: { body?: Readable; query?: URLSearchParams; remote?: string } = {};

  constructor(
    readonly id: string,
    private readonly head: RequestHead,
    readonly contentLength: number | undefined,
    private readonly src: BodySource,
  ) {
    this.method = head.method;
    this.rawPath = head.rawPath;
    this.rawQuery = head.rawQuery;
    this.headers = head.headers;
  }

  get query(): URLSearchParams {
    return (this.got.query ??= new URLSearchParams(this.rawQuery));
  }
  get remoteAddress(): string {
    return (this.got.remote ??= this.head.remoteAddress());
  }
  get signal(): AbortSignal {
    return this.src.signal.signal;
  }
  get bytesRead(): number {
    return this.src.bytesRead();
  }
  header(name: string): string | undefined {
    return this.headers[name.toLowerCase()];
  }
  body(): Readable {
    if (this.got.body) throw new Error('the request body was already taken');
    return (this.got.body = this.src.body());
  }
  readBody(limit: number): Promise<Buffer> {
    return collectBody(this.body(), limit);
  }
  [BODY_STREAM](): Readable {
    return this.got.body ?? this.src.body();
  }
}

export function buildRequest(id: string, head: RequestHead, contentLength: number | undefined, src: BodySource): HttpRequest {
  return new EngineRequest(id, head, contentLength, src);
}

/**
 * The same request with some members replaced (a HEAD served as a GET): every other member, lazy ones included,
 * still answers from the original.
 */
export function requestVariant(req: HttpRequest, overrides: Partial<HttpRequest>): HttpRequest {
  const variant = Object.create(req) as HttpRequest;
  // Defined, not assigned: an assignment would hit the original's getter (signal has no setter).
  for (const [k, value] of Object.entries(overrides)) Object.defineProperty(variant, k, { value, enumerable: true, writable: true });
  return variant;
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
  private waiters: Array<() => void> = [];

  get count(): number {
    return this.n;
  }
  begin(n = 1): void {
    this.n += n;
  }
  end(): void {
    if (--this.n > 0) return;
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve();
  }
  /** Resolves when nothing is in flight, or after `graceMs`. */
  drain(graceMs: number): Promise<void> {
    if (this.n === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, graceMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

const BAD_LENGTH = JSON.stringify(errorEnvelope('BAD_REQUEST', 'invalid Content-Length'));

/**
 * Run the application handler for one request, the same way on both engines: a malformed Content-Length is a
 * 400 before the handler runs; an error that escaped the handler is answered in the error envelope (or closes
 * the connection if the body had started); a handler that returned without finishing closes the connection,
 * so a client never waits for an answer that will not come.
 */
/** Bodies up to this size are read to their end before an error answers them (see drainSmallBody). */
const DRAIN_LIMIT = 8 * 1024 * 1024;
const DRAIN_MS = 5_000;

/**
 * A refusal (401/404/409…) decided before a small body was read waits for the rest of it, discarded: answering at
 * once closes the connection on a client still sending, and clients such as undici's fetch then report the broken
 * pipe (EPIPE) instead of the answer. A large or unsized body is not waited for: that answer closes the connection.
 */
export async function drainSmallBody(req: HttpRequest): Promise<void> {
  const n = req.contentLength;
  if (n === undefined || n === 0 || n > DRAIN_LIMIT) return;
  const r = req as { [BODY_STREAM]?: () => Readable };
  if (!r[BODY_STREAM]) return;
  const body = r[BODY_STREAM]();
  // Ended, or failed and destroyed by whoever was reading it; a stream still being read is only waited for.
  if (body.readableEnded || body.destroyed) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      body.off('end', done).off('error', done).off('close', done);
      resolve();
    };
    const timer = setTimeout(done, DRAIN_MS);
    body.on('end', done).on('error', done).on('close', done);
    body.resume();
  });
}

export function dispatch(handler: Handler, request: HttpRequest, out: HttpResponse, badLength: boolean, log: Logger, finish: () => void): void {
  if (badLength) {
    out.status(400).setHeader('content-type', 'application/json').end(BAD_LENGTH);
    finish();
    return;
  }
  Promise.resolve()
    .then(() => handler(request, out))
    .catch(async (err) => {
      if (!out.finished && !out.headersSent && !isAbort(err)) await drainSmallBody(request);
      sendError(out, err, log.child({ id: request.id }));
    })
    .finally(() => {
      if (!out.finished) {
        log.warn({ id: request.id, method: request.method, path: request.rawPath }, 'handler returned without answering; closing the connection');
        out.destroy();
      }
      finish();
    });
}
