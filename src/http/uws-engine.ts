import { STATUS_CODES } from 'node:http';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type * as UwsModule from 'uWebSockets.js';
import { AbortedError } from '../errors.js';
import type { Logger } from '../log.js';
import { buildRequest, dispatch, InFlight, LazyAbort, parseContentLength, requestId, type RequestHead } from './request-base.js';
import { POOL_CHUNK } from '../util/chunk-pool.js';
import { BodyRepacker } from './body-repack.js';
import { isRecyclable } from '../util/recyclable.js';
import { lengthMismatch, ResponseBase } from './response-base.js';
import type { RunningServer, ServerOptions } from './types.js';

type Uws = typeof UwsModule;
type UwsResponse = UwsModule.HttpResponse;
type UwsRequest = UwsModule.HttpRequest;
/** `close()` exists on the 20.30 build (closes the listen sockets and every connection) but is not in its types. */
type UwsApp = UwsModule.TemplatedApp & { close(): void };

/**
 * The known defect of the uWebSockets.js build on the npm registry (@trufflesuite/uws-js-unofficial
 * 20.30.0-unofficial.0): it resets every request whose Content-Length is >= 1e9 bytes, before any body byte
 * reaches the handler. Chunked bodies of any size work. Verified with curl: `-T` of a 999 999 999-byte file
 * gets 200, of a 1 000 000 000-byte file an empty reply; the same 1e9-byte file sent chunked gets 200.
 */
export const UWS_CONTENT_LENGTH_LIMIT = 1_000_000_000;

export const UWS_KNOWN_DEFECT =
  'this uWebSockets.js build resets any request with a Content-Length of 1000000000 bytes or more ' +
  '(chunked request bodies of any size work); set ARTIFACTAPI_HTTP_ENGINE=node if clients push multi-GB ' +
  'layers or files with a Content-Length';

/** Whether this uWS build can take a request body with this Content-Length (undefined: chunked or none). */
export function uwsAcceptsContentLength(contentLength: number | undefined): boolean {
  return contentLength === undefined || contentLength < UWS_CONTENT_LENGTH_LIMIT;
}

const require = createRequire(import.meta.url);

/**
 * Load uWS, refusing its pure-JS fallback. The package's src/uws.js silently (one console.warn) falls back to a
 * slow node:http emulation when its native binary cannot load; that is not what the operator asked for. The
 * native module exports `getParts` and `H3App`, the fallback does not. Loaded lazily (require, not a static
 * import) so that `ARTIFACTAPI_HTTP_ENGINE=node` works where the binary cannot load.
 */
export function loadUws(): Uws {
  const uws = require('uWebSockets.js') as Uws & { getParts?: unknown; H3App?: unknown };
  assertNativeUws(uws);
  return uws;
}

/** Throws unless `mod` is the native uWebSockets.js module. */
export function assertNativeUws(mod: { getParts?: unknown; H3App?: unknown }): void {
  if (typeof mod.getParts !== 'function' || typeof mod.H3App !== 'function') {
    throw new Error(
      'uWebSockets.js could not load its native binary and fell back to its pure-JS server; refusing to start. ' +
        `Use Node.js 20 (ABI ${process.versions.modules}) on glibc linux x64/arm64, darwin or win32 x64, ` +
        'or set ARTIFACTAPI_HTTP_ENGINE=node.',
    );
  }
}

const statusLine = (code: number) => `${code} ${STATUS_CODES[code] ?? 'Unknown'}`;
/** Headers uWS writes itself; a copy from the handler would be a duplicate. */
const ENGINE_HEADERS = new Set(['content-length', 'transfer-encoding', 'date', 'connection']);

/**
 * The request body as a backpressured Readable fed by `res.onData`.
 *
 * uWS lends each chunk only for the duration of the callback, so it must be copied; copying into 1 MiB buffers of
 * our own (each owns its whole ArrayBuffer; reused through util/chunk-pool) makes that the only copy, and
 * downstream stages (the hashing worker) can take ownership of whole buffers. When the Readable is full the socket
 * is paused; `_read` resumes it.
 */
