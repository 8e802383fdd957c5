import { isIP, connect as netConnect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { markExclusive, POOL_CHUNK, returnChunk, takeChunk } from '../util/chunk-pool.js';
import { ResponseParser, type ResponseHead } from './http1-parser.js';
import type { ProxyRoute } from './proxy.js';
import { openTunnel } from './proxy-tunnel.js';

/**
 * HTTP/1.1 client for upstream downloads, with keep-alive connections per origin.
 *
 * Why not undici or node:http: both hand on every socket read as a fresh buffer. At hundreds of MB/s that is
 * external memory the collector has to chase (a 512 MiB download: ≈ 30–60 full collections and 0.7–1.2 s of CPU
 * with undici, against 0.2 s reading into one reused buffer, measured here). Each connection here reads into one
 * buffer of its own (net's `onread`) until the response's head is parsed; from then on the socket reads body bytes
 * straight into upload-pool chunks (net calls back for the buffer of each read), which the spool gives back once
 * sent (see util/chunk-pool), so a download allocates almost nothing and copies nothing on its way in.
 */

/** One connection's read buffer. */
const READ_BUFFER = 256 * 1024;
/** A body piece smaller than this goes on as a right-sized copy, so that a small document never pins a pool chunk. */
const SMALL_PIECE = 64 * 1024;

export interface Http1ClientOptions {
  connectTimeoutMs: number;
  /** A response that sends nothing for this long fails (time spent paused by a slow reader does not count). */
  idleTimeoutMs: number;
  /** An idle kept-alive connection is closed after this long (or sooner, when the server's Keep-Alive says so). */
  keepAliveMs?: number;
  /** Connections per origin; requests beyond wait for one. */
  maxPerOrigin?: number;
  /** Extra TLS options (a private CA, in tests). */
  tls?: ConnectionOptions;
  /** The outgoing proxy for a URL, or undefined to connect directly (see proxy.ts). */
  proxyFor?: (url: URL) => ProxyRoute | undefined;
}

export interface Http1Request {
  method: 'GET' | 'HEAD';
  headers: Record<string, string>;
  signal?: AbortSignal;
  /** The proxy for this request, null for none; absent: the client's own choice (`proxyFor`). */
  via?: ProxyRoute | null;
}

export interface Http1Response {
  status: number;
  headers: Record<string, string>;
  body: Readable;
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The request's bytes; names and values are checked (a CR or LF would let a value inject its own header). Through a
 * proxy, a plain-http request names its whole URL (absolute form) and carries the proxy's credentials; an https one
 * goes inside a CONNECT tunnel as it would directly.
 */
function serialize(url: URL, req: Http1Request, origin: Origin): string {
  const viaProxy = origin.proxy && !origin.tls ? origin.proxy : undefined;
  const target = viaProxy ? `${url.protocol}//${url.host}${url.pathname}${url.search}` : `${url.pathname}${url.search}`;
  let head = `${req.method} ${target} HTTP/1.1\r\nhost: ${url.host}\r\n`;
  if (viaProxy?.authorization) head += `proxy-authorization: ${viaProxy.authorization}\r\n`;
  for (const [name, value] of Object.entries(req.headers)) {
    if (!HEADER_NAME.test(name) || /[\r\n\0]/.test(value)) throw new TypeError(`invalid request header ${JSON.stringify(name)}`);
    const lower = name.toLowerCase();
    if (lower !== 'host' && lower !== 'proxy-authorization') head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}

interface Origin {
  /** Connections are pooled by it: the origin, and the proxy they go through. */
  key: string;
  tls: boolean;
  host: string;
  port: number;
  proxy?: ProxyRoute;
}

function originOf(url: URL, proxy: ProxyRoute | undefined): Origin {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`unsupported URL scheme ${url.protocol}`);
  const tls = url.protocol === 'https:';
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port ? Number(url.port) : tls ? 443 : 80;
  return { key: `${url.protocol}//${url.host}${proxy ? ` via ${proxy.key}` : ''}`, tls, host, port, ...(proxy ? { proxy } : {}) };
}

/** A response body: bytes copied out of the connection's read buffer into pool chunks. */
class Body extends Readable {
  private chunk: Buffer | undefined;
  private fill = 0;
  private flushTimer: NodeJS.Immediate | undefined;
  complete = false;

  constructor(private readonly exchange: Exchange) {
    super({ highWaterMark: 2 * POOL_CHUNK });
  }

  append(src: Buffer, start: number, end: number): void {
    while (start < end) {
      this.chunk ??= takeChunk();
      const n = Math.min(end - start, POOL_CHUNK - this.fill);
      src.copy(this.chunk, this.fill, start, start + n);
      this.fill += n;
      start += n;
      if (this.fill === POOL_CHUNK) this.flush();
    }
    // What arrived goes on at the end of this event-loop turn: a slow upstream's bytes are not held back.
    if (this.fill > 0) this.flushTimer ??= setImmediate(this.flushSoon);
  }

  /**
   * Room at the end of the current pool chunk for the next socket read to land in, at most `max` bytes. Bytes waiting
   * for the end-of-turn flush go on first: the chunk must not change hands while the socket holds a window into it.
   */
  window(max: number): Buffer {
    // A chunk with little room left goes on too, so that a read is never made small by where the chunk ends.
    if (this.flushTimer || POOL_CHUNK - this.fill < SMALL_PIECE) this.flush();
    this.chunk ??= takeChunk();
    return this.chunk.subarray(this.fill, this.fill + Math.min(max, POOL_CHUNK - this.fill));
  }

  /** A socket read put `n` bytes into the window it was given, of `size` bytes. */
  landed(n: number, size: number): void {
    this.fill += n;
    // A full chunk goes on; so do the bytes of a read that drained the socket, as append's end-of-turn flush would.
    if (this.fill === POOL_CHUNK || n < size) this.flush();
  }

  private readonly flushSoon = (): void => {
    this.flushTimer = undefined;
    if (!this.destroyed) this.flush();
  };

  private flush(): void {
    if (this.flushTimer) {
      clearImmediate(this.flushTimer);
      this.flushTimer = undefined;
    }
    const chunk = this.chunk;
    if (!chunk || this.fill === 0) return;
    let out: Buffer;
    if (this.fill >= SMALL_PIECE) {
      out = this.fill === POOL_CHUNK ? chunk : chunk.subarray(0, this.fill);
      // Nobody else refers to this memory: whoever holds it last may give it back to the pool.
      markExclusive(out);
      this.chunk = undefined;
    } else {
      out = Buffer.allocUnsafeSlow(this.fill);
      chunk.copy(out, 0, 0, this.fill);
    }
    this.fill = 0;
    if (!this.push(out)) this.exchange.pause();
  }

  finish(): void {
    this.complete = true;
    this.flush();
    this.releaseChunk();
    this.push(null);
  }

  private releaseChunk(): void {
    if (!this.chunk) return;
    returnChunk(this.chunk);
    this.chunk = undefined;
    this.fill = 0;
  }

  override _read(): void {
    this.exchange.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.flushTimer) clearImmediate(this.flushTimer);
    this.releaseChunk();
    // A body left before its end leaves the connection mid-response: it cannot carry another request.
    if (!this.complete) this.exchange.abandon();
    cb(err);
  }
}

/** One request/response on a connection. */
interface Exchange {
  pause(): void;
  resume(): void;
  /** The body's reader left before the end. */
  abandon(): void;
}

class Connection {
  readonly readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER);
  socket!: Socket;
  /** Whether the connection already carried a response (a failure before any byte may then be a stale keep-alive). */
  reused = false;
  private current: ActiveExchange | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  closed = false;

  constructor(
    readonly origin: Origin,
    readonly pool: Http1Client,
  ) {}

  attach(socket: Socket): void {
    this.socket = socket;
    socket.on('error', (err) => this.lost(err));
    socket.on('end', () => this.lost());
    socket.on('close', () => this.lost());
    socket.on('timeout', () => this.current?.fail(new Error(`upstream sent nothing for ${this.pool.opts.idleTimeoutMs} ms`)));
  }

  /** The buffer the socket reads into next (net asks after every read). */
  nextBuffer(): Buffer {
    return this.current?.target() ?? this.readBuffer;
  }

  onRead(nread: number, buf: Buffer): void {
    const ex = this.current;
    if (!ex) {
      // Bytes nobody asked for: the connection is out of step.
      this.destroy();
      return;
    }
    ex.feed(buf, nread);
  }

  /** The socket failed or ended. */
  private lost(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.pool.forget(this);
    const ex = this.current;
    this.current = undefined;
    ex?.ended(err);
    this.socket.destroy();
  }

  destroy(): void {
    this.lost();
  }

  start(ex: ActiveExchange): void {
    clearTimeout(this.idleTimer);
    this.current = ex;
    this.socket.ref();
    this.socket.setTimeout(this.pool.opts.idleTimeoutMs);
  }

  /** The exchange is over: the connection goes back to the pool when it can carry another request. */
  done(ex: ActiveExchange, reusable: boolean): void {
    if (this.current !== ex) return;
    this.current = undefined;
    this.socket.setTimeout(0);
    if (!reusable || this.closed) return this.destroy();
    this.reused = true;
    // The exchange may have paused the socket for a slow reader and then found the end of its response in the same
    // read: a socket left paused would never read the next response (nor notice the server closing it).
    this.socket.resume();
    this.socket.unref();
    const keepAliveMs = Math.min(this.pool.opts.keepAliveMs ?? 30_000, ex.serverKeepAliveMs());
    this.idleTimer = setTimeout(() => this.destroy(), keepAliveMs);
    this.idleTimer.unref();
    this.pool.release(this);
  }
}

