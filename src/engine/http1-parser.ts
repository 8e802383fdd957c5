/**
 * An incremental HTTP/1.x response parser (RFC 9112): status line and header fields, then the body framed by
 * Content-Length, chunked transfer coding, or the end of the connection. It copies nothing it does not have to:
 * body bytes are reported as ranges of the buffer it was fed, which the caller copies out before the buffer is
 * read into again (see http1-client).
 */

/** Status line plus header fields; more than this is refused (undici and node:http allow 16–64 KiB too). */
const MAX_HEAD = 64 * 1024;
/** A chunk-size line (with its extensions) or a trailer field longer than this is refused. */
const MAX_LINE = 8 * 1024;

export class ResponseParseError extends Error {
  override readonly name = 'ResponseParseError';
}

export interface ResponseHead {
  status: number;
  /** Minor version: 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minor: 0 | 1;
  /** Lower-cased names; repeated fields joined with ", ". */
  headers: Record<string, string>;
  /** Whether the connection may carry another request once this response is read. */
  keepAlive: boolean;
}

export interface ParserEvents {
  /** The final (non-1xx) status and headers. */
  head(h: ResponseHead): void;
  /** Body bytes `buf[start, end)`; the range is only valid during the call. */
  body(buf: Buffer, start: number, end: number): void;
  /** The whole response was read. */
  end(): void;
}

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-data-end' | 'trailers' | 'close' | 'done';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\r\n]*)?$/;

export class ResponseParser {
  private state: State = 'head';
  /** Header bytes gathered across reads until the blank line. */
  private headParts: Buffer[] = [];
  private headLength = 0;
  private line = '';
  private remaining = 0;

  constructor(
    private readonly events: ParserEvents,
    /** A response to HEAD has no body, whatever its Content-Length says. */
    private readonly isHead: boolean,
  ) {}

  get done(): boolean {
    return this.state === 'done';
  }

  /** Whether any byte of the final response's head arrived (a retry on a fresh connection is then unsafe). */
  get started(): boolean {
    return this.state !== 'head' || this.headLength > 0;
  }

