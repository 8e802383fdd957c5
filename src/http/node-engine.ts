import http from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { AbortedError } from '../errors.js';
import { BodyRepacker } from './body-repack.js';
import type { Logger } from '../log.js';
import { buildRequest, dispatch, InFlight, LazyAbort, parseContentLength, requestId } from './request-base.js';
import { lengthMismatch, ResponseBase } from './response-base.js';
import { isRecyclable } from '../util/recyclable.js';
import type { RunningServer, ServerOptions } from './types.js';

/** Socket and body buffers: large enough for throughput, small enough to bound memory per request. */
const HIGH_WATER_MARK = 1024 * 1024;
/** Bodies up to this size are sent as a string (see end). */
const SMALL_BODY = 16 * 1024;

/**
 * Complete responses (a whole small body, or none) are handed to node together once the event loop has run the
 * requests its poll phase delivered, not one by one as each handler finishes. Each is one write to its socket
 * either way; what changes is the time between them. A load generator (or a CI runner's client) waiting on a
 * socket is woken by the first, and the following ones land while it runs; spread apart by the work of the next
 * request, every write wakes a client that went back to sleep, and on this VM that wake-up is paid inside the
 * server's write: bare node:http writing a 1 011-byte response with 25 µs of work per request between writes
 * spent 20.5 µs in each writev against 10.4 without the work.
 */
const completeResponses: Array<http.ServerResponse | string | undefined> = [];
let flushScheduled = false;

/** `body` is latin1 (a Buffer's bytes) or utf8 (a handler's text). */
function endLater(res: http.ServerResponse, body?: string, encoding: 'latin1' | 'utf8' = 'latin1'): void {
  completeResponses.push(res, body, encoding);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushResponses);
  }
}

/** Ends every response waiting in completeResponses; also called before a server closes its connections. */
function flushResponses(): void {
  flushScheduled = false;
  const list = completeResponses.splice(0);
  for (let i = 0; i < list.length; i += 3) {
    const res = list[i] as http.ServerResponse;
    const body = list[i + 1] as string | undefined;
    if (body === undefined) res.end();
    else res.end(body, list[i + 2] as BufferEncoding);
  }
}

class NodeResponseAdapter extends ResponseBase {
  private ended = false;
  /**
   * Headers are kept here and handed to node in one writeHead call as a flat list: res.setHeader validates and
   * stores each in node's own header map, a measurable share of a small response's cost.
   */
  private readonly headers: Record<string, string | number> = Object.create(null) as Record<string, string | number>;

  constructor(
    private readonly res: http.ServerResponse,
    private readonly req: http.IncomingMessage,
    head: boolean,
    id: string,
    /** Runs once when the response will not complete: fires the request's signal, fails its body. */
    private readonly onGone: () => void,
  ) {
    super(head);
    this.headers['x-request-id'] = id;
  }

  get headersSent(): boolean {
    return this.res.headersSent;
  }
  get finished(): boolean {
    return this.ended || this.aborted;
  }

  /** The connection closed before the response completed (client gone, or destroy()). */
  gone(): void {
    if (this.ended || this.aborted) return;
    this.aborted = true;
    this.fireAbort();
    this.onGone();
  }

  setHeader(name: string, value: string | number): this {
    this.headers[name.toLowerCase()] = value;
    return this;
  }

  /**
   * Status and headers to node. Answering before the request body arrived (a 401/409/413 refusal): close the
   * connection instead of reading a possibly huge body to its end, and tell the client so it does not reuse the socket.
   */
  private contentLength(n: number | undefined): void {
    if (n === undefined) delete this.headers['content-length'];
    else this.headers['content-length'] = n;
  }

  private writeHead(): void {
    const h = this.headers;
    if (!this.req.complete) h.connection = 'close';
    const flat: Array<string | number> = [];
    for (const k in h) flat.push(k, h[k]!);
    this.res.writeHead(this.code, flat as unknown as http.OutgoingHttpHeaders);
  }