/** The life of one request on one connection: write it, parse the answer, stream the body. */
class ActiveExchange implements Exchange {
  private readonly parser: ResponseParser;
  private head: ResponseHead | undefined;
  private body: Body | undefined;
  private paused = false;
  private finished = false;
  /** The body window the socket reads into next, if it does (see target). */
  private lent: Buffer | undefined;
  private extra = false;

  constructor(
    private readonly conn: Connection,
    method: 'GET' | 'HEAD',
    private readonly onHead: (res: Http1Response) => void,
    /** Failed before the response's head: `retryable` when no byte of it came and a fresh connection may try again. */
    private readonly onEarlyFailure: (err: Error, retryable: boolean) => void,
  ) {
    this.parser = new ResponseParser(
      {
        head: (h) => {
          this.head = h;
          this.body = new Body(this);
          this.onHead({ status: h.status, headers: h.headers, body: this.body });
        },
        body: (buf, start, end) => this.body!.append(buf, start, end),
        end: () => {
          this.finished = true;
          this.body!.finish();
        },
      },
      method === 'HEAD',
    );
  }

  /** Where the next socket read goes: body bytes straight into the body's pool chunk, anything else the read buffer. */
  target(): Buffer {
    const max = this.body && !this.finished ? this.parser.bodyWindow : 0;
    // Short stretches (small chunked-coding chunks, a body's last bytes) go through the read buffer, where one read
    // takes them together with the framing after them.
    this.lent = max >= SMALL_PIECE ? this.body!.window(max) : undefined;
    return this.lent ?? this.conn.readBuffer;
  }

