import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Http1Client, type Http1ClientOptions, type Http1Response } from '../src/engine/http1-client.js';
import { ResponseParseError, ResponseParser, type ResponseHead } from '../src/engine/http1-parser.js';
import { UpstreamClient } from '../src/engine/upstream.js';
import { isExclusive } from '../src/util/chunk-pool.js';
import { HAVE_OPENSSL, selfSignedCert } from './helpers/tls-cert.js';

const KiB = 1024;
const MiB = 1024 * KiB;

// ---------------------------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------------------------

interface Parsed {
  parser: ResponseParser;
  heads: ResponseHead[];
  body: Buffer;
  readonly ends: number;
  /** Bytes execute() reported as consumed, over all calls. */
  used: number;
}

/** What the scratch buffer holds outside the piece being fed: framing-like bytes, so a parser reading past `end` trips. */
const JUNK = Buffer.from('\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n\n');

/**
 * Feeds `bytes`, cut at `cuts`, through one scratch buffer (at an offset, with junk around the piece) that is
 * overwritten after every call, as the client's reused read buffer is: body ranges are copied out during the call.
 */
function parse(bytes: Buffer, cuts: number[], opts: { isHead?: boolean; eof?: boolean } = {}): Parsed {
  const heads: ResponseHead[] = [];
  const parts: Buffer[] = [];
  let ends = 0;
  const parser = new ResponseParser(
    {
      head: (h) => heads.push(h),
      body: (buf, start, end) => {
        expect(end).toBeGreaterThanOrEqual(start);
        parts.push(Buffer.from(buf.subarray(start, end)));
      },
      end: () => ends++,
    },
    opts.isHead ?? false,
  );
  let used = 0;
  let pos = 0;
  for (const cut of [...cuts, bytes.length]) {
    const off = 7;
    const len = cut - pos;
    const scratch = Buffer.allocUnsafe(off + len + 2 * JUNK.length).fill(JUNK);
    bytes.copy(scratch, off, pos, cut);
    const stop = parser.execute(scratch, off, off + len);
    expect(stop).toBeGreaterThanOrEqual(off);
    expect(stop).toBeLessThanOrEqual(off + len);
    used += stop - off;
    scratch.fill(JUNK);
    pos = cut;
    if (parser.done) break;
  }
  if (opts.eof) parser.eof();
  // `ends` stays live, for eof() called afterwards.
  return { parser, heads, body: Buffer.concat(parts), used, get ends() { return ends; } };
}

/** Every way of feeding `bytes` that we check: in one piece, in two pieces cut at every byte boundary, byte by byte. */
function feedings(length: number): { name: string; cuts: number[] }[] {
  const out = [{ name: 'one piece', cuts: [] as number[] }];
  for (let k = 1; k < length; k++) out.push({ name: `cut at ${k}`, cuts: [k] });
  out.push({ name: 'byte by byte', cuts: Array.from({ length: Math.max(0, length - 1) }, (_, k) => k + 1) });
  // Three pieces around every point (the end of a head split over several short reads).
  for (let k = 1; k + 2 < length; k++) out.push({ name: `cuts at ${k},${k + 1},${k + 2}`, cuts: [k, k + 1, k + 2] });
  return out;
}

interface Expected {
  status: number;
  minor?: 0 | 1;
  headers?: Record<string, string>;
  keepAlive: boolean;
  body: string | Buffer;
  /** Bytes that belong to the response (default: all). */
  used?: number;
}

function expectEverywhere(text: string | Buffer, want: Expected, opts: { isHead?: boolean; eof?: boolean } = {}): void {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  const wantBody = typeof want.body === 'string' ? Buffer.from(want.body, 'latin1') : want.body;
  for (const f of feedings(bytes.length)) {
    let r: Parsed;
    try {
      r = parse(bytes, f.cuts, opts);
    } catch (err) {
      throw new Error(`${f.name}: ${(err as Error).message}`);
    }
    const ctx = f.name;
    expect(r.heads, ctx).toHaveLength(1);
    const h = r.heads[0]!;
    expect(h.status, ctx).toBe(want.status);
    if (want.minor !== undefined) expect(h.minor, ctx).toBe(want.minor);
    if (want.headers) expect(h.headers, ctx).toEqual(want.headers);
    expect(h.keepAlive, ctx).toBe(want.keepAlive);
    expect(r.body.toString('latin1'), ctx).toBe(wantBody.toString('latin1'));
    expect(r.ends, ctx).toBe(1);
    expect(r.parser.done, ctx).toBe(true);
    if (!opts.eof) expect(r.used, ctx).toBe(want.used ?? bytes.length);
  }
}

function expectErrorEverywhere(text: string | Buffer, pattern: RegExp, opts: { isHead?: boolean; eof?: boolean; step?: number } = {}): void {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  const ways = opts.step
    ? [{ name: 'one piece', cuts: [] as number[] }, ...Array.from({ length: Math.ceil(bytes.length / opts.step) - 1 }, (_, k) => ({ name: `cut at ${(k + 1) * opts.step!}`, cuts: [(k + 1) * opts.step!] })), { name: `pieces of ${opts.step}`, cuts: Array.from({ length: Math.ceil(bytes.length / opts.step) - 1 }, (_, k) => (k + 1) * opts.step!) }]
    : feedings(bytes.length);
  for (const f of ways) {
    let thrown: unknown;
    try {
      parse(bytes, f.cuts, opts);
    } catch (err) {
      thrown = err;
    }
    expect(thrown, f.name).toBeInstanceOf(ResponseParseError);
    expect((thrown as Error).message, f.name).toMatch(pattern);
  }
}