  /**
   * Feeds `buf[start, end)`. Returns where parsing stopped: `end`, or earlier when the response ended there (the
   * bytes after it belong to nothing this client asked for). Throws ResponseParseError on a malformed response.
   */
  execute(buf: Buffer, start: number, end: number): number {
    let i = start;
    while (i < end && this.state !== 'done') {
      switch (this.state) {
        case 'head':
          i = this.readHead(buf, i, end);
          break;
        case 'length': {
          const n = Math.min(this.remaining, end - i);
          this.events.body(buf, i, i + n);
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) this.finish();
          break;
        }
        case 'close':
          this.events.body(buf, i, end);
          i = end;
          break;
        case 'chunk-data': {
          const n = Math.min(this.remaining, end - i);
          this.events.body(buf, i, i + n);
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'chunk-data-end';
          break;
        }
        case 'chunk-size':
        case 'chunk-data-end':
        case 'trailers':
          i = this.readLine(buf, i, end);
          break;
      }
    }
    return i;
  }

  /** How many of the next bytes are body (no framing among them): a caller may read them into its own memory. */
  get bodyWindow(): number {
    if (this.state === 'length' || this.state === 'chunk-data') return this.remaining;
    return this.state === 'close' ? Infinity : 0;
  }

  /** `n` body bytes (at most bodyWindow) arrived in the caller's memory: accounted as if fed, with no body event. */
  consumed(n: number): void {
    if (n > this.bodyWindow) throw new Error(`${n} bytes consumed, only ${this.bodyWindow} were body`);
    if (this.state === 'close') return;
    this.remaining -= n;
    if (this.remaining > 0) return;
    if (this.state === 'length') this.finish();
    else this.state = 'chunk-data-end';
  }

  /** The connection ended: that completes a body delimited by it, anything else is cut short. */
  eof(): void {
    if (this.state === 'close') return this.finish();
    if (this.state !== 'done') throw new ResponseParseError(this.started ? 'upstream closed the connection before the end of its response' : 'upstream closed the connection without answering');
  }

  private finish(): void {
    this.state = 'done';
    this.events.end();
  }

  private readHead(buf: Buffer, i: number, end: number): number {
    // The blank line may straddle reads: look for it from up to 3 bytes before this read. Those bytes may lie in
    // several earlier short reads ("\r", "\n", "\r" then "\n"), not just the last one: every part holds at least one
    // byte, so the last three parts hold them.
    const prev = this.headParts.length > 0 ? Buffer.concat(this.headParts.slice(-3)) : undefined;
    const tail = prev ? prev.subarray(Math.max(0, prev.length - 3)) : Buffer.alloc(0);
    const window = tail.length > 0 ? Buffer.concat([tail, buf.subarray(i, Math.min(end, i + MAX_HEAD))]) : buf.subarray(i, end);
    const at = window.indexOf('\r\n\r\n');
    if (at < 0) {
      this.headLength += end - i;
      if (this.headLength > MAX_HEAD) throw new ResponseParseError(`response head exceeds ${MAX_HEAD} bytes`);
      this.headParts.push(Buffer.from(buf.subarray(i, end)));
      return end;
    }
    const stop = i + at + 4 - tail.length;
    this.headParts.push(buf.subarray(i, stop));
    const text = Buffer.concat(this.headParts).toString('latin1');
    this.headLength += stop - i;
    if (this.headLength > MAX_HEAD) throw new ResponseParseError(`response head exceeds ${MAX_HEAD} bytes`);
    this.headParts = [];
    this.headLength = 0;
    this.onHead(text.slice(0, -4));
    return stop;
  }

  private onHead(text: string): void {
    const lines = text.split('\r\n');
    const m = STATUS_LINE.exec(lines[0]!);
    if (!m) throw new ResponseParseError(`malformed status line ${JSON.stringify(lines[0]!.slice(0, 80))}`);
    const minor = m[1] === '1' ? 1 : 0;
    const status = Number(m[2]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon) : '';
      if (!TOKEN.test(name)) throw new ResponseParseError(`malformed header line ${JSON.stringify(line.slice(0, 80))}`);
      const value = line.slice(colon + 1).trim();
      if (/[\r\n\0]/.test(value)) throw new ResponseParseError(`header ${name} holds a control character`);
      const key = name.toLowerCase();
      headers[key] = key in headers ? `${headers[key]}, ${value}` : value;
    }
    // Interim responses (100 Continue, 103 Early Hints) precede the real one.
    if (status < 200) {
      if (status === 101) throw new ResponseParseError('upstream switched protocols');
      return;
    }
    const connection = (headers.connection ?? '').toLowerCase().split(',').map((t) => t.trim());
    let keepAlive = minor === 1 ? !connection.includes('close') : connection.includes('keep-alive');
    if (this.isHead || status === 204 || status === 304) {
      this.events.head({ status, minor, headers, keepAlive });
      return this.finish();
    }
    const te = headers['transfer-encoding'];
    // Both framings at once is how responses get split or smuggled (RFC 9112 §6.3), and the Content-Length handed on
    // with the headers would not be the body's length: refused, as undici and node:http refuse it.
    if (te !== undefined && headers['content-length'] !== undefined) throw new ResponseParseError('response has both transfer-encoding and content-length');
    if (te !== undefined) {
      const codings = te.toLowerCase().split(',').map((t) => t.trim());
      // Anything but chunked would change the bytes; an artifact's bytes are what its digest covers.
      if (codings.length !== 1 || codings[0] !== 'chunked') throw new ResponseParseError(`unsupported transfer-encoding "${te}"`);
      this.state = 'chunk-size';
    } else if (headers['content-length'] !== undefined) {
      const values = new Set(headers['content-length'].split(',').map((v) => v.trim()));
      const [v] = values;
      if (values.size !== 1 || !/^\d{1,16}$/.test(v!) || !Number.isSafeInteger(Number(v))) throw new ResponseParseError(`malformed content-length "${headers['content-length']}"`);
      this.remaining = Number(v);
      this.state = 'length';
    } else {
      this.state = 'close';
      keepAlive = false;
    }
    this.events.head({ status, minor, headers, keepAlive });
    if (this.state === 'length' && this.remaining === 0) this.finish();
  }

  /** Gathers a CRLF-terminated line (chunk size, the CRLF after chunk data, a trailer field). */
  private readLine(buf: Buffer, i: number, end: number): number {
    const nl = buf.indexOf(0x0a, i);
    const stop = nl < 0 || nl >= end ? end : nl + 1;
    this.line += buf.toString('latin1', i, stop);
    if (this.line.length > MAX_LINE) throw new ResponseParseError(`chunked framing line exceeds ${MAX_LINE} bytes`);
    if (!this.line.endsWith('\n')) return stop;
    const line = this.line.endsWith('\r\n') ? this.line.slice(0, -2) : this.line.slice(0, -1);
    this.line = '';
    switch (this.state) {
      case 'chunk-size': {
        const m = /^([0-9a-fA-F]{1,13})[ \t]*(?:;.*)?$/.exec(line);
        if (!m) throw new ResponseParseError(`malformed chunk size ${JSON.stringify(line.slice(0, 40))}`);
        this.remaining = parseInt(m[1]!, 16);
        this.state = this.remaining === 0 ? 'trailers' : 'chunk-data';
        break;
      }
      case 'chunk-data-end':
        if (line !== '') throw new ResponseParseError('chunk data longer than its size');
        this.state = 'chunk-size';
        break;
      case 'trailers':
        // Trailer fields are read and dropped; the blank line ends the message.
        if (line === '') this.finish();
        break;
    }
    return stop;
  }
}