class UwsBody {
  private stream: Readable | undefined;
  /** Every body byte has arrived. */
  done = false;
  received = 0;
  private paused = false;
  private readonly packer: BodyRepacker;

  constructor(
    private readonly res: UwsResponse,
    /** False once `res` may no longer be touched (response ended or connection gone). */
    private readonly live: () => boolean,
    /** Whether the head announced a body (Content-Length > 0, or Transfer-Encoding). */
    expectBody: boolean,
    /** The announced Content-Length, if any: a small body gets a buffer of its size, not a pool chunk (see BodyRepacker). */
    expectedLength?: number,
  ) {
    this.packer = new BodyRepacker(expectedLength);
    // uWS reports the (empty) end of a body-less request only after the handler ran, and on a reused connection
    // not before a quick answer is out: known from the head, such a request does not look like an unread upload
    // (which would make its response close the connection). Its stream is made only if someone asks.
    if (!expectBody) this.done = true;
    else void this.readable;
  }

  get readable(): Readable {
    if (this.stream) return this.stream;
    const s = new Readable({
      // One re-packed pool chunk (see BodyRepacker).
      highWaterMark: POOL_CHUNK,
      read: () => {
        if (this.paused && this.live()) {
          this.paused = false;
          this.res.resume();
        }
      },
    });
    // An unread body that is destroyed (abort, early answer) must not become an unhandled 'error'.
    s.on('error', () => {});
    if (this.done) s.push(null);
    return (this.stream = s);
  }

  /** The onData callback: copy, re-pack, push. */
  onData(ab: ArrayBuffer, isLast: boolean): void {
    if (this.done || this.readable.destroyed) return;
    const src = new Uint8Array(ab);
    this.received += src.length;
    this.packer.add(src, (full, endsSrc) => this.push(full, isLast && endsSrc));
    if (isLast) {
      this.done = true;
      const rest = this.packer.rest();
      if (rest) this.readable.push(rest);
      this.readable.push(null);
    }
  }

  private push(chunk: Buffer, last: boolean): boolean {
    const ok = this.readable.push(chunk);
    if (!ok && !last && !this.paused) {
      this.paused = true;
      this.res.pause();
    }
    return ok;
  }

  /** Before the last write of a response that leaves the body unread: a paused socket would never flush. */
  unpauseForClose(): void {
    if (this.paused) {
      this.paused = false;
      this.res.resume();
    }
  }

  abort(err: Error): void {
    this.packer.drop();
    if (!this.done) this.readable.destroy(err);
  }
}

class UwsResponseAdapter extends ResponseBase {
  headersSent = false;
  /** The response completed: from here on uWS may reuse the connection for the next request, hands off `res`. */
  ended = false;
  private readonly headers = new Map<string, string>();

  constructor(
    private readonly res: UwsResponse,
    head: boolean,
    id: string,
    private readonly body: UwsBody,
    /** Runs once when the response will not complete: fires the request's signal, fails its body. */
    private readonly onGone: () => void,
  ) {
    super(head);
    this.headers.set('x-request-id', id);
  }

  get finished(): boolean {
    return this.ended || this.aborted;
  }

  /** uWS's onAborted: ignored once the response ended (uWS may report the client closing afterwards). */
  abortedByEngine(): void {
    if (this.ended || this.aborted) return;
    this.aborted = true;
    this.fireAbort();
    this.onGone();
  }

  setHeader(name: string, value: string | number): this {
    this.headers.set(name.toLowerCase(), String(value));
    return this;
  }

  /**
   * Answering before the request body arrived (a 401/409/413 refusal) means the rest of it is never read: close
   * the connection (uWS then sends `Connection: close`) so the client does not send its next request into a dead
   * socket. A handler's `Connection: close` goes the same way.
   */
  private closeAfter(): boolean {
    const close = !this.body.done || this.headers.get('connection') === 'close';
    if (close) this.body.unpauseForClose();
    return close;
  }

