import type { Readable } from 'node:stream';

/**
 * The engine-neutral request/response API. Only src/http/ knows whether uWebSockets.js or
 * node:http is underneath; everything else sees these two interfaces.
 */
export type EngineName = 'uws' | 'node';

export interface HttpRequest {
  /** Unique id for logs and the X-Request-Id header. */
  readonly id: string;
  /** Upper-case method. */
  readonly method: string;
  /** Raw request target path as sent (percent-encoding intact, no query). */
  readonly rawPath: string;
  /** Raw query string without the leading `?` ('' when absent). */
  readonly rawQuery: string;
  readonly query: URLSearchParams;
  /** Lower-case header names; repeated headers joined with ', '. */
  readonly headers: Readonly<Record<string, string>>;
  header(name: string): string | undefined;
  readonly remoteAddress: string;
  /** Parsed Content-Length, or undefined for chunked / absent. */
  readonly contentLength: number | undefined;
  /**
   * Body bytes received so far (chunked bodies included). Always set by the engines; optional only so that
   * request variants built by hand stay valid.
   */
  readonly bytesRead?: number;
  /**
   * The body as a backpressured Readable of Buffers. When the consumer stops reading, the engine
   * stops reading the socket. Can be taken once. Destroyed with an AbortedError if the client goes away.
   */
  body(): Readable;
  /** Read the whole body into memory, refusing more than `limit` bytes (413). For small JSON bodies only. */
  readBody(limit: number): Promise<Buffer>;
  /** Aborted when the client disconnects before the response is complete. */
  readonly signal: AbortSignal;
  /** Per-request annotations for the access log (repo name, artifact source, ...). */
  readonly log: Record<string, unknown>;
}

export interface HttpResponse {
  /** True once the status line and headers were handed to the engine. */
  readonly headersSent: boolean;
  /** True once the response finished or the client went away. */
  readonly finished: boolean;
  readonly aborted: boolean;
  status(code: number): this;
  setHeader(name: string, value: string | number): this;
  getStatus(): number;
  /** Send a complete response. `body` may be omitted (e.g. 204, HEAD). */
  end(body?: Buffer | string): void;
  /**
   * Answer a HEAD-style response: headers including the Content-Length the GET would have,
   * and no body.
   */
  endWithoutBody(contentLength?: number): void;
  /**
   * Stream a body with backpressure: the source is paused while the socket is full.
   * When `length` is given it is sent as Content-Length, otherwise chunked encoding is used.
   * Resolves when the whole body was handed to the socket; rejects (and destroys the source)
   * if the client goes away. If the source fails midway the connection is closed so the
   * client cannot mistake a truncated body for a complete one.
   */
  stream(source: Readable, length?: number): Promise<void>;
  /** Bytes of body written so far (for logs/metrics). */
  readonly bytesWritten: number;
  /** Close the connection abruptly (used when a streamed body fails half-way). */
  destroy(): void;
}

export type Handler = (req: HttpRequest, res: HttpResponse) => Promise<void> | void;

export interface ServerOptions {
  host: string;
  port: number;
  handler: Handler;
  /** Called with every finished request for logging/metrics. */
  onFinish?: (req: HttpRequest, res: HttpResponse, ms: number) => void;
}

export interface RunningServer {
  readonly engine: EngineName;
  readonly port: number;
  /** Stop accepting; wait up to `graceMs` for in-flight requests, then close the rest. */
  close(graceMs?: number): Promise<void>;
}
