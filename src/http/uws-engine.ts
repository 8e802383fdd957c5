import { STATUS_CODES } from 'node:http';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { AbortedError } from '../errors.js';
import type { Logger } from '../log.js';
import { collectBody, dispatch, InFlight, parseContentLength, requestId, type RequestHead } from './request-base.js';
import { ResponseBase } from './response-base.js';
import type { HttpRequest, RunningServer, ServerOptions } from './types.js';

type Uws = typeof import('uWebSockets.js');
type UwsResponse = import('uWebSockets.js').HttpResponse;
type UwsRequest = import('uWebSockets.js').HttpRequest;

const require = createRequire(import.meta.url);

/**
 * The uWebSockets.js build from the npm registry (@trufflesuite/uws-js-unofficial 20.30.0) resets every request
 * whose Content-Length is ≥ 1e9 bytes (chunked bodies of any size work). Measured here; see README.
 */
export const UWS_CONTENT_LENGTH_LIMIT = 1_000_000_000;

const BODY_CHUNK = 1024 * 1024;

/** Load uWS and refuse its silent pure-JS fallback (slow, and not what the operator asked for). */
export function loadUws(): Uws {
  const uws = require('uWebSockets.js') as Uws & { getParts?: unknown; H3App?: unknown };
  if (typeof uws.getParts !== 'function' || typeof uws.H3App !== 'function') {
    throw new Error(
      'uWebSockets.js could not load its native binary and fell back to a pure-JS server; refusing to start. ' +
        'Use Node.js 20 on glibc x64/arm64, or set ARTIFACTAPI_HTTP_ENGINE=node.',
    );
  }
  return uws;
}

const statusLine = (code: number) => `${code} ${STATUS_CODES[code] ?? 'Unknown'}`;

class UwsResponseAdapter extends ResponseBase {
  headersSent = false;
  finished = false;
  private readonly headers: Array<[string, string]> = [];

  constructor(
    private readonly res: UwsResponse,
    head: boolean,
    private readonly id: string,
    /** True while the request body has not been fully received. */
    private readonly bodyPending: () => boolean,
  ) {
    super(head);
  }

  /**
   * Answering before the request body arrived (a 401/409/413 refusal) means the rest of it is never read:
   * close the connection (uWS then sends `Connection: close`), so the client does not send its next request
   * into a dead socket.
   */
  private get closeAfter(): boolean {
    return this.bodyPending();
  }

  abortedByClient(): void {
    this.aborted = true;
    this.finished = true;
    this.fireAbort();
  }

  setHeader(name: string, value: string | number): this {
    const lower = name.toLowerCase();
    const i = this.headers.findIndex(([k]) => k === lower);
    if (i >= 0) this.headers[i] = [lower, String(value)];
    else this.headers.push([lower, String(value)]);
    return this;
  }

  /** Status and headers; must run inside cork. uWS adds Content-Length and Date itself. */
  private writeHead(): void {
    this.headersSent = true;
    this.res.writeStatus(statusLine(this.code));
    this.res.writeHeader('x-request-id', this.id);
    for (const [k, v] of this.headers) if (k !== 'content-length' && k !== 'transfer-encoding') this.res.writeHeader(k, v);
  }

  end(body?: Buffer | string): void {
    if (this.finished) return;
    if (this.head) return this.endWithoutBody(body === undefined ? undefined : Buffer.byteLength(body));
    this.finished = true;
    this.res.cork(() => {
      this.writeHead();
      if (body === undefined && (this.code === 204 || this.code === 304)) this.res.endWithoutBody(undefined, this.closeAfter);
      else this.res.end(body ?? '', this.closeAfter);
    });
    this.bytesWritten += body === undefined ? 0 : Buffer.byteLength(body);
  }

  endWithoutBody(contentLength?: number): void {
    if (this.finished) return;
    this.finished = true;
    this.res.cork(() => {
      this.writeHead();
      this.res.endWithoutBody(contentLength, this.closeAfter);
    });
  }

  destroy(): void {
    if (this.aborted) return;
    this.finished = true;
    this.aborted = true;
    this.res.cork(() => this.res.close());
  }

  protected streamBody(source: Readable, length: number | undefined, resolve: () => void, reject: (err: Error) => void): void {
    let started = false;
    const start = () => {
      if (!started) {
        started = true;
        this.writeHead();
      }
    };
    const fail = (err: Error) => {
      source.off('data', onData);
      if (!this.aborted) this.destroy();
      reject(err);
    };
    // A chunk the socket did not fully take, and where it started in the response body.
    let pending: Buffer | undefined;
    let pendingOffset = 0;
    const total = length;
    const onData = (chunk: Buffer) => {
      if (this.aborted) return;
      let ok = true;
      this.res.cork(() => {
        start();
        const offset = this.res.getWriteOffset();
        if (total !== undefined) {
          const [accepted, done] = this.res.tryEnd(chunk, total);
          if (done) this.finished = true;
          ok = accepted;
        } else {
          // write() always keeps the whole chunk (buffered if needed); false only signals backpressure.
          ok = this.res.write(chunk);
        }
        this.bytesWritten += chunk.length;
        if (!ok && total !== undefined) {
          pending = chunk;
          pendingOffset = offset;
        }
      });
      if (!ok) {
        source.pause();
        this.res.onWritable((offset) => {
          if (this.aborted) return true;
          if (!pending) {
            source.resume();
            return true;
          }
          const [accepted, done] = this.res.tryEnd(pending.subarray(offset - pendingOffset), total!);
          if (done) this.finished = true;
          if (accepted) {
            pending = undefined;
            source.resume();
          }
          return accepted;
        });
      }
    };
    source.on('data', onData);
    source.once('error', fail);
    source.once('end', () => {
      if (this.aborted) return;
      const finish = () => {
        if (this.finished) return resolve();
        if (total !== undefined && this.bytesWritten < total) {
          return fail(new Error(`body ended after ${this.bytesWritten} of ${total} bytes`));
        }
        this.finished = true;
        this.res.cork(() => {
          start();
          this.res.end();
        });
        resolve();
      };
      if (pending) {
        // The last chunk is still draining; finish when the socket took it.
        const wait = setInterval(() => {
          if (!pending || this.aborted) {
            clearInterval(wait);
            if (!this.aborted) finish();
          }
        }, 5);
      } else finish();
    });
  }
}

