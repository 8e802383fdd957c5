import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpError } from '../src/errors.js';
import { sendError } from '../src/http/respond.js';
import { Router } from '../src/http/router.js';
import { startServer } from '../src/http/server.js';
import type { Handler, RunningServer } from '../src/http/types.js';
import { createLogger } from '../src/log.js';
import { ENGINES } from './helpers/app.js';
import { raw } from './helpers/http.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = 1024 * 1024;

describe.each(ENGINES)('HTTP engine [%s]', (engine) => {
  let server: RunningServer | undefined;
  const start = async (handler: Handler) => {
    server = await startServer(engine, { host: '127.0.0.1', port: 0, handler: async (req, res) => { try { await handler(req, res); } catch (e) { sendError(res, e); } } }, createLogger('silent'));
    return `http://127.0.0.1:${server.port}`;
  };
  afterEach(async () => {
    await server?.close(200);
    server = undefined;
  });

  it('keeps the connection alive across GET, HEAD with a length, 204 and 304 answers', async () => {
    const url = await start(async (req, res) => {
      // An answer that completes before the handler yields: uWS has not reported the empty body yet.
      if (req.rawPath === '/none') return res.status(204).end();
      if (req.rawPath === '/cached') return res.status(304).end();
      await new Promise((r) => setImmediate(r));
      if (req.method === 'HEAD') return res.endWithoutBody(1234);
      res.end('0123456789');
    });
    const port = Number(new URL(url).port);
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    sock.on('data', (c: Buffer) => (got += c.toString('latin1')));
    const ask = async (method: string, path: string, expectText: string) => {
      const before = got.length;
      sock.write(`${method} ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      for (let i = 0; i < 200 && !got.slice(before).includes(expectText); i++) await new Promise((r) => setTimeout(r, 5));
      return got.slice(before);
    };
    for (let round = 0; round < 2; round++) {
      expect(await ask('GET', '/a', '0123456789')).toMatch(/^HTTP\/1\.1 200/);
      const head = await ask('HEAD', '/a', '\r\n\r\n');
      expect(head).toMatch(/^HTTP\/1\.1 200/);
      expect(head.match(/content-length: *(\d+)/gi)).toEqual([expect.stringMatching(/1234$/)]);
      expect(await ask('GET', '/none', '\r\n\r\n')).toMatch(/^HTTP\/1\.1 204/);
      const notModified = await ask('GET', '/cached', '\r\n\r\n');
      expect(notModified).toMatch(/^HTTP\/1\.1 304/);
      expect(notModified).not.toMatch(/9223372036854775808/);
    }
    expect(got).not.toMatch(/connection: close/i);
    expect(sock.destroyed).toBe(false);
    sock.destroy();
  });

  it('round-trips methods, headers, query, status and HEAD lengths', async () => {
    const url = await start(async (req, res) => {
      res.setHeader('X-Echo', `${req.method} ${req.rawPath} ${req.query.get('a')} ${req.header('x-in')}`);
      if (req.rawPath === '/empty') return res.status(204).end();
      res.status(req.method === 'POST' ? 201 : 200).end('hello');
    });
    const g = await raw(url, 'GET', '/p/q%20r?a=1', { headers: { 'x-in': 'v' } });
    expect(g.status).toBe(200);
    expect(g.headers['x-echo']).toBe('GET /p/q%20r 1 v');
    expect(g.headers['x-request-id']).toBeTruthy();
    expect(g.body.toString()).toBe('hello');
    const h = await raw(url, 'HEAD', '/x');
    expect(h.headers['content-length']).toBe('5');
    expect(h.body.length).toBe(0);
    expect((await raw(url, 'POST', '/x', { body: 'b' })).status).toBe(201);
    expect((await raw(url, 'GET', '/empty')).status).toBe(204);
  });

  it('sends a Buffer body byte for byte, small (every byte value, UTF-8 text) or not', async () => {
    const bodies: Record<string, Buffer> = {
      '/bytes': Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256)),
      '/text': Buffer.from('{"name":"ünïcødé ✓ 🐳"}'),
      '/large': randomBytes(64 * 1024 + 3),
    };
    const url = await start(async (req, res) => {
      res.setHeader('Content-Type', 'application/octet-stream');
      res.end(bodies[req.rawPath]!);
    });
    for (const [path, body] of Object.entries(bodies)) {
      const r = await raw(url, 'GET', path);
      expect(r.headers['content-length']).toBe(String(body.length));
      expect(r.body.equals(body)).toBe(true);
    }
  });

  it('sends a string body as UTF-8, its length in bytes', async () => {
    const text = '{"name":"ünïcødé ✓ 🐳"}';
    const url = await start(async (_req, res) => res.end(text));
    const r = await raw(url, 'GET', '/');
    expect(r.headers['content-length']).toBe(String(Buffer.byteLength(text)));
    expect(r.body.toString('utf8')).toBe(text);
  });

  it('a response ended just before the server closes still reaches its client, whole', async () => {
    let closing: Promise<void> | undefined;
    const url = await start(async (_req, res) => {
      res.end('the last answer');
      closing = server!.close(0);
    });
    const r = await raw(url, 'GET', '/');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('the last answer');
    await closing;
    server = undefined;
  });

  it('streams a 256 MiB upload (chunked and with Content-Length) into a hasher with bounded memory', async () => {
    const url = await start(async (req, res) => {
      const h = createHash('sha256');
      let n = 0;
      await pipeline(req.body(), new Writable({ write(c: Buffer, _e, cb) { h.update(c); n += c.length; cb(); } }));
      res.end(JSON.stringify({ n, sha: h.digest('hex') }));
    });
    const block = randomBytes(MiB);
    const expected = createHash('sha256');
    for (let i = 0; i < 256; i++) expected.update(block);
    const want = expected.digest('hex');
    const gen = () => Readable.from((function* () { for (let i = 0; i < 256; i++) yield block; })());
    const rss0 = process.memoryUsage().rss;
    const chunked = await raw(url, 'PUT', '/up', { body: gen() });
    expect(chunked.json()).toEqual({ n: 256 * MiB, sha: want });
    const sized = await raw(url, 'PUT', '/up', { body: gen(), headers: { 'content-length': 256 * MiB } });
    expect(sized.json()).toEqual({ n: 256 * MiB, sha: want });
    expect(process.memoryUsage().rss - rss0).toBeLessThan(128 * MiB);
  });

  it('hands the body on in whole 1 MiB pool buffers (a small sized body: one buffer of its size), bytes intact', async () => {
    const seen: { n: number; sizes: number[]; whole: boolean; sha: string }[] = [];
    const url = await start(async (req, res) => {
      const h = createHash('sha256');
      const sizes: number[] = [];
      let whole = true;
      // 'data' events, not an async iterator (whose read() joins whatever is buffered).
      await pipeline(req.body(), new Writable({ write(c: Buffer, _e, cb) {
        sizes.push(c.length);
        if (c.byteOffset !== 0 || (c.buffer.byteLength !== c.length && c.buffer.byteLength !== MiB)) whole = false;
        h.update(c);
        cb();
      } }));
      seen.push({ n: req.bytesRead ?? -1, sizes, whole, sha: h.digest('hex') });
      res.end('ok');
    });
    // Odd-sized writes, so that pieces straddle the 1 MiB boundaries.
    const body = randomBytes(3 * MiB + 12_345);
    const pieces = () => Readable.from((function* () { for (let o = 0; o < body.length; o += 70_001) yield body.subarray(o, o + 70_001); })());
    const sha = createHash('sha256').update(body).digest('hex');
    expect((await raw(url, 'PUT', '/chunked', { body: pieces() })).status).toBe(200);
    expect((await raw(url, 'PUT', '/sized', { body: pieces(), headers: { 'content-length': body.length } })).status).toBe(200);
    const small = randomBytes(5000);
    expect((await raw(url, 'PUT', '/small', { body: small, headers: { 'content-length': small.length } })).status).toBe(200);
    for (const s of seen.slice(0, 2)) {
      expect(s).toMatchObject({ n: body.length, sha, whole: true });
      expect(s.sizes).toEqual([MiB, MiB, MiB, 12_345]);
    }
    expect(seen[2]).toEqual({ n: 5000, sizes: [5000], whole: true, sha: createHash('sha256').update(small).digest('hex') });
  });

  it('a slow consumer of the request body stalls the client (backpressure on upload)', async () => {
    let received = 0;
    const url = await start(async (req, res) => {
      await pipeline(req.body(), new Writable({ highWaterMark: MiB, write(c: Buffer, _e, cb) { received += c.length; setTimeout(cb, 20); } }));
      res.end('ok');
    });
    let sent = 0;
    const body = new Readable({
      read() {
        if (sent >= 512 * MiB) return this.push(null);
        sent += MiB;
        this.push(Buffer.alloc(MiB));
      },
    });
    const ac = new AbortController();
    const p = raw(url, 'PUT', '/slow', { body, signal: ac.signal }).catch(() => null);
    await sleep(1500);
    // The client can only be ahead by what sockets and a few stream buffers hold, not by the whole body.
    expect(sent).toBeLessThan(512 * MiB);
    expect(sent - received).toBeLessThan(48 * MiB);
    ac.abort();
    await p;
  });

  it('a slow client slows the response source (backpressure on download)', async () => {
    let produced = 0;
    let destroyed = false;
    const url = await start(async (_req, res) => {
      const src = new Readable({
        read() {
          if (produced >= 1024 * MiB) return this.push(null);
          produced += MiB;
          this.push(Buffer.alloc(MiB));
        },
        destroy(err, cb) {
          destroyed = true;
          cb(err);
        },
      });
      await res.stream(src, 1024 * MiB);
    });
    const u = new URL(url);
    let got = 0;
    await new Promise<void>((resolve) => {
      const req = http.get({ host: u.hostname, port: u.port, path: '/big', agent: false }, (res) => {
        res.once('data', (c: Buffer) => {
          got += c.length;
          res.pause();
          setTimeout(() => {
            expect(produced - got).toBeLessThan(48 * MiB);
            req.destroy();
            resolve();
          }, 1500);
        });
      });
      req.on('error', () => {});
    });
    // The client went away: the source is destroyed, not drained into memory.
    for (let i = 0; i < 100 && !destroyed; i++) await sleep(10);
    expect(destroyed).toBe(true);
    expect(produced).toBeLessThan(100 * MiB);
  });

  it.for([
    ['with a length', 32 * MiB],
    ['chunked', undefined],
  ] as const)('a download in progress when the server closes reaches its slow client whole (%s)', async ([, length], ctx) => {
    // uWS does not say whether the end of a chunked body (the last chunk's tail, the terminator) went to the socket
    // or into its own buffer, and its close drops that buffer: a known limit, in the README.
    if (engine === 'uws' && length === undefined) return ctx.skip('uWS: the end of a chunked body can be lost on close (README, not done)');
    const total = 32 * MiB;
    const url = await start(async (_req, res) => {
      let produced = 0;
      const src = new Readable({
        read() {
          if (produced >= total) return this.push(null);
          produced += MiB;
          this.push(Buffer.alloc(MiB, produced / MiB));
        },
      });
      await res.stream(src, length);
    });
    const u = new URL(url);
    let closing: Promise<void> | undefined;
    const got = await new Promise<number>((resolve, reject) => {
      const req = http.get({ host: u.hostname, port: u.port, path: '/big', agent: false }, (res) => {
        let n = 0;
        // A client slower than the server all along: the response's last bytes wait in the server's buffers
        // when its handler is done.
        res.on('data', (c: Buffer) => {
          n += c.length;
          res.pause();
          setTimeout(() => res.resume(), 1);
        });
        res.on('end', () => resolve(n));
        res.on('error', reject);
        closing = server!.close(10_000);
      });
      req.on('error', reject);
    });
    expect(got).toBe(total);
    await closing;
    server = undefined;
  });

  it('a client that aborts mid-upload fails the body stream and fires the abort signal', async () => {
    let bodyError: unknown;
    let signalled = false;
    let settled!: () => void;
    const done = new Promise<void>((r) => (settled = r));
    const url = await start(async (req, res) => {
      req.signal.addEventListener('abort', () => (signalled = true));
      try {
        await pipeline(req.body(), new Writable({ write(_c, _e, cb) { cb(); } }));
      } catch (e) {
        bodyError = e;
      }
      settled();
      res.end();
    });
    const body = new Readable({ read() {} });
    const ac = new AbortController();
    const p = raw(url, 'PUT', '/abort', { body, headers: { 'content-length': 10 * MiB }, signal: ac.signal }).catch(() => null);
    body.push(Buffer.alloc(MiB));
    await sleep(200);
    ac.abort();
    await Promise.race([done, sleep(3000)]);
    await p;
    expect(bodyError).toBeTruthy();
    expect(signalled).toBe(true);
  });

  it('a refusal of a small upload waits for its body: the client, still sending, gets the answer and keeps the connection', async () => {
    // No wrapper here: the error reaches the engine's dispatcher. The handler took the body (as an upload does
    // before it finds the path taken) but never read it.
    server = await startServer(engine, { host: '127.0.0.1', port: 0, handler: async (req) => { req.body(); throw new HttpError(409, 'ALREADY_EXISTS', 'exists'); } }, createLogger('silent'));
    const sock = net.connect(server.port, '127.0.0.1');
    let got = '';
    sock.on('data', (c: Buffer) => (got += c.toString('latin1')));
    const until = async (text: string, from = 0) => {
      for (let i = 0; i < 400 && !got.slice(from).includes(text); i++) await sleep(5);
      return got.slice(from);
    };
    const part = randomBytes(MiB);
    sock.write(`PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: ${2 * MiB}\r\n\r\n`);
    sock.write(part);
    await sleep(300);
    expect(got).toBe(''); // not answered (and closed) while the body is still coming
    sock.write(part);
    const first = await until('ALREADY_EXISTS');
    expect(first).toMatch(/^HTTP\/1\.1 409/);
    expect(first).not.toMatch(/connection: close/i);
    // The same connection takes the next request.
    sock.write('GET /y HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await until('ALREADY_EXISTS', first.length)).toMatch(/^HTTP\/1\.1 409/);
    expect(sock.destroyed).toBe(false);
    sock.destroy();
  });

  it('answers every error in one JSON envelope, and hides unknown errors', async () => {
    const url = await start(async (req) => {
      if (req.rawPath === '/known') throw new HttpError(409, 'CONFLICT', 'already there', { path: 'x' }, { 'X-Why': 'because' });
      throw new Error('secret internal detail');
    });
    const k = await raw(url, 'GET', '/known');
    expect(k.status).toBe(409);
    expect(k.headers['x-why']).toBe('because');
    expect(k.json()).toEqual({ error: { code: 'CONFLICT', message: 'already there', detail: { path: 'x' } } });
    const u = await raw(url, 'GET', '/unknown');
    expect(u.status).toBe(500);
    expect(u.json()).toEqual({ error: { code: 'INTERNAL', message: 'internal server error' } });
    expect(u.body.toString()).not.toContain('secret');
  });

  it('Content-Length of 1e9 bytes: node:http takes it, this uWS build resets it (the documented limit)', async () => {
    const url = await start(async (req, res) => {
      let n = 0;
      for await (const c of req.body()) {
        n += (c as Buffer).length;
        if (n >= 1_000_000) break;
      }
      res.end('took ' + n);
    });
    const u = new URL(url);
    const answer = (cl: number) =>
      new Promise<string>((resolve) => {
        const c = net.connect(Number(u.port), '127.0.0.1', () => {
          c.write(`PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: ${cl}\r\n\r\n`);
          c.write(Buffer.alloc(2_000_000));
        });
        let out = '';
        c.on('data', (d) => (out += d));
        c.on('error', () => resolve('reset'));
        c.on('close', () => resolve(out.split('\r\n')[0] || 'reset'));
        setTimeout(() => {
          c.destroy();
          resolve(out.split('\r\n')[0] || 'no answer');
        }, 1500);
      });
    expect(await answer(999_999_999)).toMatch(/^HTTP\/1\.1 200/);
    // If this starts passing on uWS, the build no longer has the limit: drop the warning and the README note.
    expect(await answer(1_000_000_000)).toMatch(engine === 'node' ? /^HTTP\/1\.1 200/ : /^reset$/);
  });

  it('a malformed Content-Length is a 400', async () => {
    const url = await start((_req, res) => res.end('x'));
    const u = new URL(url);
    const status = await new Promise<string>((resolve) => {
      const s = net.connect(Number(u.port), '127.0.0.1', () => s.write('PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 12abc\r\n\r\n'));
      s.on('data', (d: Buffer) => { resolve(d.toString().split('\r\n')[0]!); s.destroy(); });
      s.on('error', () => resolve('closed'));
      s.on('close', () => resolve('closed'));
    });
    // Both parsers refuse it before our handler runs: node:http answers 400, uWS closes the connection.
    if (engine === 'node') expect(status).toMatch(/^HTTP\/1\.1 400/);
    else expect(status).toBe('closed');
  });
});

describe('Router', () => {
  const r = new Router();
  const h = (name: string) => () => void name;
  r.add('GET', '/api/v2/repositories', h('list'));
  r.add(['PATCH', 'DELETE'], '/api/v2/repositories/:name', h('one'));
  r.add('GET', '/files/*rest', h('rest'));

  it('matches literals, params and rest; HEAD follows GET; 405 vs 404', () => {
    expect(r.match('GET', '/api/v2/repositories')).toMatchObject({ params: {} });
    expect(r.match('HEAD', '/api/v2/repositories')).toMatchObject({ params: {} });
    expect(r.match('DELETE', '/api/v2/repositories/abc')).toMatchObject({ params: { name: 'abc' } });
    expect(r.match('GET', '/api/v2/repositories/abc')).toBe('method-not-allowed');
    expect(r.match('GET', '/files/a/b%2Fc')).toMatchObject({ params: { rest: 'a/b%2Fc' } });
    expect(r.match('GET', '/nothing')).toBeNull();
    expect(r.match('GET', '/api/v2/repositories/a/b')).toBeNull();
  });
});

describe('uWebSockets.js fallback detection', () => {
  it('refuses to start when the package fell back to its pure-JS server', async () => {
    const { execFileSync } = await import('node:child_process');
    const script = "import('./src/http/uws-engine.ts').then((m) => { try { m.loadUws(); console.log('loaded'); } catch (e) { console.log('refused: ' + e.message); } })";
    const run = (env: Record<string, string>) =>
      execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: process.cwd(), env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(run({})).toContain('loaded');
    // UWS_USE_FALLBACK makes the package load its JS fallback, as it does silently when the binary cannot load.
    expect(run({ UWS_USE_FALLBACK: 'true' })).toMatch(/refused: uWebSockets.js could not load its native binary/);
  });
});