  feed(buf: Buffer, nread: number): void {
    if (buf === this.lent) {
      this.lent = undefined;
      this.body!.landed(nread, buf.length);
      this.parser.consumed(nread);
      if (this.finished) this.conn.done(this, this.head!.keepAlive);
      return;
    }
    try {
      const used = this.parser.execute(buf, 0, nread);
      if (used < nread) this.extra = true;
    } catch (err) {
      return this.fail(err as Error);
    }
    if (this.finished) this.conn.done(this, this.head!.keepAlive && !this.extra);
  }

  /** The socket ended or failed under this exchange. */
  ended(err?: Error): void {
    if (this.finished) return;
    try {
      if (!err) this.parser.eof();
    } catch (e) {
      err = e as Error;
    }
    if (this.finished) return; // a body delimited by the connection's end
    this.fail(err ?? new Error('upstream connection closed'), true);
  }

  fail(err: Error, connectionLost = false): void {
    if (this.finished) return;
    this.finished = true;
    // Only a connection that ended or failed before any byte of the answer looks like a stale keep-alive. A timeout
    // (or a malformed answer) is the server's doing: sending the request again would only double the wait.
    if (!this.head) this.onEarlyFailure(err, connectionLost && this.conn.reused && !this.parser.started);
    else this.body!.destroy(err);
    this.conn.destroy();
  }

