import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlobStore } from '../src/storage/types.js';
import { DRIVER_SETS, ENGINES, startTestApp, type TestApp } from './helpers/app.js';
import { hashGet, raw, sha256hex } from './helpers/http.js';
import { startNginx, type StaticUpstream } from './helpers/nginx.js';
import { freePort } from './helpers/ports.js';
import { serverModeAvailable } from './helpers/services.js';

/** A store that counts blob reads, to prove HEAD never opens a blob. */
function countingStore(inner: BlobStore, counter: { reads: number }): BlobStore {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'read') {
        return (...args: Parameters<BlobStore['read']>) => {
          counter.reads++;
          return target.read(...args);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

const matrix = ENGINES.flatMap((engine) => DRIVER_SETS.map((drivers) => ({ engine, drivers })));

describe.each(matrix)('remote generic repository [$engine, $drivers.name]', ({ engine, drivers }) => {
  const skip = drivers.db === 'postgres' && !serverModeAvailable();
  let t: TestApp;
  let up: StaticUpstream;
  const reads = { reads: 0 };
  const big = randomBytes(64 * 1024 * 1024);
  const small = randomBytes(300_000);

  beforeAll(async () => {
    if (skip) return;
    up = await startNginx();
    await writeFile(join(up.root, 'big.bin'), big);
    await writeFile(join(up.root, 'small.bin'), small);
    await writeFile(join(up.root, 'index.json'), JSON.stringify({ version: 1 }));
    await writeFile(join(up.root, 'secret.exe'), 'nope');
    t = await startTestApp({ engine, drivers, wrapStore: (s) => countingStore(s, reads) });
    await t.createRepo({
      name: 'remote',
      package_type: 'generic',
      repo_type: 'remote',
      upstream: { url: up.url },
      settings: { mutable_paths: ['*.json'], mutable_ttl_seconds: 0, blocklist: ['*.exe'] },
    });
  });
  afterAll(async () => {
    await t?.stop();
    await up?.stop();
  });

  it.skipIf(skip)('first GET comes from the upstream, the second from the cache, bytes identical', async () => {
    const a = await raw(t.url, 'GET', '/remote/small.bin');
    expect(a.status).toBe(200);
    expect(a.headers['x-artifact-source']).toBe('remote');
    // The upstream's share of the time to first byte, in the standard header.
    expect(a.headers['server-timing']).toMatch(/^upstream;dur=\d+\.\d$/);
    expect(sha256hex(a.body)).toBe(sha256hex(small));
    const b = await raw(t.url, 'GET', '/remote/small.bin');
    expect(b.status).toBe(200);
    expect(b.headers['x-artifact-source']).toBe('cache');
    expect(b.headers['server-timing']).toBeUndefined();
    expect(b.body.equals(small)).toBe(true);
    expect(b.headers['x-checksum-sha256']).toBe(sha256hex(small));
    expect(await up.countRequests('/small.bin')).toBe(1);
  });

  it.skipIf(skip)('50 concurrent cold GETs of one 64 MiB file: one upstream request, 50 identical bodies', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => hashGet(t.url, '/remote/big.bin')));
    const want = sha256hex(big);
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.complete).toBe(true);
      expect(r.size).toBe(big.length);
      expect(r.sha256).toBe(want);
    }
    expect(await up.countRequests('/big.bin')).toBe(1);
    const again = await hashGet(t.url, '/remote/big.bin');
    expect(again.headers['x-artifact-source']).toBe('cache');
    expect(again.sha256).toBe(want);
  });

  it.skipIf(skip)('HEAD on a cached artifact answers from metadata without reading the blob', async () => {
    await raw(t.url, 'GET', '/remote/small.bin');
    const before = reads.reads;
    const h = await raw(t.url, 'HEAD', '/remote/small.bin');
    expect(h.status).toBe(200);
    expect(Number(h.headers['content-length'])).toBe(small.length);
    expect(h.headers['x-artifact-source']).toBe('cache');
    expect(reads.reads).toBe(before);
  });

  it.skipIf(skip)('HEAD on a miss asks the upstream with HEAD and stores nothing', async () => {
    await writeFile(join(up.root, 'headonly.bin'), randomBytes(1000));
    const h = await raw(t.url, 'HEAD', '/remote/headonly.bin');
    expect(h.status).toBe(200);
    expect(Number(h.headers['content-length'])).toBe(1000);
    expect(h.headers['x-artifact-source']).toBe('remote');
    expect(h.headers['server-timing']).toMatch(/^upstream;dur=/);
    expect(await up.countRequests('/headonly.bin', 'HEAD')).toBe(1);
    expect(await up.countRequests('/headonly.bin', 'GET')).toBe(0);
    const list = await raw(t.url, 'GET', '/api/v2/repositories/remote/artifacts?prefix=headonly');
    expect(list.json().artifacts).toHaveLength(0);
  });

  it.skipIf(skip)('upstream 404 is negatively cached', async () => {
    expect((await raw(t.url, 'GET', '/remote/missing.bin')).status).toBe(404);
    expect((await raw(t.url, 'GET', '/remote/missing.bin')).status).toBe(404);
    expect((await raw(t.url, 'HEAD', '/remote/missing.bin')).status).toBe(404);
    expect(await up.countRequests('/missing.bin')).toBe(1);
  });

  it.skipIf(skip)('a cold GET answered 404, or whose upstream is down, leaves no hash task open', async () => {
    // The hash stream is made while the upstream answers; an answer without a body to hash must release it.
    expect((await raw(t.url, 'GET', '/remote/not-there.bin')).status).toBe(404);
    await t.createRepo({ name: 'remote-down', package_type: 'generic', repo_type: 'remote', upstream: { url: `http://127.0.0.1:${await freePort()}` } });
    expect((await raw(t.url, 'GET', '/remote-down/any.bin')).status).toBe(502);
    const openTasks = async () => Number(/^artifactapi_hash_tasks (\d+)$/m.exec((await raw(t.url, 'GET', '/metrics')).body.toString())?.[1]);
    let n = await openTasks();
    for (let i = 0; i < 100 && n !== 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      n = await openTasks();
    }
    expect(n).toBe(0);
  });

  it.skipIf(skip)('blocklisted paths answer 403 to GET and HEAD and never reach the upstream', async () => {
    const g = await raw(t.url, 'GET', '/remote/secret.exe');
    expect(g.status).toBe(403);
    expect(g.json().error.code).toBe('BLOCKED');
    expect((await raw(t.url, 'HEAD', '/remote/secret.exe')).status).toBe(403);
    expect(await up.countRequests('/secret.exe')).toBe(0);
  });

  it.skipIf(skip)('mutable paths are revalidated (304 keeps the copy) and served stale when the upstream is down', async () => {
    const a = await raw(t.url, 'GET', '/remote/index.json');
    expect(a.status).toBe(200);
    expect(a.headers['x-artifact-source']).toBe('remote');
    // TTL 0: the next GET revalidates with If-None-Match; nginx answers 304.
    const b = await raw(t.url, 'GET', '/remote/index.json');
    expect(b.status).toBe(200);
    expect(b.headers['x-artifact-source']).toBe('cache');
    expect(b.headers['x-artifact-stale']).toBeUndefined();
    expect(await up.countRequests('/index.json')).toBe(2);
    await up.halt();
    try {
      const c = await raw(t.url, 'GET', '/remote/index.json');
      expect(c.status).toBe(200);
      expect(c.headers['x-artifact-stale']).toBe('true');
      expect(c.headers.warning).toContain('110');
      expect(c.body.toString()).toBe(JSON.stringify({ version: 1 }));
      // Immutable content stays available too.
      const d = await raw(t.url, 'GET', '/remote/small.bin');
      expect(d.status).toBe(200);
      // A miss with the upstream down is a clear 502, not a hang or a 500.
      const e = await raw(t.url, 'GET', '/remote/never-fetched.bin');
      expect(e.status).toBe(502);
      expect(e.json().error.code).toBe('UPSTREAM_ERROR');
    } finally {
      await up.restart();
    }
  });
});