/** Serve with uWebSockets.js. */
export async function startUws(opts: ServerOptions, log: Logger): Promise<RunningServer> {
  const uws = loadUws();
  log.warn(
    { limit: UWS_CONTENT_LENGTH_LIMIT },
    'this uWebSockets.js build resets requests with a Content-Length of 1e9 bytes or more (chunked bodies are fine); ' +
      'set ARTIFACTAPI_HTTP_ENGINE=node if clients push multi-GB layers with a Content-Length',
  );
  const app = uws.App();
  const inFlight = new InFlight();
  const open = new Set<UwsResponseAdapter>();

  app.any('/*', (res: UwsResponse, req: UwsRequest) => {
    const headers: Record<string, string> = {};
    req.forEach((k, v) => {
      headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
    });
    const head: RequestHead = {
      method: req.getCaseSensitiveMethod().toUpperCase(),
      rawPath: req.getUrl(),
      rawQuery: req.getQuery() ?? '',
      headers,
      remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString(),
    };
    const id = requestId(headers);
    let bodyDone = false;
    const out = new UwsResponseAdapter(res, head.method === 'HEAD', id, () => !bodyDone);
    const ac = new AbortController();
    const t0 = performance.now();
    inFlight.begin();
    open.add(out);

    // The body is read as it arrives, into a Readable that pauses the socket when its consumer is slow.
    let paused = false;
    const body = new Readable({
      highWaterMark: 1024 * 1024,
      read() {
        if (paused && !out.finished) {
          paused = false;
          res.resume();
        }
      },
    });
    body.on('error', () => {});
    // uWS lends each chunk only for the callback, so it must be copied; copying into 1 MiB buffers of our own
    // makes that the only copy: downstream stages (the hashing worker) can take ownership of whole buffers.
    let acc: Buffer | undefined;
    let accLen = 0;
    const emit = (b: Buffer) => {
      if (!body.push(b) && !bodyDone) {
        paused = true;
        res.pause();
      }
    };
    res.onData((ab, isLast) => {
      // After the response ended uWS may still deliver (and drain) the rest of the body: drop it, hands off res.
      if (out.finished) return;
      const src = new Uint8Array(ab);
      let off = 0;
      while (off < src.length) {
        if (!acc) {
          acc = Buffer.allocUnsafeSlow(BODY_CHUNK);
          accLen = 0;
        }
        const n = Math.min(BODY_CHUNK - accLen, src.length - off);
        acc.set(n === src.length ? src : src.subarray(off, off + n), accLen);
        accLen += n;
        off += n;
        if (accLen === BODY_CHUNK) {
          const full = acc;
          acc = undefined;
          emit(full);
        }
      }
      if (isLast) {
        bodyDone = true;
        if (acc && accLen > 0) body.push(acc.subarray(0, accLen));
        acc = undefined;
        body.push(null);
      }
    });
    res.onAborted(() => {
      out.abortedByClient();
      ac.abort(new AbortedError('client went away'));
      if (!bodyDone) body.destroy(new AbortedError('client went away'));
    });

    let contentLength: number | undefined;
    let badLength = false;
    try {
      contentLength = parseContentLength(headers['content-length']);
    } catch {
      badLength = true;
    }
    const query = new URLSearchParams(head.rawQuery);
    const request: HttpRequest = {
      id,
      ...head,
      query,
      header: (n) => headers[n.toLowerCase()],
      contentLength,
      body: () => body,
      readBody: (limit) => collectBody(body, limit),
      signal: ac.signal,
      log: {},
    };
    const finish = () => {
      open.delete(out);
      // An unread request body is dropped; after the response ended uWS owns the connection (it closes it
      // when the body was not fully received) and `res` must not be touched any more.
      if (!bodyDone && !out.aborted) body.destroy();
      opts.onFinish?.(request, out, performance.now() - t0);
      inFlight.end();
    };
    dispatch(opts.handler, request, out, badLength, log, finish);
  });

  const listenSocket = await new Promise<import('uWebSockets.js').us_listen_socket>((resolve, reject) => {
    app.listen(opts.host, opts.port, (s) => (s ? resolve(s) : reject(new Error(`uWebSockets.js could not listen on ${opts.host}:${opts.port}`))));
  });
  const port = uws.us_socket_local_port(listenSocket);
  return {
    engine: 'uws',
    port,
    async close(graceMs = 5_000) {
      uws.us_listen_socket_close(listenSocket);
      await inFlight.drain(graceMs);
      for (const r of open) if (!r.finished) r.destroy();
    },
  };
}