describe('ResponseParser', () => {
  it('a Content-Length body, fed in every way, gives the same head, bytes and one end', () => {
    expectEverywhere('HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: text/plain\r\nETag:  "abc"  \r\n\r\nhello world', {
      status: 200,
      minor: 1,
      headers: { 'content-length': '11', 'content-type': 'text/plain', etag: '"abc"' },
      keepAlive: true,
      body: 'hello world',
    });
  });

  it('a body of binary bytes (CR, LF, NUL, high bytes) passes untouched', () => {
    const payload = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0, 0xff, 0x80, 0x0a, 0x30, 0x0d, 0x0a, 0x0d, 0x0a]);
    const bytes = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${payload.length}\r\n\r\n`), payload]);
    expectEverywhere(bytes, { status: 200, keepAlive: true, body: payload });
    const chunked = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${payload.length.toString(16)}\r\n`), payload, Buffer.from('\r\n0\r\n\r\n')]);
    expectEverywhere(chunked, { status: 200, keepAlive: true, body: payload });
  });

  it('a zero-length body ends with the head', () => {
    expectEverywhere('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', { status: 200, keepAlive: true, body: '' });
  });

  it('the reason phrase is optional and may hold anything printable', () => {
    expectEverywhere('HTTP/1.1 404\r\nContent-Length: 1\r\n\r\nx', { status: 404, keepAlive: true, body: 'x' });
    expectEverywhere('HTTP/1.1 500 Very: Bad / Things\r\nContent-Length: 0\r\n\r\n', { status: 500, keepAlive: true, body: '' });
  });

  it('a response to HEAD has no body whatever its Content-Length says (the bytes after the head are not read)', () => {
    const head = 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n';
    expectEverywhere(head, { status: 200, headers: { 'content-length': '1000' }, keepAlive: true, body: '' }, { isHead: true });
    // The same head for a GET waits for the 1000 bytes.
    const r = parse(Buffer.from(head), []);
    expect(r.ends).toBe(0);
    expect(r.parser.done).toBe(false);
    // Whatever follows a HEAD response belongs to something else.
    expectEverywhere(`${head}HTTP/1.1 200 OK\r\n`, { status: 200, keepAlive: true, body: '', used: head.length }, { isHead: true });
    // A chunked HEAD response has no body either.
    expectEverywhere('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', { status: 200, keepAlive: true, body: '' }, { isHead: true });
  });

  it('204 and 304 have no body, even with a Content-Length', () => {
    expectEverywhere('HTTP/1.1 204 No Content\r\n\r\n', { status: 204, keepAlive: true, body: '' });
    const notModified = 'HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nETag: "x"\r\n\r\n';
    expectEverywhere(notModified, { status: 304, headers: { 'content-length': '5', etag: '"x"' }, keepAlive: true, body: '' });
    expectEverywhere(`${notModified}hello`, { status: 304, keepAlive: true, body: '', used: notModified.length });
  });

  it('a chunked body with chunk extensions and trailer fields', () => {
    const payload = 'abcdefghijklmnopqrstuvwxyz';
    const text =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n' +
      '5;name=value\r\nhello\r\n' +
      '6 ; quoted="a;b" ;flag\r\n world\r\n' +
      `1A\r\n${payload}\r\n` +
      `00000001\r\n!\r\n` +
      '0;last\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n';
    expectEverywhere(text, {
      status: 200,
      headers: { 'transfer-encoding': 'chunked', trailer: 'X-Checksum' },
      keepAlive: true,
      body: `hello world${payload}!`,
    });
  });

  it('a chunk-size line split across reads', () => {
    const text = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' + '10000;ext=1\r\n' + 'z'.repeat(0x10000) + '\r\n0\r\n\r\n';
    const bytes = Buffer.from(text, 'latin1');
    const sizeLine = text.indexOf('10000;');
    for (let k = sizeLine; k <= sizeLine + '10000;ext=1\r\n'.length; k++) {
      const r = parse(bytes, [k]);
      expect(r.body.length, `cut at ${k}`).toBe(0x10000);
      expect(r.body.equals(Buffer.alloc(0x10000, 'z')), `cut at ${k}`).toBe(true);
      expect(r.ends).toBe(1);
      // And in three reads: the size line in the middle one alone.
      const r3 = parse(bytes, [sizeLine, k === sizeLine ? sizeLine + 1 : k]);
      expect(r3.body.length).toBe(0x10000);
      expect(r3.ends).toBe(1);
    }
  });

  it('a close-delimited body ends at eof(), and its connection cannot be reused', () => {
    const text = 'HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\nthe bytes until the end';
    expectEverywhere(text, { status: 200, keepAlive: false, body: 'the bytes until the end' }, { eof: true });
    // Until then it is not over.
    const r = parse(Buffer.from(text), []);
    expect(r.ends).toBe(0);
    expect(r.parser.done).toBe(false);
    expect(r.heads[0]!.keepAlive).toBe(false);
    r.parser.eof();
    expect(r.ends).toBe(1);
    expect(r.parser.done).toBe(true);
    // An empty close-delimited body.
    expectEverywhere('HTTP/1.0 200 OK\r\n\r\n', { status: 200, minor: 0, keepAlive: false, body: '' }, { eof: true });
  });

  it('eof() in the middle of a Content-Length or chunked body, or of the head, throws', () => {
    const cl = parse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'), []);
    expect(cl.body.toString()).toBe('abc');
    expect(() => cl.parser.eof()).toThrow(ResponseParseError);
    expect(() => cl.parser.eof()).toThrow(/before the end/);
    expect(cl.ends).toBe(0);
    const chunked = parse(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n'), []);
    expect(() => chunked.parser.eof()).toThrow(ResponseParseError);
    const midHead = parse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Le'), []);
    expect(midHead.parser.started).toBe(true);
    expect(() => midHead.parser.eof()).toThrow(/before the end/);
    const nothing = new ResponseParser({ head: () => {}, body: () => {}, end: () => {} }, false);
    expect(nothing.started).toBe(false);
    expect(() => nothing.eof()).toThrow(/without answering/);
    // After the end, eof() is fine.
    const whole = parse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx'), []);
    expect(() => whole.parser.eof()).not.toThrow();
    expect(whole.ends).toBe(1);
  });

  it('interim 100 and 103 responses before the final one are skipped', () => {
    const text =
      'HTTP/1.1 100 Continue\r\n\r\n' +
      'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Final: yes\r\n\r\nok';
    expectEverywhere(text, { status: 200, headers: { 'content-length': '2', 'x-final': 'yes' }, keepAlive: true, body: 'ok' });
    const r = parse(Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'), []);
    expect(r.heads).toHaveLength(0);
    expect(r.parser.done).toBe(false);
    expect(r.parser.started).toBe(false);
  });

  it('101 Switching Protocols is refused', () => {
    expectErrorEverywhere('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', /switched protocols/);
  });

  it('names are lower-cased, values keep their case, repeated fields are joined with ", "', () => {
    const text = 'HTTP/1.1 200 OK\r\nVary: Accept\r\nX-Case: MiXeD Value\r\nVARY: Accept-Encoding\r\nvary:Origin\r\nContent-Length: 0\r\nEmpty:\r\n\r\n';
    expectEverywhere(text, {
      status: 200,
      headers: { vary: 'Accept, Accept-Encoding, Origin', 'x-case': 'MiXeD Value', 'content-length': '0', empty: '' },
      keepAlive: true,
      body: '',
    });
  });

  it('keepAlive: false for Connection: close, HTTP/1.0 without keep-alive, close-delimited bodies', () => {
    expectEverywhere('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx', { status: 200, keepAlive: false, body: 'x' });
    expectEverywhere('HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: 1\r\n\r\nx', { status: 200, keepAlive: false, body: 'x' });
    expectEverywhere('HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx', { status: 200, minor: 0, keepAlive: false, body: 'x' });
    expectEverywhere('HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx', { status: 200, minor: 0, keepAlive: true, body: 'x' });
    expectEverywhere('HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nx', { status: 200, keepAlive: false, body: 'x' }, { eof: true });
    expectEverywhere('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx', { status: 200, keepAlive: true, body: 'x' });
  });

  it('a malformed status line throws', () => {
    for (const line of ['HTTP/1.1 200OK', 'HTTP/2 200 OK', 'HTTP/1.2 200 OK', 'HTTP/1.1 20 OK', 'HTTP/1.1 099 Low', 'http/1.1 200 OK', 'garbage', 'ICY 200 OK', '']) {
      expectErrorEverywhere(`${line}\r\nContent-Length: 0\r\n\r\n`, /malformed status line/);
    }
  });

  it('a malformed header line throws', () => {
    for (const line of ['no colon here', ' folded: continuation', 'bad name: x', ': empty name', 'X-Tab\t: v', 'X-Nul: a\0b', 'X-Lf: a\nb']) {
      expectErrorEverywhere(`HTTP/1.1 200 OK\r\nContent-Length: 0\r\n${line}\r\n\r\n`, /malformed header line|control character/);
    }
  });

  it('conflicting or malformed Content-Length values throw; a repeated equal value is accepted', () => {
    expectErrorEverywhere('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', /content-length/);
    expectErrorEverywhere('HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!', /content-length/);
    for (const v of ['abc', '-1', '', '1.5', '0x10', '12345678901234567', '+5']) {
      expectErrorEverywhere(`HTTP/1.1 200 OK\r\nContent-Length: ${v}\r\n\r\n`, /content-length/);
    }
    expectEverywhere('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello', { status: 200, keepAlive: true, body: 'hello' });
  });

  it('a transfer coding other than chunked alone throws', () => {
    for (const te of ['gzip', 'gzip, chunked', 'chunked, gzip', 'identity', 'chunked, chunked']) {
      expectErrorEverywhere(`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${te}\r\n\r\n`, /unsupported transfer-encoding/);
    }
    // Case and surrounding blanks do not matter.
    expectEverywhere('HTTP/1.1 200 OK\r\nTransfer-Encoding:  Chunked \r\n\r\n1\r\nx\r\n0\r\n\r\n', { status: 200, keepAlive: true, body: 'x' });
  });

  it('Transfer-Encoding together with Content-Length throws (response splitting; the length would be wrong)', () => {
    expectErrorEverywhere('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', /transfer-encoding/i);
  });

  it('malformed chunked framing throws', () => {
    expectErrorEverywhere('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n', /chunk size/);
    expectErrorEverywhere('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n', /chunk size/);
    expectErrorEverywhere('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n', /longer than its size/);
    expectErrorEverywhere(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;${'e'.repeat(9000)}\r\nx\r\n0\r\n\r\n`, /exceeds/, { step: 1000 });
  });

  it('a head over 64 KiB throws, whole or in pieces; one just under is fine', () => {
    const lines = Array.from({ length: 700 }, (_, k) => `X-Filler-${k}: ${'v'.repeat(80)}\r\n`);
    const big = `HTTP/1.1 200 OK\r\nContent-Length: 0\r\n${lines.join('')}\r\n`;
    expect(big.length).toBeGreaterThan(64 * KiB);
    expectErrorEverywhere(big, /exceeds/, { step: 997 });
    expectErrorEverywhere(big.slice(0, -2), /exceeds/, { step: 4096 }); // never ends: refused all the same
    const fit = `HTTP/1.1 200 OK\r\nContent-Length: 0\r\n${lines.slice(0, 600).join('')}\r\n`;
    expect(fit.length).toBeLessThan(64 * KiB);
    const r = parse(Buffer.from(fit), [1000, 30_000, 30_001, 30_002]);
    expect(r.heads).toHaveLength(1);
    expect(r.ends).toBe(1);
  });

  it('execute() stops at the end of the response when bytes follow it', () => {
    const first = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst';
    const second = 'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecond\r\n0\r\n\r\n';
    expectEverywhere(first + second, { status: 200, keepAlive: true, body: 'first', used: first.length });
    const chunkedThenMore = `${second}${first}`;
    expectEverywhere(chunkedThenMore, { status: 201, keepAlive: true, body: 'second', used: second.length });
    // A single execute() returns the offset right after the first response; a new parser takes the rest.
    const all = Buffer.from(first + second);
    const p = new ResponseParser({ head: () => {}, body: () => {}, end: () => {} }, false);
    expect(p.execute(all, 0, all.length)).toBe(first.length);
    const r = parse(all.subarray(first.length), []);
    expect(r.heads[0]!.status).toBe(201);
    expect(r.body.toString()).toBe('second');
    // Once done, further bytes are not consumed at all.
    expect(p.execute(all, first.length, all.length)).toBe(first.length);
  });

  it('bodyWindow names the next bytes that are body alone, and consumed() accounts them as if fed', () => {
    const events: string[] = [];
    const mk = () => new ResponseParser({ head: () => events.push('head'), body: (b, s, e) => events.push(`body:${b.toString('latin1', s, e)}`), end: () => events.push('end') }, false);
    const feed = (p: ResponseParser, text: string) => p.execute(Buffer.from(text, 'latin1'), 0, text.length);
    // Content-Length: the window is what is left of the body; the last byte consumed ends the response.
    const length = mk();
    expect(length.bodyWindow).toBe(0);
    feed(length, 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab');
    expect(length.bodyWindow).toBe(8);
    length.consumed(5);
    expect(length.bodyWindow).toBe(3);
    expect(() => length.consumed(4)).toThrow();
    length.consumed(3);
    expect(length.done).toBe(true);
    expect(events).toEqual(['head', 'body:ab', 'end']);
    // Chunked: the window stops at the end of each chunk's data; the framing after it goes through execute().
    events.length = 0;
    const chunked = mk();
    feed(chunked, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n');
    expect(chunked.bodyWindow).toBe(6);
    chunked.consumed(6);
    expect(chunked.bodyWindow).toBe(0);
    feed(chunked, '\r\n3\r\nxyz\r\n0\r\n\r\n');
    expect(chunked.done).toBe(true);
    expect(events).toEqual(['head', 'body:xyz', 'end']);
    // Delimited by the connection's end: any number of bytes, and the end completes it.
    events.length = 0;
    const close = mk();
    feed(close, 'HTTP/1.0 200 OK\r\n\r\n');
    expect(close.bodyWindow).toBe(Infinity);
    close.consumed(1 << 20);
    close.eof();
    expect(events).toEqual(['head', 'end']);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Servers for the client tests
// ---------------------------------------------------------------------------------------------------------------

interface TestServer {
  url: string;
  port: number;
  /** TCP connections accepted. */
  connections: number;
  /** Open now, and the most at once. */
  open: number;
  maxOpen: number;
  /** Requests seen (request heads, for raw servers). */
  requests: string[];
  /** Server-side sockets in accept order. */
  sockets: Socket[];
  close(): Promise<void>;
}

function track(server: HttpServer | NetServer, state: TestServer): void {
  server.on('connection', (s: Socket) => {
    state.connections++;
    state.open++;
    state.maxOpen = Math.max(state.maxOpen, state.open);
    state.sockets.push(s);
    s.on('error', () => {});
    s.on('close', () => state.open--);
  });
}

async function listen(server: HttpServer | NetServer, scheme: string): Promise<TestServer> {
  const state: TestServer = {
    url: '',
    port: 0,
    connections: 0,
    open: 0,
    maxOpen: 0,
    requests: [],
    sockets: [],
    close: async () => {
      for (const s of state.sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  track(server, state);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  state.port = (server.address() as { port: number }).port;
  state.url = `${scheme}://127.0.0.1:${state.port}`;
  return state;
}

/** Cleanups run after each test (servers and clients a test made for itself). */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * A raw TCP server: `onRequest` is called with the socket and each request head it reads on it (GET and HEAD have
 * no body), and writes whatever bytes it likes.
 */
async function rawServer(onRequest: (sock: Socket, head: string, at: { conn: number; nth: number }) => void): Promise<TestServer> {
  let conns = 0;
  const state: { s?: TestServer } = {};
  const server = createNetServer((sock) => {
    const conn = conns++;
    let nth = 0;
    let pending = '';
    sock.on('data', (d) => {
      pending += d.toString('latin1');
      for (let at = pending.indexOf('\r\n\r\n'); at >= 0; at = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, at);
        pending = pending.slice(at + 4);
        state.s!.requests.push(head);
        onRequest(sock, head, { conn, nth: nth++ });
      }
    });
  });
  state.s = await listen(server, 'http');
  cleanups.push(() => state.s!.close());
  return state.s;
}

function client(opts: Partial<Http1ClientOptions> = {}): Http1Client {
  const c = new Http1Client({ connectTimeoutMs: 5_000, idleTimeoutMs: 10_000, keepAliveMs: 30_000, ...opts });
  cleanups.push(() => c.close());
  return c;
}

function get(c: Http1Client, url: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Http1Response> {
  return c.request(new URL(url), { method: 'GET', headers, signal });
}

/** Reads a body through 'data' events (so each pushed Buffer is seen as it was pushed). */
function readBody(body: Readable): Promise<{ data: Buffer; chunks: Buffer[] }> {
  // A body that failed while nobody listened has said so already.
  if (body.errored) return Promise.reject(body.errored);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    body.on('data', (c: Buffer) => chunks.push(c));
    body.once('end', () => resolve({ data: Buffer.concat(chunks), chunks }));
    body.once('error', reject);
  });
}

/** Resolves when `p` settles or rejects with a clear message after `ms` (so a hang is a failure, not a test timeout). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function closed(sock: Socket): Promise<void> {
  return sock.closed || sock.destroyed ? Promise.resolve() : new Promise((r) => sock.once('close', () => r()));
}

/** Random bytes for the bodies, made once. */
const BIG = randomBytes(24 * MiB);

function headFor(length: number, extra = ''): string {
  return `HTTP/1.1 200 OK\r\nContent-Length: ${length}\r\nContent-Type: application/octet-stream\r\n${extra}\r\n`;
}

/** The origin most client tests talk to: node:http, keep-alive. */
function originHandler(req: IncomingMessage, res: ServerResponse): void {
  const u = new URL(req.url!, 'http://x');
  const parts = u.pathname.split('/');
  const n = Number(parts[2] ?? 0);
  switch (parts[1]) {
    case 'bytes':
      res.setHeader('content-length', n);
      res.end(BIG.subarray(0, n));
      return;
    case 'chunked': {
      // No length: node:http sends it chunked, in pieces of varied size, with a trailer.
      res.setHeader('trailer', 'x-trailer');
      let at = 0;
      let k = 0;
      const sizes = [1, 7919, 300 * KiB, 65_536, 13, MiB + 1];
      const step = () => {
        while (at < n) {
          const len = Math.min(n - at, sizes[k++ % sizes.length]!);
          const ok = res.write(BIG.subarray(at, at + len));
          at += len;
          if (!ok) return void res.once('drain', step);
        }
        res.addTrailers({ 'x-trailer': 'done' });
        res.end();
      };
      step();
      return;
    }
    case 'close':
      res.setHeader('connection', 'close');
      res.setHeader('content-length', n);
      res.end(BIG.subarray(0, n));
      return;
    case 'headers': {
      res.setHeader('x-multi', ['one', 'two']);
      res.setHeader('X-Case', 'MiXeD');
      const body = JSON.stringify({ headers: req.headers, raw: req.rawHeaders, url: req.url });
      res.setHeader('content-type', 'application/json');
      res.setHeader('content-length', Buffer.byteLength(body));
      res.end(body);
      return;
    }
    case 'head':
      res.setHeader('content-length', 12345);
      res.end(req.method === 'HEAD' ? undefined : BIG.subarray(0, 12345));
      return;
    case 'slow':
      setTimeout(() => {
        res.setHeader('content-length', n);
        res.end(BIG.subarray(0, n));
      }, 150);
      return;
    case 'dribble': {
      // 10 pieces of 8 KiB, 15 ms apart: every piece reaches the reader on its own.
      res.setHeader('content-length', 10 * 8 * KiB);
      let k = 0;
      const timer = setInterval(() => {
        res.write(BIG.subarray(k * 8 * KiB, (k + 1) * 8 * KiB));
        if (++k === 10) {
          clearInterval(timer);
          res.end();
        }
      }, 15);
      res.on('close', () => clearInterval(timer));
      return;
    }
    default:
      res.statusCode = 404;
      res.end();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------------------------

describe('Http1Client', () => {
  let origin: TestServer;
  let originServer: HttpServer;

  beforeAll(async () => {
    originServer = createHttpServer({ keepAliveTimeout: 30_000 }, originHandler);
    origin = await listen(originServer, 'http');
  });
  afterAll(async () => {
    await origin?.close();
  });

  /** Connections the origin accepted during `fn`. */
  async function connectionsDuring(fn: () => Promise<void>): Promise<number> {
    const before = origin.connections;
    await fn();
    return origin.connections - before;
  }

  describe('bodies', () => {
    it('Content-Length: several MiB of random bytes arrive identical, with status and headers', async () => {
      const c = client();
      const n = 5 * MiB + 12_345;
      const res = await get(c, `${origin.url}/bytes/${n}`);
      expect(res.status).toBe(200);
      expect(res.headers['content-length']).toBe(String(n));
      const { data } = await readBody(res.body);
      expect(data.length).toBe(n);
      expect(data.equals(BIG.subarray(0, n))).toBe(true);
    });

    it('chunked: bytes identical (trailers dropped), and the connection is reused after it', async () => {
      const c = client();
      const n = 3 * MiB + 777;
      const used = await connectionsDuring(async () => {
        const res = await get(c, `${origin.url}/chunked/${n}`);
        expect(res.status).toBe(200);
        expect(res.headers['transfer-encoding']).toBe('chunked');
        expect(res.headers['content-length']).toBeUndefined();
        const { data } = await readBody(res.body);
        expect(data.length).toBe(n);
        expect(data.equals(BIG.subarray(0, n))).toBe(true);
        const again = await get(c, `${origin.url}/bytes/10`);
        expect((await readBody(again.body)).data.equals(BIG.subarray(0, 10))).toBe(true);
      });
      expect(used).toBe(1);
    });

    it('close-delimited (HTTP/1.0 server): bytes identical, and the connection is not reused', async () => {
      const n = 3 * MiB + 3;
      const srv = await rawServer((sock) => {
        sock.write('HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nX-Server: raw\r\n\r\n');
        sock.end(BIG.subarray(0, n));
      });
      const c = client();
      for (let k = 0; k < 2; k++) {
        const res = await get(c, `${srv.url}/file`);
        expect(res.status).toBe(200);
        expect(res.headers['x-server']).toBe('raw');
        const { data } = await readBody(res.body);
        expect(data.length).toBe(n);
        expect(data.equals(BIG.subarray(0, n))).toBe(true);
      }
      expect(srv.connections).toBe(2);
    });

    it('a close-delimited body cut by a reset is an error, not a short body', async () => {
      const srv = await rawServer((sock) => {
        sock.write('HTTP/1.0 200 OK\r\n\r\n');
        sock.write(BIG.subarray(0, 100 * KiB), () => setTimeout(() => sock.resetAndDestroy(), 200));
      });
      const c = client();
      const read = async () => (await readBody((await get(c, `${srv.url}/file`)).body)).data;
      await expect(read()).rejects.toThrow();
    });

    it('sends the method, path, query, Host and the given headers; repeated response headers are joined', async () => {
      const c = client();
      const res = await get(c, `${origin.url}/headers?a=1&b=%20`, { 'user-agent': 'ua-test', 'X-Custom': 'v 1', Host: 'ignored.example' });
      expect(res.status).toBe(200);
      expect(res.headers['x-multi']).toBe('one, two');
      expect(res.headers['x-case']).toBe('MiXeD');
      expect(Object.keys(res.headers).every((k) => k === k.toLowerCase())).toBe(true);
      const seen = JSON.parse((await readBody(res.body)).data.toString()) as { headers: Record<string, string>; raw: string[]; url: string };
      expect(seen.url).toBe('/headers?a=1&b=%20');
      expect(seen.headers.host).toBe(`127.0.0.1:${origin.port}`);
      expect(seen.raw.filter((h) => h.toLowerCase() === 'host')).toHaveLength(1);
      expect(seen.headers['user-agent']).toBe('ua-test');
      expect(seen.headers['x-custom']).toBe('v 1');
    });

    it('HEAD: no body is read and the connection carries the next request', async () => {
      const c = client();
      const used = await connectionsDuring(async () => {
        const head = await c.request(new URL(`${origin.url}/head`), { method: 'HEAD', headers: {} });
        expect(head.status).toBe(200);
        expect(head.headers['content-length']).toBe('12345');
        expect((await readBody(head.body)).data.length).toBe(0);
        const body = await get(c, `${origin.url}/head`);
        expect((await readBody(body.body)).data.equals(BIG.subarray(0, 12345))).toBe(true);
      });
      expect(used).toBe(1);
    });

    it('interim 100/103 responses are skipped; a malformed response rejects with ResponseParseError', async () => {
      const srv = await rawServer((sock, head) => {
        if (head.startsWith('GET /interim')) sock.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        else sock.write('HTTP/1.1 200 OK\r\nbroken header\r\n\r\n');
      });
      const c = client();
      const res = await get(c, `${srv.url}/interim`);
      expect(res.status).toBe(200);
      expect(res.headers.link).toBeUndefined();
      expect((await readBody(res.body)).data.toString()).toBe('ok');
      await expect(get(c, `${srv.url}/broken`)).rejects.toBeInstanceOf(ResponseParseError);
    });

    it('bytes after the end of a response: the body is right and the connection is not reused', async () => {
      const srv = await rawServer((sock) => sock.write(`${headFor(5)}helloHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbad`));
      const c = client();
      for (let k = 0; k < 2; k++) {
        const res = await get(c, `${srv.url}/x`);
        expect((await readBody(res.body)).data.toString()).toBe('hello');
      }
      expect(srv.connections).toBe(2);
    });

    it('a refused connection rejects, and frees its slot', async () => {
      const probe = createNetServer();
      const dead = await listen(probe, 'http');
      await dead.close();
      const c = client({ maxPerOrigin: 1 });
      for (let k = 0; k < 3; k++) await expect(within(get(c, `${dead.url}/x`), 10_000, 'refused request')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    });
  });

  describe('keep-alive', () => {
    it('two sequential requests to the same origin use one connection', async () => {
      const c = client();
      const used = await connectionsDuring(async () => {
        for (let k = 0; k < 3; k++) {
          const res = await get(c, `${origin.url}/bytes/${1000 + k}`);
          expect((await readBody(res.body)).data.equals(BIG.subarray(0, 1000 + k))).toBe(true);
        }
      });
      expect(used).toBe(1);
    });

    it('a Connection: close response is not reused', async () => {
      const c = client();
      const used = await connectionsDuring(async () => {
        for (let k = 0; k < 2; k++) {
          const res = await get(c, `${origin.url}/close/100`);
          expect(res.headers.connection).toBe('close');
          expect((await readBody(res.body)).data.equals(BIG.subarray(0, 100))).toBe(true);
        }
      });
      expect(used).toBe(2);
    });

    /** A server that answers the first request on each connection; what it does with the second is `second`. */
    async function firstOnly(second: (sock: Socket) => void): Promise<TestServer> {
      return rawServer((sock, _head, at) => {
        if (at.nth === 0) sock.write(`${headFor(5, 'Connection: keep-alive\r\n')}conn${at.conn}`);
        else second(sock);
      });
    }

    for (const [name, close] of [
      ['closes it (FIN)', (sock: Socket) => sock.end()],
      ['resets it (RST)', (sock: Socket) => sock.resetAndDestroy()],
    ] as const) {
      it(`a kept-alive connection the server ${name} on the next request: that request succeeds on a new connection`, async () => {
        const srv = await firstOnly(close);
        const c = client();
        expect((await readBody((await get(c, `${srv.url}/a`)).body)).data.toString()).toBe('conn0');
        const res = await within(get(c, `${srv.url}/b`), 10_000, 'retried request');
        expect(res.status).toBe(200);
        expect((await readBody(res.body)).data.toString()).toBe('conn1');
        expect(srv.connections).toBe(2);
      });
    }

    it('a kept-alive connection the server closed while idle: the next request succeeds on a new connection', async () => {
      const srv = await rawServer((sock, _head, at) => {
        sock.write(`${headFor(5)}conn${at.conn}`);
        setTimeout(() => sock.end(), 30);
      });
      const c = client();
      expect((await readBody((await get(c, `${srv.url}/a`)).body)).data.toString()).toBe('conn0');
      await sleep(200);
      expect((await readBody((await get(c, `${srv.url}/b`)).body)).data.toString()).toBe('conn1');
      // And without waiting: the close may land at any moment around the request.
      for (let k = 0; k < 5; k++) expect((await readBody((await get(c, `${srv.url}/c`)).body)).data.toString()).toMatch(/^conn\d$/);
    });

    it('a reused connection that closes after part of the answer is an error, not retried', async () => {
      const srv = await firstOnly((sock) => {
        sock.write('HTTP/1.1 200 OK\r\nContent-Len');
        setTimeout(() => sock.end(), 20);
      });
      const c = client();
      await readBody((await get(c, `${srv.url}/a`)).body);
      await expect(get(c, `${srv.url}/b`)).rejects.toBeInstanceOf(ResponseParseError);
      expect(srv.connections).toBe(1);
    });

    it('a reused connection whose server stops answering fails after the idle timeout, without a retry', async () => {
      const srv = await firstOnly(() => {});
      const c = client({ idleTimeoutMs: 400 });
      await readBody((await get(c, `${srv.url}/a`)).body);
      await expect(within(get(c, `${srv.url}/b`), 10_000, 'unanswered request')).rejects.toThrow(/sent nothing/);
      // A timeout is not a stale connection: the request is not sent again elsewhere.
      expect(srv.connections).toBe(1);
    });

    it('a body read only after it fully arrived (the socket was paused for it) leaves the connection usable at once', async () => {
      // 2 MiB fills the body's buffer: the socket is paused with the last bytes of the response in the same read.
      const c = client({ idleTimeoutMs: 3_000 });
      const n = 2 * MiB + 100;
      const used = await connectionsDuring(async () => {
        for (let k = 0; k < 6; k++) {
          const res = await get(c, `${origin.url}/bytes/${n}`);
          await sleep(150);
          expect((await readBody(res.body)).data.length).toBe(n);
          const t0 = Date.now();
          const next = await within(get(c, `${origin.url}/bytes/10`), 10_000, 'request after a paused body');
          await readBody(next.body);
          expect(Date.now() - t0, `iteration ${k}`).toBeLessThan(2_500);
        }
      });
      expect(used).toBe(1);
    });
  });

  describe('slow consumers and timeouts', () => {
    /** Sends a 24 MiB body as fast as the client takes it. */
    async function bigSender(): Promise<TestServer> {
      return rawServer((sock) => {
        sock.write(headFor(BIG.length));
        sock.write(BIG);
      });
    }

    it('a body nobody reads pauses the socket (bounded buffering) and resumes when read', async () => {
      const srv = await bigSender();
      const c = client({ idleTimeoutMs: 5_000 });
      const res = await get(c, `${srv.url}/big`);
      await sleep(400);
      // Without pausing, the whole 24 MiB would pile up in the body.
      expect(res.body.readableLength).toBeGreaterThan(0);
      expect(res.body.readableLength).toBeLessThanOrEqual(4 * MiB);
      const { data } = await readBody(res.body);
      expect(data.equals(BIG)).toBe(true);
    });

    it('a consumer that pauses longer than idleTimeoutMs while the server keeps sending does not fail', async () => {
      const srv = await bigSender();
      const idle = 500;
      const c = client({ idleTimeoutMs: idle });
      const res = await get(c, `${srv.url}/big`);
      const chunks: Buffer[] = [];
      let paused = 0;
      const done = new Promise<void>((resolve, reject) => {
        res.body.on('data', (b: Buffer) => {
          chunks.push(b);
          // Twice: stop reading for 3× the idle timeout.
          if ((chunks.length === 1 || chunks.length === 10) && paused < 2) {
            paused++;
            res.body.pause();
            setTimeout(() => res.body.resume(), 3 * idle);
          }
        });
        res.body.once('end', resolve);
        res.body.once('error', reject);
      });
      await done;
      expect(paused).toBe(2);
      expect(Buffer.concat(chunks).equals(BIG)).toBe(true);
    });

    it('a server that goes silent mid-body fails the body within about idleTimeoutMs', async () => {
      const srv = await rawServer((sock) => {
        sock.write(headFor(MiB));
        sock.write(BIG.subarray(0, 200 * KiB));
      });
      const idle = 400;
      const c = client({ idleTimeoutMs: idle });
      const res = await get(c, `${srv.url}/x`);
      const t0 = Date.now();
      const received: Buffer[] = [];
      res.body.on('data', (b: Buffer) => received.push(b));
      const err = await within(
        new Promise<Error>((resolve, reject) => {
          res.body.once('error', resolve);
          res.body.once('end', () => reject(new Error('a short body ended without an error')));
        }),
        10_000,
        'silent body',
      );
      const elapsed = Date.now() - t0;
      expect(err.message).toMatch(/sent nothing for 400 ms/);
      expect(elapsed).toBeGreaterThanOrEqual(idle * 0.75);
      expect(elapsed).toBeLessThan(idle + 4_000);
      expect(Buffer.concat(received).equals(BIG.subarray(0, 200 * KiB))).toBe(true);
      await closed(srv.sockets[0]!);
    });

    it('a server that accepts and never answers: the request rejects within about idleTimeoutMs', async () => {
      const srv = await rawServer(() => {});
      const idle = 400;
      const c = client({ idleTimeoutMs: idle });
      const t0 = Date.now();
      await expect(within(get(c, `${srv.url}/x`), 10_000, 'unanswered request')).rejects.toThrow(/sent nothing/);
      const elapsed = Date.now() - t0;
      expect(elapsed).toBeGreaterThanOrEqual(idle * 0.75);
      expect(elapsed).toBeLessThan(idle + 4_000);
      expect(srv.requests).toHaveLength(1);
      await closed(srv.sockets[0]!);
    });

    it.skip('connect timeout to a blackholed address (needs a network that drops SYNs; not testable offline)', () => {});
  });

  describe('abort and destroy', () => {
    it('a signal aborted before the call rejects with its reason; nothing is sent', async () => {
      const srv = await rawServer(() => {});
      const c = client();
      const ac = new AbortController();
      const reason = new Error('stop now');
      ac.abort(reason);
      await expect(get(c, `${srv.url}/x`, {}, ac.signal)).rejects.toBe(reason);
      await sleep(100);
      expect(srv.connections).toBe(0);
    });

    it('aborting while waiting for the head rejects with the reason and closes the connection', async () => {
      const srv = await rawServer(() => {});
      const c = client({ idleTimeoutMs: 8_000 });
      const ac = new AbortController();
      const reason = new Error('user went away');
      setTimeout(() => ac.abort(reason), 150);
      const t0 = Date.now();
      await expect(get(c, `${srv.url}/x`, {}, ac.signal)).rejects.toBe(reason);
      expect(Date.now() - t0).toBeLessThan(5_000);
      await within(closed(srv.sockets[0]!), 5_000, 'server-side socket close');
    });

    it('aborting while the connection is being made rejects with the reason and sends nothing', async () => {
      const srv = await rawServer(() => {});
      const c = client({ idleTimeoutMs: 8_000 });
      const ac = new AbortController();
      const reason = new Error('aborted early');
      const p = get(c, `${srv.url}/x`, {}, ac.signal);
      ac.abort(reason);
      await expect(within(p, 5_000, 'request aborted during connect')).rejects.toBe(reason);
      await sleep(100);
      expect(srv.requests).toHaveLength(0);
    });

    it('aborting mid-body destroys the body with the reason; the connection is not reused', async () => {
      const c = client();
      const before = origin.connections;
      const res = await get(c, `${origin.url}/bytes/${16 * MiB}`, {}, undefined);
      // Same again with a signal, on a connection of its own.
      const ac = new AbortController();
      const res2 = await get(c, `${origin.url}/bytes/${16 * MiB}`, {}, ac.signal);
      const reason = new Error('mid-body abort');
      const err = new Promise<unknown>((resolve) => res2.body.once('error', resolve));
      res2.body.once('data', () => {
        res2.body.pause();
        ac.abort(reason);
      });
      expect(await within(err, 5_000, 'body error')).toBe(reason);
      expect(res2.body.destroyed).toBe(true);
      const aborted = origin.sockets[origin.sockets.length - 1]!;
      await within(closed(aborted), 5_000, 'aborted connection close');
      // The first body still reads whole, and the next requests do not get the aborted connection.
      expect((await readBody(res.body)).data.equals(BIG.subarray(0, 16 * MiB))).toBe(true);
      const next = await get(c, `${origin.url}/bytes/100`);
      expect((await readBody(next.body)).data.equals(BIG.subarray(0, 100))).toBe(true);
      expect(origin.connections - before).toBe(2);
    });

    it('destroying a body mid-way closes its connection; the next request still works', async () => {
      const c = client();
      const before = origin.connections;
      const res = await get(c, `${origin.url}/bytes/${16 * MiB}`);
      const closedBody = new Promise<void>((resolve) => res.body.once('close', resolve));
      res.body.once('data', () => res.body.destroy());
      await within(closedBody, 5_000, 'body close');
      await within(closed(origin.sockets[origin.sockets.length - 1]!), 5_000, 'destroyed connection close');
      const next = await get(c, `${origin.url}/bytes/${MiB}`);
      expect((await readBody(next.body)).data.equals(BIG.subarray(0, MiB))).toBe(true);
      expect(origin.connections - before).toBe(2);
    });

    it('a waiter aborted just as a connection is handed to it gives the connection back', async () => {
      const c = client({ maxPerOrigin: 1 });
      const before = origin.connections;
      // Big enough to end in a later read than its head: the waiter below is queued by then.
      const first = await get(c, `${origin.url}/bytes/${MiB}`);
      const ac = new AbortController();
      const reason = new Error('no longer wanted');
      const waiting = get(c, `${origin.url}/bytes/100`, {}, ac.signal);
      waiting.catch(() => {});
      // The first body's end hands the connection to the waiter, and the waiter gives up in the same turn.
      first.body.once('end', () => ac.abort(reason));
      expect((await readBody(first.body)).data.equals(BIG.subarray(0, MiB))).toBe(true);
      await expect(waiting).rejects.toBe(reason);
      const third = await within(get(c, `${origin.url}/bytes/100`), 5_000, 'request after the aborted waiter');
      expect((await readBody(third.body)).data.equals(BIG.subarray(0, 100))).toBe(true);
      expect(origin.connections - before).toBe(1);
    });

    it('request header values with CR or LF (or invalid names) are refused with a TypeError before anything is sent', async () => {
      const srv = await rawServer((sock) => sock.write(headFor(0)));
      const c = client();
      for (const headers of [{ 'x-a': 'v\r\nInjected: 1' } as Record<string, string>, { 'x-a': 'v\nInjected: 1' }, { 'x-a': 'v\rx' }, { 'x-a': 'a\0b' }, { 'bad name': 'v' }, { 'x-b:': 'v' }]) {
        await expect(get(c, `${srv.url}/x`, headers)).rejects.toBeInstanceOf(TypeError);
      }
      await sleep(100);
      expect(srv.connections).toBe(0);
      // A valid request on the same client goes through.
      expect((await get(c, `${srv.url}/x`, { 'x-a': 'fine' })).status).toBe(200);
      expect(srv.requests).toHaveLength(1);
      expect(srv.requests[0]).not.toMatch(/Injected/);
    });
  });

  describe('pool', () => {
    it('maxPerOrigin 2: five concurrent requests use at most two connections at once and all complete', async () => {
      const server = createHttpServer({ keepAliveTimeout: 30_000 }, originHandler);
      const srv = await listen(server, 'http');
      cleanups.push(() => srv.close());
      const c = client({ maxPerOrigin: 2 });
      const sizes = [10, 100 * KiB, 1000, 2 * MiB, 5];
      const results = await within(
        Promise.all(
          sizes.map(async (n) => {
            const res = await get(c, `${srv.url}/slow/${n}`);
            return { status: res.status, data: (await readBody(res.body)).data };
          }),
        ),
        15_000,
        'five requests',
      );
      results.forEach((r, k) => {
        expect(r.status).toBe(200);
        expect(r.data.equals(BIG.subarray(0, sizes[k]))).toBe(true);
      });
      expect(srv.maxOpen).toBe(2);
      expect(srv.connections).toBe(2);
    });

    it('bodies of ≥ 64 KiB pieces come as exclusive pool chunks; smaller pieces as right-sized copies', async () => {
      const c = client();
      const big = await get(c, `${origin.url}/bytes/${4 * MiB + 5}`);
      const { data, chunks } = await readBody(big.body);
      expect(data.equals(BIG.subarray(0, 4 * MiB + 5))).toBe(true);
      expect(chunks.some((b) => b.length === MiB)).toBe(true);
      for (const b of chunks) {
        if (b.length >= 64 * KiB) {
          expect(isExclusive(b)).toBe(true);
          expect(b.byteOffset).toBe(0);
          expect(b.buffer.byteLength).toBe(MiB);
        } else {
          expect(isExclusive(b)).toBe(false);
          expect(b.buffer.byteLength).toBe(b.length);
        }
      }
      const small = await get(c, `${origin.url}/bytes/1000`);
      const s = await readBody(small.body);
      expect(s.chunks).toHaveLength(1);
      expect(isExclusive(s.chunks[0]!)).toBe(false);
      expect(s.chunks[0]!.buffer.byteLength).toBe(1000);
      expect(s.data.equals(BIG.subarray(0, 1000))).toBe(true);
      // Pieces that trickle in go on as they come, each a small copy.
      const dribble = await get(c, `${origin.url}/dribble`);
      const d = await readBody(dribble.body);
      expect(d.data.equals(BIG.subarray(0, 80 * KiB))).toBe(true);
      expect(d.chunks.length).toBeGreaterThan(1);
      for (const b of d.chunks) {
        expect(b.length).toBeLessThan(64 * KiB);
        expect(isExclusive(b)).toBe(false);
        expect(b.buffer.byteLength).toBe(b.length);
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// HTTPS
// ---------------------------------------------------------------------------------------------------------------

if (!HAVE_OPENSSL) console.warn('http1-client.test: SKIPPING the HTTPS tests: the `openssl` CLI is not installed (needed to make a self-signed certificate)');

describe.skipIf(!HAVE_OPENSSL)('Http1Client over TLS', () => {
  let dir: string;
  let cert: Buffer;
  let srv: TestServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'h1-tls-'));
    const made = selfSignedCert(dir);
    cert = made.cert;
    const server = createHttpsServer({ key: readFileSync(made.keyPath), cert, keepAliveTimeout: 30_000 }, originHandler);
    srv = await listen(server, 'https');
  });
  afterAll(async () => {
    await srv?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a large body arrives intact, over one kept-alive connection', async () => {
    const c = client({ tls: { ca: cert } });
    const before = srv.connections;
    const n = 6 * MiB + 1;
    const res = await get(c, `${srv.url}/bytes/${n}`);
    expect(res.status).toBe(200);
    const { data } = await readBody(res.body);
    expect(data.length).toBe(n);
    expect(data.equals(BIG.subarray(0, n))).toBe(true);
    const chunked = await get(c, `${srv.url}/chunked/${MiB + 17}`);
    expect((await readBody(chunked.body)).data.equals(BIG.subarray(0, MiB + 17))).toBe(true);
    expect(srv.connections - before).toBe(1);
  });

  it('a slow reader over TLS pauses and resumes without losing a byte', async () => {
    // The server encrypts in this process: on a loaded machine that alone can stall the loop for a few hundred ms.
    const c = client({ tls: { ca: cert }, idleTimeoutMs: 800 });
    const res = await get(c, `${srv.url}/bytes/${BIG.length}`);
    await sleep(2_400);
    expect(res.body.readableLength).toBeLessThanOrEqual(4 * MiB);
    expect((await readBody(res.body)).data.equals(BIG)).toBe(true);
  });

  it('without the CA, the self-signed certificate is refused', async () => {
    const c = client();
    await expect(get(c, `${srv.url}/bytes/10`)).rejects.toThrow(/self[- ]signed|certificate/i);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// UpstreamClient redirects
// ---------------------------------------------------------------------------------------------------------------

describe('UpstreamClient redirects', () => {
  let a: TestServer;
  let b: TestServer;
  const seen: { server: string; path: string; authorization?: string; cookie?: string }[] = [];
  let up: UpstreamClient;

  function recorder(name: string, other: () => TestServer) {
    return (req: IncomingMessage, res: ServerResponse) => {
      seen.push({ server: name, path: req.url!, authorization: req.headers.authorization, cookie: req.headers.cookie });
      const u = new URL(req.url!, 'http://x');
      const loop = /^\/loop\/(\d+)$/.exec(u.pathname);
      if (u.pathname === '/to-other') {
        res.writeHead(302, { location: `${other().url}/target`, 'content-length': 9 }).end('redirect!');
      } else if (u.pathname === '/to-same') {
        res.writeHead(301, { location: '/target' }).end();
      } else if (loop) {
        res.writeHead(302, { location: `/loop/${Number(loop[1]) + 1}`, 'content-type': 'text/plain' }).end(`hop ${loop[1]}`);
      } else if (u.pathname === '/target') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end(`${name} target`);
      } else {
        res.writeHead(404).end();
      }
    };
  }

  beforeAll(async () => {
    a = await listen(createHttpServer(recorder('a', () => b)), 'http');
    b = await listen(createHttpServer(recorder('b', () => a)), 'http');
    up = new UpstreamClient({ connectTimeoutMs: 5_000, idleTimeoutMs: 10_000 });
  });
  afterAll(async () => {
    await up?.close();
    await a?.close();
    await b?.close();
  });

  const creds = () => ({ url: a.url, username: 'user', password: 'pw' });
  const basic = `Basic ${Buffer.from('user:pw').toString('base64')}`;

  it('a redirect to another origin is followed without the Authorization (or Cookie) header', async () => {
    seen.length = 0;
    const res = await up.fetch(creds(), `${a.url}/to-other`, { headers: { cookie: 'session=1' } });
    expect(res.status).toBe(200);
    expect((await readBody(res.body)).data.toString()).toBe('b target');
    expect(seen).toEqual([
      { server: 'a', path: '/to-other', authorization: basic, cookie: 'session=1' },
      { server: 'b', path: '/target', authorization: undefined, cookie: undefined },
    ]);
  });

  it('a same-origin redirect keeps the Authorization header', async () => {
    seen.length = 0;
    const res = await up.fetch(creds(), `${a.url}/to-same`);
    expect(res.status).toBe(200);
    expect((await readBody(res.body)).data.toString()).toBe('a target');
    expect(seen).toEqual([
      { server: 'a', path: '/to-same', authorization: basic, cookie: undefined },
      { server: 'a', path: '/target', authorization: basic, cookie: undefined },
    ]);
  });

  it('after 5 redirects the last 3xx response is returned', async () => {
    seen.length = 0;
    const res = await up.fetch(creds(), `${a.url}/loop/0`);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/loop/6');
    expect((await readBody(res.body)).data.toString()).toBe('hop 5');
    expect(seen.map((s) => s.path)).toEqual(['/loop/0', '/loop/1', '/loop/2', '/loop/3', '/loop/4', '/loop/5']);
  });
});