describe.each(ENGINES)('remote: upstream dies mid-body [%s]', (engine) => {
  let t: TestApp;
  let up: StaticUpstream;
  const data = randomBytes(8 * 1024 * 1024);

  beforeAll(async () => {
    up = await startNginx({ limitRate: '2m' });
    await writeFile(join(up.root, 'slow.bin'), data);
    t = await startTestApp({ engine, drivers: DRIVER_SETS[0]! });
    await t.createRepo({ name: 'slow', package_type: 'generic', repo_type: 'remote', upstream: { url: up.url } });
  });
  afterAll(async () => {
    await t?.stop();
    await up?.stop();
  });

  it('leaves nothing committed, the client sees a broken body, and the next request refetches', async () => {
    const pending = hashGet(t.url, '/slow/slow.bin');
    await new Promise((r) => setTimeout(r, 1200));
    up.kill();
    const r = await pending;
    expect(r.complete && r.size === data.length).toBe(false);
    const list = await raw(t.url, 'GET', '/api/v2/repositories/slow/artifacts');
    expect(list.json().artifacts).toHaveLength(0);
    await up.restart();
    const again = await hashGet(t.url, '/slow/slow.bin');
    expect(again.status).toBe(200);
    expect(again.headers['x-artifact-source']).toBe('remote');
    expect(again.sha256).toBe(sha256hex(data));
    const cached = await hashGet(t.url, '/slow/slow.bin');
    expect(cached.headers['x-artifact-source']).toBe('cache');
  });
});

