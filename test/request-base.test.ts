import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildRequest, drainSmallBody, LazyAbort, requestVariant } from '../src/http/request-base.js';

function request(opts: { body?: Readable; contentLength?: number } = {}) {
  const signal = new LazyAbort();
  let remoteCalls = 0;
  const body = opts.body ?? Readable.from([Buffer.from('hello')]);
  const req = buildRequest(
    'id-1',
    { method: 'HEAD', rawPath: '/a', rawQuery: 'x=1&y=2', headers: { host: 'h', 'x-k': 'v' }, remoteAddress: () => (remoteCalls++, '10.0.0.1') },
    opts.contentLength,
    { body: () => body, bytesRead: () => 42, signal },
  );
  return { req, signal, body, remoteCalls: () => remoteCalls };
}

describe('engine request', () => {
  it('has no accessors of its own: per-object getters kept every request alive until a full collection', () => {
    const { req } = request();
    const own = Object.getOwnPropertyDescriptors(req);
    expect(Object.entries(own).filter(([, d]) => d.get || d.set).map(([k]) => k)).toEqual([]);
  });

  it('computes lazy members once, on demand', () => {
    const { req, signal, remoteCalls } = request();
    expect(remoteCalls()).toBe(0);
    expect(req.remoteAddress).toBe('10.0.0.1');
    expect(req.remoteAddress).toBe('10.0.0.1');
    expect(remoteCalls()).toBe(1);
    expect(req.query.get('y')).toBe('2');
    expect(req.query).toBe(req.query);
    expect(req.bytesRead).toBe(42);
    expect(req.header('X-K')).toBe('v');
    expect(req.signal.aborted).toBe(false);
    signal.abort(new Error('gone'));
    expect(req.signal.aborted).toBe(true);
  });

  it('hands its body out once', async () => {
    const { req } = request();
    expect((await req.readBody(100)).toString()).toBe('hello');
    expect(() => req.body()).toThrow(/already taken/);
  });

  it('a variant replaces only the members given and shares the rest with the original', () => {
    const { req, signal } = request();
    const get = requestVariant(req, { method: 'GET' });
    expect(get.method).toBe('GET');
    expect(req.method).toBe('HEAD');
    expect(get.id).toBe('id-1');
    expect(get.rawPath).toBe('/a');
    expect(get.header('x-k')).toBe('v');
    expect(get.query.get('x')).toBe('1');
    expect(get.remoteAddress).toBe('10.0.0.1');
    expect(get.log).toBe(req.log);
    signal.abort(new Error('gone'));
    expect(get.signal.aborted).toBe(true);
    // A body taken through the variant is the original's: it cannot be taken twice.
    get.body();
    expect(() => req.body()).toThrow(/already taken/);
  });

  it('a variant may replace a getter-only member', () => {
    const { req } = request();
    const ac = new AbortController();
    const v = requestVariant(req, { signal: ac.signal });
    expect(v.signal).toBe(ac.signal);
    expect(req.signal).not.toBe(ac.signal);
  });

  it('drainSmallBody reads an untaken small body to its end', async () => {
    const body = Readable.from([Buffer.alloc(10)]);
    const { req } = request({ body, contentLength: 10 });
    await drainSmallBody(req);
    expect(body.readableEnded).toBe(true);
  });
});
