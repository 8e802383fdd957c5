import http from 'node:http';
import type { Readable } from 'node:stream';
import { AbortedError } from '../errors.js';
import type { Logger } from '../log.js';
import { collectBody, dispatch, InFlight, parseContentLength, requestId } from './request-base.js';
import { ResponseBase } from './response-base.js';
import type { HttpRequest, RunningServer, ServerOptions } from './types.js';

class NodeResponseAdapter extends ResponseBase {
  private done = false;

  constructor(
    private readonly res: http.ServerResponse,
    head: boolean,
    id: string,
    private readonly req: http.IncomingMessage,
  ) {
    super(head);
    res.setHeader('x-request-id', id);
  }

  /**
   * Answering before the request body arrived (a 401/409/413 refusal): close the connection instead of reading
   * a possibly huge body to its end, and tell the client so it does not reuse the socket.
   */
  private closeIfBodyPending(): void {
    if (!this.req.complete && !this.res.headersSent) this.res.setHeader('connection', 'close');
  }

  get headersSent(): boolean {
    return this.res.headersSent;
  }
  get finished(): boolean {
    return this.done || this.aborted;
  }
  abortedByClient(): void {
    if (this.done) return;
    this.aborted = true;
    this.fireAbort();
  }
  setHeader(name: string, value: string | number): this {
    this.res.setHeader(name, value);
    return this;
  }

  end(body?: Buffer | string): void {
    if (this.finished) return;
    if (this.head) return this.endWithoutBody(body === undefined ? undefined : Buffer.byteLength(body));
    this.done = true;
    this.res.statusCode = this.code;
    this.closeIfBodyPending();
    if (body !== undefined && this.code !== 204 && this.code !== 304) {
      this.res.setHeader('content-length', Buffer.byteLength(body));
      this.bytesWritten += Buffer.byteLength(body);
      this.res.end(body);
    } else {
      if (this.code !== 204 && this.code !== 304) this.res.setHeader('content-length', 0);
      this.res.end();
    }
  }

  endWithoutBody(contentLength?: number): void {
    if (this.finished) return;
    this.done = true;
    this.res.statusCode = this.code;
    this.closeIfBodyPending();
    if (contentLength !== undefined) this.res.setHeader('content-length', contentLength);
    // node:http sends no body for HEAD; for other methods this is an empty body with the declared length
    // only when the caller knows the request was HEAD.
    this.res.end();
  }

  destroy(): void {
    this.aborted = true;
    this.res.destroy();
  }

  protected streamBody(source: Readable, length: number | undefined, resolve: () => void, reject: (err: Error) => void): void {
    this.res.statusCode = this.code;
    this.closeIfBodyPending();
    if (length !== undefined) this.res.setHeader('content-length', length);
    source.on('data', (chunk: Buffer) => {
      this.bytesWritten += chunk.length;
      if (!this.res.write(chunk)) source.pause();
    });
    this.res.on('drain', () => source.resume());
    source.once('error', (err) => {
      this.destroy();
      reject(err);
    });
    source.once('end', () => {
      if (this.aborted) return;
      if (length !== undefined && this.bytesWritten !== length) {
        this.destroy();
        return reject(new Error(`body ended after ${this.bytesWritten} of ${length} bytes`));
      }
      this.done = true;
      this.res.end(() => resolve());
    });
  }
}

/** Serve with node:http (no request-size limit; the engine for multi-GB uploads with a Content-Length). */
export async function startNode(opts: ServerOptions, log: Logger): Promise<RunningServer> {
  const inFlight = new InFlight();
  const server = http.createServer(
    {
      // Long uploads and downloads must not be cut by Node's defaults (300 s request timeout).
      requestTimeout: 0,
      headersTimeout: 60_000,
      keepAliveTimeout: 65_000,
      highWaterMark: 1024 * 1024,
    },
    (req, res) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const rawPath = q < 0 ? url : url.slice(0, q);
      const rawQuery = q < 0 ? '' : url.slice(q + 1);
      const id = requestId(headers);
      const method = (req.method ?? 'GET').toUpperCase();
      const out = new NodeResponseAdapter(res, method === 'HEAD', id, req);
      const ac = new AbortController();
      const t0 = performance.now();
      inFlight.begin();
      let complete = false;
      res.once('finish', () => (complete = true));
      res.once('close', () => {
        if (!complete) {
          out.abortedByClient();
          ac.abort(new AbortedError('client went away'));
          if (!req.complete) req.destroy(new AbortedError('client went away'));
        }
      });
      req.on('error', () => {});
      let contentLength: number | undefined;
      let badLength = false;
      try {
        contentLength = parseContentLength(headers['content-length']);
      } catch {
        badLength = true;
      }
      const request: HttpRequest = {
        id,
        method,
        rawPath,
        rawQuery,
        query: new URLSearchParams(rawQuery),
        headers,
        header: (n) => headers[n.toLowerCase()],
        remoteAddress: req.socket.remoteAddress ?? '',
        contentLength,
        body: () => req,
        readBody: (limit) => collectBody(req, limit),
        signal: ac.signal,
        log: {},
      };
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
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    engine: 'node',
    port,
    async close(graceMs = 5_000) {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      await inFlight.drain(graceMs);
      server.closeAllConnections();
      await closed;
    },
  };
}