  pause(): void {
    if (this.paused || this.finished) return;
    this.paused = true;
    // A reader that is slow is not an upstream that is silent.
    this.conn.socket.setTimeout(0);
    this.conn.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.finished) return;
    this.conn.socket.setTimeout(this.conn.pool.opts.idleTimeoutMs);
    this.conn.socket.resume();
  }

  abandon(): void {
    if (this.finished) return;
    this.finished = true;
    this.conn.destroy();
  }

  serverKeepAliveMs(): number {
    const m = /timeout=(\d+)/i.exec(this.head?.headers['keep-alive'] ?? '');
    // Closing a second early avoids sending a request on a connection the server is closing.
    return m ? Math.max(0, Number(m[1]) - 1) * 1000 : Infinity;
  }
}

interface Waiter {
  resolve(c: Connection | null): void;
}

/** Keep-alive connections per origin, at most `maxPerOrigin` each. */
export class Http1Client {
  private readonly idle = new Map<string, Connection[]>();
  private readonly open = new Map<string, number>();
  private readonly waiting = new Map<string, Waiter[]>();
  private closing = false;

  constructor(readonly opts: Http1ClientOptions) {}

  async request(url: URL, req: Http1Request): Promise<Http1Response> {
    const origin = originOf(url, req.via !== undefined ? (req.via ?? undefined) : this.opts.proxyFor?.(url));
    const bytes = serialize(url, req, origin);
    req.signal?.throwIfAborted();
    // A kept-alive connection the server closed meanwhile fails before any byte: try once more on a new one.
    for (let attempt = 0; ; attempt++) {
      const conn = await this.acquire(origin, req.signal, attempt > 0);
      try {
        return await this.exchange(conn, bytes, req);
      } catch (err) {
        if (!(err instanceof RetryOnFreshConnection) || attempt > 0) throw err instanceof RetryOnFreshConnection ? err.cause : err;
      }
    }
  }