  end(body?: Buffer | string): void {
    if (this.finished) return;
    if (this.head) return this.endWithoutBody(body === undefined ? undefined : Buffer.byteLength(body));
    this.ended = true;
    if (this.code === 204 || this.code === 304) {
      this.contentLength(undefined);
      this.writeHead();
      endLater(this.res);
      return;
    }
    const n = body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    this.contentLength(n);
    this.writeHead();
    this.bytesWritten += n;
    // node sends a string body in one write with the head; a Buffer goes as a second chunk of a corked writev. A
    // small body goes as latin1 (byte for byte the same): GET manifest by tag, 64 connections, 20.0–21.2 → 21.0–21.9 k
    // requests/s (four alternating runs).
    if (body === undefined) endLater(this.res);
    else if (typeof body === 'string') endLater(this.res, body, 'utf8');
    else if (n <= SMALL_BODY) endLater(this.res, body.toString('latin1'));
    else this.res.end(body);
  }

  endWithoutBody(contentLength?: number): void {
    if (this.finished) return;
    this.ended = true;
    if (contentLength !== undefined) this.contentLength(contentLength);
    this.writeHead();
    // For HEAD node sends headers only and keeps the declared Content-Length.
    endLater(this.res);
  }

  destroy(): void {
    if (this.finished) return;
    this.res.destroy();
    this.gone();
  }

  protected streamBody(source: Readable, length: number | undefined, resolve: () => void, reject: (err: Error) => void): void {
    const res = this.res;
    const recyclable = isRecyclable(source) ? source : undefined;
    let settled = false;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      source.off('data', onData);
      source.off('end', onEnd);
      res.off('drain', onDrain);
      // The 'error' listener stays: a source destroyed later must not throw an unhandled 'error'.
      if (!err) return resolve();
      if (!this.finished) this.destroy();
      source.destroy();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      if (this.aborted || settled) return;
      if (length !== undefined && this.bytesWritten + chunk.length > length) return settle(lengthMismatch(this.bytesWritten, length, true));
      this.bytesWritten += chunk.length;
      // Once node has handed the bytes to the kernel, the source may read into the same buffer again.
      if (!res.write(chunk, recyclable ? (err) => err || recyclable.recycle(chunk) : undefined)) source.pause();
    };
    const onDrain = () => {
      if (!settled) source.resume();
    };
    const onEnd = () => {
      if (this.aborted || settled) return;
      if (length !== undefined && this.bytesWritten !== length) return settle(lengthMismatch(this.bytesWritten, length, false));
      this.ended = true;
      // Handed to node: it flushes the rest. A client that leaves now only loses what it would have ignored.
      res.end();
      settle();
    };
    this.contentLength(length);
    this.writeHead();
    res.on('drain', onDrain);
    source.on('data', onData);
    source.on('end', onEnd);
    source.on('error', (err) => settle(err));
  }
}

/**
 * node:http turns a client that leaves mid-body into an `Error: aborted` (ECONNRESET) on the request. Handlers
 * test for AbortedError (isAbort), so the request is destroyed with one first: this listener runs before node's
 * own socket 'close' handler. It is removed when the request ends, so keep-alive sockets do not collect them.
 */
function abortBodyOnClose(socket: Socket, req: http.IncomingMessage, res: http.ServerResponse): void {
  const onClose = () => {
    if (!req.complete) req.destroy(new AbortedError('client went away'));
  };
  socket.prependOnceListener('close', onClose);
  res.once('close', () => socket.off('close', onClose));
}

/**
 * Re-packs the body as the parser pushes it (see BodyRepacker) and counts its bytes, without putting the request
 * into flowing mode. The parser stops reading the socket when a push returns false; bytes held back are no push.
 */