  /** Status and headers; must run inside cork. */
  private writeHead(): void {
    this.headersSent = true;
    this.res.writeStatus(statusLine(this.code));
    for (const [k, v] of this.headers) if (!ENGINE_HEADERS.has(k)) this.res.writeHeader(k, v);
  }

  end(body?: Buffer | string): void {
    if (this.finished) return;
    if (this.head) return this.endWithoutBody(body === undefined ? undefined : Buffer.byteLength(body));
    this.ended = true;
    const noBody = body === undefined && (this.code === 204 || this.code === 304);
    this.res.cork(() => {
      this.writeHead();
      if (!noBody) this.res.end(body ?? '', this.closeAfter());
      else if (this.closeAfter()) this.res.endWithoutBody(0, true);
      else this.bareEnd();
    });
    if (body !== undefined) this.bytesWritten += typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  }

  /**
   * End with no body and no Content-Length from uWS: any argument, even `undefined`, is read as a length (an
   * undefined one is written as 2^63).
   */
  private bareEnd(): void {
    (this.res.endWithoutBody as () => void)();
  }

  endWithoutBody(contentLength?: number): void {
    if (this.finished) return;
    this.ended = true;
    const declared = this.headers.get('content-length');
    const length = contentLength ?? (declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : undefined);
    this.res.cork(() => {
      this.writeHead();
      // endWithoutBody(length) of this uWS build leaves the connection waiting for those bytes: the next request
      // on it dies. Writing the header ourselves keeps HEAD answers keep-alive.
      if (this.closeAfter()) return void this.res.endWithoutBody(length, true);
      if (length !== undefined) this.res.writeHeader('Content-Length', String(length));
      this.bareEnd();
    });
  }

  destroy(): void {
    if (this.finished) return;
    // close() runs onAborted at once, which fails the streams and fires the request's signal.
    this.res.cork(() => this.res.close());
    this.abortedByEngine();
  }

  protected streamBody(source: Readable, length: number | undefined, resolve: () => void, reject: (err: Error) => void): void {
    const res = this.res;
    const recyclable = isRecyclable(source) ? source : undefined;
    let settled = false;
    let sourceEnded = false;
    // With a length: the part of a chunk the socket did not take, and the body offset where that chunk began.
    let pending: Buffer | undefined;
    let pendingOffset = 0;

    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      source.off('data', onData);
      source.off('end', onEnd);
      // The 'error' listener stays: a source destroyed later must not throw an unhandled 'error'.
      if (!err) return resolve();
      if (!this.finished) this.destroy();
      source.destroy();
      reject(err);
    };

    /** After the socket drained: retry the pending remainder, or let the source go on. */
    const onWritable = (offset: number): boolean => {
      if (this.aborted || settled) return true;
      if (pending) {
        const [ok, done] = res.tryEnd(pending.subarray(offset - pendingOffset), length!);
        if (done) this.ended = true;
        if (!ok) return false;
        recyclable?.recycle(pending);
        pending = undefined;
      }
      if (sourceEnded) onEnd();
      else source.resume();
      return true;
    };

    const onData = (chunk: Buffer) => {
      if (this.aborted || settled) return;
      if (length !== undefined && this.bytesWritten + chunk.length > length) return settle(lengthMismatch(this.bytesWritten, length, true));
      let ok = true;
      res.cork(() => {
        if (!this.headersSent) this.writeHead();
        if (length !== undefined) {
          const offset = res.getWriteOffset();
          const [accepted, done] = res.tryEnd(chunk, length);
          if (done) this.ended = true;
          if (!accepted) {
            pending = chunk;
            pendingOffset = offset;
          }
          ok = accepted;
        } else {
          // write() keeps the whole chunk (buffered in uWS if need be); false only says the socket is full.
          ok = res.write(chunk);
        }
      });
      // uWS copied what it did not send: the source may read into this buffer again (unless a remainder is pending).
      if (pending !== chunk) recyclable?.recycle(chunk);
      this.bytesWritten += chunk.length;
      if (!ok) {
        source.pause();
        res.onWritable(onWritable);
      }
    };