  private exchange(conn: Connection, bytes: string, req: Http1Request): Promise<Http1Response> {
    const signal = req.signal;
    return new Promise<Http1Response>((resolve, reject) => {
      const onAbort = () => ex.fail(signal!.reason instanceof Error ? signal!.reason : new Error(String(signal!.reason)));
      const ex = new ActiveExchange(
        conn,
        req.method,
        (res) => {
          // An abort mid-body fails the body: the listener lives as long as the body.
          if (signal) res.body.once('close', () => signal.removeEventListener('abort', onAbort));
          resolve(res);
        },
        (err, retryable) => {
          signal?.removeEventListener('abort', onAbort);
          reject(retryable && !signal?.aborted ? new RetryOnFreshConnection(err) : err);
        },
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      conn.start(ex);
      // Aborted while the connection was being made (or handed over): that 'abort' event has passed already.
      if (signal?.aborted) return onAbort();
      conn.socket.write(bytes, 'latin1');
    });
  }

  private async acquire(origin: Origin, signal: AbortSignal | undefined, fresh: boolean): Promise<Connection> {
    if (this.closing) throw new Error('upstream client closed');
    const idle = this.idle.get(origin.key);
    while (!fresh && idle && idle.length > 0) {
      const c = idle.pop()!;
      if (!c.closed) return c;
    }
    const open = this.open.get(origin.key) ?? 0;
    if (open >= (this.opts.maxPerOrigin ?? 64)) {
      const c = await new Promise<Connection | null>((resolve) => {
        const list = this.waiting.get(origin.key) ?? [];
        const onAbort = () => {
          const i = list.indexOf(w);
          if (i >= 0) list.splice(i, 1);
          resolve(null);
        };
        // Handed a connection (or a slot): the abort listener goes, or a long-lived signal would collect them.
        const w: Waiter = {
          resolve: (conn) => {
            signal?.removeEventListener('abort', onAbort);
            resolve(conn);
          },
        };
        list.push(w);
        this.waiting.set(origin.key, list);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      if (signal?.aborted) {
        // Aborted just after a connection was handed over: it goes to the next in line (or idle), or its slot would be
        // lost until its keep-alive timer ran out.
        if (c && !c.closed) this.release(c);
        signal.throwIfAborted();
      }
      // Handed over by a finished exchange, or a slot freed by a closed connection.
      return c ?? this.acquire(origin, signal, fresh);
    }
    this.open.set(origin.key, open + 1);
    try {
      return await this.connect(origin);
    } catch (err) {
      this.open.set(origin.key, (this.open.get(origin.key) ?? 1) - 1);
      this.wakeOne(origin.key, null);
      throw err;
    }
  }

  private async connect(origin: Origin): Promise<Connection> {
    const conn = new Connection(origin, this);
    const onread = {
      buffer: () => conn.nextBuffer(),
      callback: (n: number, buf: Uint8Array) => {
        conn.onRead(n, buf as Buffer);
        return true; // pausing goes through socket.pause()
      },
    };
    const keep = { noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 };
    const tlsOptions = { servername: isIP(origin.host) ? undefined : origin.host, ALPNProtocols: ['http/1.1'], ...this.opts.tls };
    const proxy = origin.proxy;
    // One deadline for all of it: the connection, a proxy's CONNECT, the TLS handshake.
    let current: Socket | undefined;
    const timer = setTimeout(() => current?.destroy(new Error(`connecting to ${origin.key} timed out after ${this.opts.connectTimeoutMs} ms`)), this.opts.connectTimeoutMs);
    try {
      if (!proxy || !origin.tls) {
        // Direct, or a plain-http request that the proxy forwards: the socket reads straight into the body's chunks.
        const base = { host: proxy?.host ?? origin.host, port: proxy?.port ?? origin.port, onread, ...keep };
        current = origin.tls && !proxy ? tlsConnect({ ...base, ...tlsOptions }) : netConnect(base);
        await established(current, origin.tls ? 'secureConnect' : 'connect');
      } else {
        current = netConnect({ host: proxy.host, port: proxy.port, ...keep });
        await established(current, 'connect');
        await openTunnel(current, origin.host, origin.port, proxy);
        // TLS over a socket it is given takes no `onread`: its reads arrive as 'data' (see feedFromData).
        current = tlsConnect({ socket: current, ...tlsOptions });
        await established(current, 'secureConnect');
        feedFromData(current, conn);
      }
    } catch (err) {
      current?.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    conn.attach(current);
    return conn;
  }

  /** A connection is free for the next request. */
  release(conn: Connection): void {
    if (this.closing) return conn.destroy();
    if (this.wakeOne(conn.origin.key, conn)) return;
    const list = this.idle.get(conn.origin.key) ?? [];
    list.push(conn);
    this.idle.set(conn.origin.key, list);
  }

  /** A connection closed: its slot is free. */
  forget(conn: Connection): void {
    const list = this.idle.get(conn.origin.key);
    const i = list?.indexOf(conn) ?? -1;
    if (i >= 0) list!.splice(i, 1);
    this.open.set(conn.origin.key, Math.max(0, (this.open.get(conn.origin.key) ?? 1) - 1));
    this.wakeOne(conn.origin.key, null);
  }

  private wakeOne(key: string, conn: Connection | null): boolean {
    const w = this.waiting.get(key)?.shift();
    if (!w) return false;
    w.resolve(conn);
    return true;
  }

  /** Closes idle connections; responses under way finish, and their connections close after them. */
  async close(): Promise<void> {
    this.closing = true;
    for (const list of this.idle.values()) for (const c of [...list]) c.destroy();
    this.idle.clear();
    for (const list of this.waiting.values()) for (const w of list.splice(0)) w.resolve(null);
  }
}

/** Resolves once `socket` emits `event`; rejects if it fails or closes first. */
function established(socket: Socket, event: 'connect' | 'secureConnect'): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      socket.off(event, onEvent);
      socket.off('close', onClose);
      reject(err);
    };
    const onClose = () => onError(new Error('the connection closed while it was being made'));
    const onEvent = () => {
      socket.off('error', onError);
      socket.off('close', onClose);
      resolve();
    };
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.once(event, onEvent);
  });
}

/**
 * Hands a socket's 'data' to the connection as reads into its read buffer would arrive: body bytes are copied into
 * pool chunks that go on when full or at the end of the event-loop turn (a TLS record at a time would otherwise
 * make a piece of each).
 */
function feedFromData(socket: Socket, conn: Connection): void {
  socket.on('data', (data: Buffer) => conn.onRead(data.length, data));
}

class RetryOnFreshConnection extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message);
  }
}