function repackPushes(req: http.IncomingMessage, expectedLength: number | undefined): () => number {
  let n = 0;
  const push = req.push.bind(req);
  const packer = new BodyRepacker(expectedLength);
  req.push = (chunk: unknown, encoding?: BufferEncoding) => {
    if (chunk === null) {
      const rest = packer.rest();
      if (rest) push(rest);
      return push(null);
    }
    if (!(chunk instanceof Uint8Array)) return push(chunk, encoding);
    n += chunk.length;
    return packer.add(chunk, (full) => push(full));
  };
  req.once('close', () => packer.drop());
  return () => n;
}

/** Serve with node:http (no request-size limit: the engine for multi-GB uploads with a Content-Length). */
export async function startNode(opts: ServerOptions, log: Logger): Promise<RunningServer> {
  const inFlight = new InFlight();
  const server = http.createServer(
    {
      // Long uploads and downloads must not be cut by node's defaults (300 s per request). Headers must still
      // arrive in reasonable time, and idle keep-alive sockets outlive a typical load balancer's 60 s.
      requestTimeout: 0,
      headersTimeout: 60_000,
      keepAliveTimeout: 65_000,
      highWaterMark: HIGH_WATER_MARK,
    },
    (req, res) => {
      // node's own (lowercased, duplicates joined) header object, taken as it is: only Set-Cookie is a list there.
      const cookies = req.headers['set-cookie'];
      if (cookies) (req.headers as Record<string, string>)['set-cookie'] = cookies.join(', ');
      const headers = req.headers as Record<string, string>;
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const method = (req.method ?? 'GET').toUpperCase();
      const id = requestId(headers);
      const ac = new LazyAbort();
      const t0 = performance.now();
      // Twice: once for the handler, once for the response, which node may still be flushing when the handler is
      // done (a download's last megabyte, a complete response waiting in completeResponses). A graceful close waits
      // for both before it closes connections.
      inFlight.begin(2);

      const out = new NodeResponseAdapter(res, req, method === 'HEAD', id, () => {
        const err = new AbortedError('client went away');
        ac.abort(err);
        if (!req.complete) req.destroy(err);
      });
      res.once('close', () => {
        out.gone(); // no-op after a completed response
        inFlight.end();
      });
      req.on('error', () => {}); // an unread body that fails must not be an unhandled 'error'
      // Most requests (GET, HEAD) have no body: they skip the per-request socket listener and push counter.
      const cl = headers['content-length'];
      const hasBody = headers['transfer-encoding'] !== undefined || (cl !== undefined && cl.trim() !== '0');
      if (hasBody) abortBodyOnClose(req.socket, req, res);
      let contentLength: number | undefined;
      let badLength = false;
      try {
        contentLength = parseContentLength(headers['content-length']);
      } catch {
        badLength = true;
      }
      const bytesRead = hasBody ? repackPushes(req, contentLength) : () => 0;
      const request = buildRequest(
        id,
        { method, rawPath: q < 0 ? url : url.slice(0, q), rawQuery: q < 0 ? '' : url.slice(q + 1), headers, remoteAddress: () => req.socket.remoteAddress ?? '' },
        contentLength,
        { body: () => req, bytesRead, signal: ac },
      );
      const finish = () => {
        // An unread body is not drained (it may be gigabytes): the response said Connection: close, and node
        // closes the socket once the response is flushed.
        opts.onFinish?.(request, out, performance.now() - t0);
        inFlight.end();
      };
      dispatch(opts.handler, request, out, badLength, log, finish);
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'http server error'));
  const port = (server.address() as { port: number }).port;
  let closing: Promise<void> | undefined;
  return {
    engine: 'node',
    port,
    close(graceMs = 5_000) {
      closing ??= (async () => {
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        await inFlight.drain(graceMs);
        flushResponses();
        server.closeAllConnections();
        await closed;
        // Let aborted handlers unwind before reporting closed.
        await inFlight.drain(1_000);
      })();
      return closing;
    },
  };
}