    const onEnd = () => {
      sourceEnded = true;
      if (this.aborted || settled || pending) return; // a pending remainder finishes in onWritable
      if (length !== undefined && this.bytesWritten !== length) return settle(lengthMismatch(this.bytesWritten, length, false));
      if (!this.ended) {
        // Chunked: the terminating chunk. With a length this is only reached for an empty body.
        this.ended = true;
        res.cork(() => {
          if (!this.headersSent) this.writeHead();
          res.end(undefined, this.closeAfter());
        });
      }
      settle();
    };

    source.on('data', onData);
    source.on('end', onEnd);
    source.on('error', (err) => settle(err));
  }
}

/** Serve with uWebSockets.js. */
export async function startUws(opts: ServerOptions, log: Logger): Promise<RunningServer> {
  const uws = loadUws();
  const app = uws.App() as UwsApp;
  const inFlight = new InFlight();

  app.any('/*', (res: UwsResponse, req: UwsRequest) => {
    // `req` is only valid during this call: copy everything out of it now.
    const headers: Record<string, string> = {};
    req.forEach((k, v) => {
      headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
    });
    const head: RequestHead = {
      method: req.getCaseSensitiveMethod().toUpperCase(),
      rawPath: req.getUrl(),
      rawQuery: req.getQuery() ?? '',
      headers,
      // Valid only while the response is live; nothing asks for it later.
      remoteAddress: () => (out.finished ? '' : Buffer.from(res.getRemoteAddressAsText()).toString()),
    };
    const id = requestId(headers);
    const ac = new LazyAbort();
    const t0 = performance.now();
    inFlight.begin();

    const te = headers['transfer-encoding'];
    const cl = headers['content-length'];
    const announced = te === undefined && cl !== undefined && /^\s*\d{1,15}\s*$/.test(cl) ? Number(cl) : undefined;
    const body = new UwsBody(res, () => !out.finished, te !== undefined || (cl !== undefined && cl.trim() !== '0'), announced);
    const out: UwsResponseAdapter = new UwsResponseAdapter(res, head.method === 'HEAD', id, body, () => {
      const err = new AbortedError('client went away');
      ac.abort(err);
      body.abort(err);
    });
    res.onData((ab, isLast) => {
      // After the response ended uWS may still deliver the rest of the body (then closes): drop it.
      if (!out.finished) body.onData(ab, isLast);
    });
    res.onAborted(() => out.abortedByEngine());

    let contentLength: number | undefined;
    let badLength = false;
    try {
      contentLength = parseContentLength(headers['content-length']);
    } catch {
      badLength = true;
    }
    const request = buildRequest(id, head, contentLength, {
      body: () => body.readable,
      bytesRead: () => body.received,
      signal: ac,
    });
    const finish = () => {
      // An unread request body is dropped; uWS closes the connection when it was not fully received.
      if (!body.done) body.abort(new AbortedError('the response ended before the request body was read'));
      opts.onFinish?.(request, out, performance.now() - t0);
      inFlight.end();
    };
    dispatch(opts.handler, request, out, badLength, log, finish);
  });

  const listenSocket = await new Promise<UwsModule.us_listen_socket>((resolve, reject) => {
    app.listen(opts.host, opts.port, (s) => (s ? resolve(s) : reject(new Error(`uWebSockets.js could not listen on ${opts.host}:${opts.port}`))));
  });
  const port = uws.us_socket_local_port(listenSocket);
  let closing: Promise<void> | undefined;
  return {
    engine: 'uws',
    port,
    close(graceMs = 5_000) {
      closing ??= (async () => {
        uws.us_listen_socket_close(listenSocket);
        await inFlight.drain(graceMs);
        // The last handler may have finished inside a uWS callback, whose writes uWS holds (corked) until the
        // callback returns: closing now would drop them. Let the loop turn first.
        await new Promise((resolve) => setImmediate(resolve));
        // Closes idle keep-alive connections and aborts what is still running (their onAborted fires).
        app.close();
        // Let aborted handlers unwind (release files, uploads) before reporting closed.
        await inFlight.drain(1_000);
      })();
      return closing;
    },
  };
}