describe.each(ENGINES)('remote: the last client leaving aborts the download [%s]', (engine) => {
  let t: TestApp;
  let up: StaticUpstream;
  const data = randomBytes(16 * 1024 * 1024);

  beforeAll(async () => {
    up = await startNginx({ limitRate: '4m' });
    await writeFile(join(up.root, 'big.bin'), data);
    t = await startTestApp({ engine, drivers: DRIVER_SETS[0]! });
    await t.createRepo({ name: 'abandon', package_type: 'generic', repo_type: 'remote', upstream: { url: up.url } });
  });
  afterAll(async () => {
    await t?.stop();
    await up?.stop();
  });

  it('stops the upstream transfer and commits nothing', async () => {
    const ac = new AbortController();
    const pending = raw(t.url, 'GET', '/abandon/big.bin', { signal: ac.signal }).catch(() => null);
    await new Promise((r) => setTimeout(r, 700));
    ac.abort();
    await pending;
    // nginx logs the request when its connection ends: long before the 4 s a full transfer would take.
    let logged = 0;
    for (let i = 0; i < 30 && logged === 0; i++) logged = await up.countRequests('/big.bin');
    expect(logged).toBe(1);
    const list = await raw(t.url, 'GET', '/api/v2/repositories/abandon/artifacts');
    expect(list.json().artifacts).toHaveLength(0);
  });
});

/** A store whose putFile (a remote download's commit) waits until the test lets it go on or fail. */
function gatedStore(inner: BlobStore, gate: { wait?: Promise<void> }): BlobStore {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'putFile') {
        return async (...args: Parameters<BlobStore['putFile']>) => {
          await gate.wait;
          return target.putFile(...args);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

describe.each(ENGINES)('remote: clients finish before the commit [%s]', (engine) => {
  let t: TestApp;
  let up: StaticUpstream;
  const gate: { wait?: Promise<void> } = {};
  const data = randomBytes(16 * 1024 * 1024); // large enough to be released before its commit
  const timeout = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))]);

  beforeAll(async () => {
    up = await startNginx();
    await writeFile(join(up.root, 'a.bin'), data);
    await writeFile(join(up.root, 'b.bin'), data);
    await writeFile(join(up.root, 'small.bin'), data.subarray(0, 100_000));
    t = await startTestApp({ engine, drivers: DRIVER_SETS[0]!, wrapStore: (s) => gatedStore(s, gate) });
    await t.createRepo({ name: 'gated', package_type: 'generic', repo_type: 'remote', upstream: { url: up.url } });
  });
  afterAll(async () => {
    await t?.stop();
    await up?.stop();
  });

  it('the first client has the verified body while the commit waits; a request meanwhile is served from that copy at once', async () => {
    let open!: () => void;
    gate.wait = new Promise<void>((r) => (open = r));
    const first = await timeout(hashGet(t.url, '/gated/a.bin'), 10_000);
    expect(first).not.toBe('pending');
    if (first === 'pending') return;
    expect(first.complete && first.sha256).toBe(sha256hex(data));
    expect(first.headers['x-artifact-source']).toBe('remote');
    const listed = async () => (await raw(t.url, 'GET', '/api/v2/repositories/gated/artifacts', { headers: t.auth })).json().artifacts.length;
    expect(await listed()).toBe(0);
    const second = await timeout(hashGet(t.url, '/gated/a.bin'), 10_000);
    expect(second !== 'pending' && second.headers['x-artifact-source']).toBe('cache');
    expect(second !== 'pending' && second.sha256).toBe(sha256hex(data));
    const part = await raw(t.url, 'GET', '/gated/a.bin', { headers: { range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.body.equals(data.subarray(100, 200))).toBe(true);
    expect(await listed()).toBe(0);
    open();
    for (let i = 0; i < 100 && (await listed()) === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await listed()).toBe(1);
    const third = await hashGet(t.url, '/gated/a.bin');
    expect(third.headers['x-artifact-source']).toBe('cache');
    expect(third.sha256).toBe(sha256hex(data));
    expect(await up.countRequests('/a.bin')).toBe(1);
  });

  it('a small body is released only once committed', async () => {
    let open!: () => void;
    gate.wait = new Promise<void>((r) => (open = r));
    const first = hashGet(t.url, '/gated/small.bin');
    expect(await timeout(first, 500)).toBe('pending');
    open();
    expect((await first).sha256).toBe(sha256hex(data.subarray(0, 100_000)));
    const list = await raw(t.url, 'GET', '/api/v2/repositories/gated/artifacts', { headers: t.auth });
    expect(list.json().artifacts.map((a: { path: string }) => a.path)).toContain('small.bin');
  });

  it('when that commit fails, nothing is cached and the next request fetches again', async () => {
    let fail!: (err: Error) => void;
    gate.wait = new Promise<void>((_, reject) => (fail = reject));
    const first = await timeout(hashGet(t.url, '/gated/b.bin'), 10_000);
    expect(first !== 'pending' && first.sha256).toBe(sha256hex(data));
    gate.wait = undefined;
    fail(new Error('disk full'));
    let r = await hashGet(t.url, '/gated/b.bin');
    // Right after the failure the download may still be on its way out, its verified copy still served.
    for (let i = 0; i < 50 && r.headers['x-artifact-source'] !== 'remote'; i++) r = await hashGet(t.url, '/gated/b.bin');
    expect(r.headers['x-artifact-source']).toBe('remote');
    expect(r.sha256).toBe(sha256hex(data));
    expect(await up.countRequests('/b.bin')).toBe(2);
    const cached = await hashGet(t.url, '/gated/b.bin');
    expect(cached.headers['x-artifact-source']).toBe('cache');
  });
});
