import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { parseProxyUrl, ProxySelector, ProxyUrlError } from '../src/engine/proxy.js';
import { UpstreamClient } from '../src/engine/upstream.js';
import type { UpstreamConfig } from '../src/repos/model.js';
import { readBounded } from '../src/util/read-bounded.js';
import { DRIVER_SETS, startTestApp, type TestApp } from './helpers/app.js';
import { raw } from './helpers/http.js';
import { startNginx, type StaticUpstream } from './helpers/nginx.js';
import { HAVE_TINYPROXY, startTinyproxy, type ForwardProxy } from './helpers/tinyproxy.js';
import { HAVE_OPENSSL, selfSignedCert } from './helpers/tls-cert.js';

describe('which upstream requests go through the proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)', () => {
  const route = (sel: ProxySelector, url: string) => sel.routeFor(new URL(url))?.key;

  it('https upstreams take HTTPS_PROXY, http ones HTTP_PROXY; neither set means direct', () => {
    const sel = new ProxySelector({ https: 'http://tls-proxy:3128', http: 'plain-proxy:8080' });
    expect(route(sel, 'https://registry-1.docker.io/v2/')).toBe('tls-proxy:3128');
    expect(route(sel, 'http://deb.example/dists/')).toBe('plain-proxy:8080');
    expect(route(new ProxySelector({ https: 'http://p:1' }), 'http://deb.example/')).toBeUndefined();
    expect(new ProxySelector({}).enabled).toBe(false);
  });

  it('NO_PROXY: domains with their subdomains, IP addresses and networks, ports, and *', () => {
    const sel = new ProxySelector({ https: 'http://p:3128', http: 'http://p:3128', noProxy: 'internal.example, .corp.example,*.lan, 10.0.0.0/8, 192.168.1.7, [::1], nexus.example:8443, localhost.' });
    for (const direct of ['https://internal.example/', 'https://a.b.internal.example/', 'https://corp.example/', 'https://x.corp.example/', 'http://nas.lan/', 'https://10.1.2.3/', 'http://192.168.1.7:8080/', 'https://[::1]:5000/', 'https://nexus.example:8443/', 'http://LOCALHOST/']) {
      expect(route(sel, direct), direct).toBeUndefined();
    }
    for (const proxied of ['https://notinternal.example/', 'https://internal.example.com/', 'https://11.0.0.1/', 'http://192.168.1.8/', 'https://nexus.example/', 'https://[::2]/']) {
      expect(route(sel, proxied), proxied).toBe('p:3128');
    }
    expect(route(new ProxySelector({ https: 'http://p:3128', noProxy: '*' }), 'https://anything.example/')).toBeUndefined();
  });

  it('proxy URLs: credentials become Basic (percent-decoded), the default port is 80, anything but http:// is refused', () => {
    expect(parseProxyUrl('http://bob:p%40ss@proxy.example:3128')).toEqual({ host: 'proxy.example', port: 3128, key: 'proxy.example:3128', authorization: `Basic ${Buffer.from('bob:p@ss').toString('base64')}` });
    expect(parseProxyUrl('proxy.example')).toEqual({ host: 'proxy.example', port: 80, key: 'proxy.example:80' });
    expect(parseProxyUrl('http://[::1]:3128/')).toMatchObject({ host: '::1', port: 3128 });
    expect(() => parseProxyUrl('https://proxy.example:3128')).toThrow(ProxyUrlError);
    expect(() => parseProxyUrl('socks5://proxy.example:1080')).toThrow(/only http:\/\//);
    expect(() => parseProxyUrl('http://proxy.example:3128/some/path')).toThrow(/no path/);
  });

  it('the configuration reads the upper- and lower-case variables and refuses a bad proxy at start-up', () => {
    expect(loadConfig({ https_proxy: 'http://p:3128', NO_PROXY: 'internal.example' }).upstream.proxy).toEqual({ https: 'http://p:3128', noProxy: 'internal.example' });
    expect(loadConfig({ HTTP_PROXY: 'http://a:1', http_proxy: 'http://b:2' }).upstream.proxy).toEqual({ http: 'http://a:1' });
    expect(loadConfig({}).upstream.proxy).toEqual({});
    expect(() => loadConfig({ HTTPS_PROXY: 'socks5://p:1080' })).toThrow(ConfigError);
  });
});

if (!HAVE_TINYPROXY) console.warn('upstream-proxy.test: SKIPPING the tests through a real proxy: tinyproxy is not installed (apt-get install tinyproxy-bin)');
if (!HAVE_OPENSSL) console.warn('upstream-proxy.test: SKIPPING the HTTPS-through-proxy tests: the `openssl` CLI is not installed');

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const NO_UPSTREAM_AUTH = { url: 'unused' } as UpstreamConfig;

describe.skipIf(!HAVE_TINYPROXY || !HAVE_OPENSSL)('upstream requests through a real forward proxy (tinyproxy)', () => {
  let proxy: ForwardProxy;
  let tlsUpstream: StaticUpstream;
  let plainUpstream: StaticUpstream;
  let certDir: string;
  let cert: Buffer;
  const big = randomBytes(12 * 1024 * 1024 + 123);
  const clients: UpstreamClient[] = [];
  const client = (proxySettings: { http?: string; https?: string; noProxy?: string }) => {
    const c = new UpstreamClient({ connectTimeoutMs: 5_000, idleTimeoutMs: 10_000, proxy: proxySettings, tls: { ca: cert } });
    clients.push(c);
    return c;
  };
  const get = async (c: UpstreamClient, url: string) => {
    const res = await c.fetch(NO_UPSTREAM_AUTH, url);
    return { status: res.status, body: await readBounded(res.body, 64 * 1024 * 1024, () => new Error('too large')) };
  };

  beforeAll(async () => {
    certDir = mkdtempSync(join(tmpdir(), 'aa-proxy-tls-'));
    const made = selfSignedCert(certDir);
    cert = made.cert;
    proxy = await startTinyproxy({ user: 'bob', password: 's3cret' });
    tlsUpstream = await startNginx({ tls: made });
    plainUpstream = await startNginx();
    await writeFile(join(tlsUpstream.root, 'big.bin'), big);
    await writeFile(join(tlsUpstream.root, 'small.txt'), 'over TLS');
    await writeFile(join(plainUpstream.root, 'plain.txt'), 'over plain http');
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await proxy?.stop();
    await tlsUpstream?.stop();
    await plainUpstream?.stop();
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  it('https: one CONNECT tunnel carries TLS to the upstream, and is kept alive for the next request', async () => {
    const before = (await proxy.requests()).length;
    const c = client({ https: proxy.url });
    const a = await get(c, `${tlsUpstream.url}/big.bin`);
    expect(a.status).toBe(200);
    expect(a.body.length).toBe(big.length);
    expect(sha256(a.body)).toBe(sha256(big));
    const b = await get(c, `${tlsUpstream.url}/small.txt`);
    expect(b.body.toString()).toBe('over TLS');
    const seen = (await proxy.requests()).slice(before);
    expect(seen).toEqual([`CONNECT 127.0.0.1:${tlsUpstream.port} HTTP/1.1`]);
    expect(await tlsUpstream.countRequests('/big.bin')).toBe(1);
  });

  it('https: a slow reader pauses the tunnel and loses no byte', async () => {
    const c = client({ https: proxy.url });
    const res = await c.fetch(NO_UPSTREAM_AUTH, `${tlsUpstream.url}/big.bin`);
    const h = createHash('sha256');
    let n = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      h.update(chunk);
      n += chunk.length;
      await new Promise((r) => setTimeout(r, 3));
    }
    expect(n).toBe(big.length);
    expect(h.digest('hex')).toBe(sha256(big));
  });

  it('http: the request names its whole URL and carries the proxy credentials', async () => {
    const before = (await proxy.requests()).length;
    const c = client({ http: proxy.url });
    const r = await get(c, `${plainUpstream.url}/plain.txt`);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('over plain http');
    expect((await proxy.requests()).slice(before)).toEqual([`GET ${plainUpstream.url}/plain.txt HTTP/1.1`]);
  });

  it('wrong proxy credentials: CONNECT refused with a message that says so; plain http gets the proxy’s refusal', async () => {
    const wrong = proxy.url.replace(':s3cret@', ':nope@');
    expect(wrong).not.toBe(proxy.url);
    const c = client({ https: wrong, http: wrong });
    await expect(c.fetch(NO_UPSTREAM_AUTH, `${tlsUpstream.url}/small.txt`)).rejects.toThrow(/refused CONNECT 127\.0\.0\.1:\d+: 40[17] .*the user and password in the proxy URL were refused/);
    const plain = await c.fetch(NO_UPSTREAM_AUTH, `${plainUpstream.url}/plain.txt`);
    plain.body.resume();
    // 407 per RFC 9110; tinyproxy answers 401.
    expect([401, 407]).toContain(plain.status);
  });

  it('NO_PROXY hosts are reached directly', async () => {
    const before = (await proxy.requests()).length;
    const c = client({ https: proxy.url, http: proxy.url, noProxy: '127.0.0.1' });
    expect((await get(c, `${tlsUpstream.url}/small.txt`)).body.toString()).toBe('over TLS');
    expect((await get(c, `${plainUpstream.url}/plain.txt`)).body.toString()).toBe('over plain http');
    expect((await proxy.requests()).slice(before)).toEqual([]);
  });
});

describe.skipIf(!HAVE_TINYPROXY)('a remote repository behind the outgoing proxy (HTTP_PROXY in the server’s environment)', () => {
  let proxy: ForwardProxy;
  let own: ForwardProxy;
  let upstream: StaticUpstream;
  let t: TestApp;

  beforeAll(async () => {
    proxy = await startTinyproxy();
    own = await startTinyproxy({ user: 'team', password: 'p4ss' });
    upstream = await startNginx();
    await writeFile(join(upstream.root, 'tool-1.0.tar.gz'), 'a release');
    t = await startTestApp({ engine: 'uws', drivers: DRIVER_SETS[0]!, env: { HTTP_PROXY: proxy.url } });
    await t.createRepo({ name: 'proxied', package_type: 'generic', repo_type: 'remote', upstream: { url: upstream.url } });
    await t.createRepo({ name: 'own-proxy', package_type: 'generic', repo_type: 'remote', upstream: { url: upstream.url, proxy: own.url } });
    await t.createRepo({ name: 'direct', package_type: 'generic', repo_type: 'remote', upstream: { url: upstream.url, proxy: 'none' } });
  });
  afterAll(async () => {
    await t?.stop();
    await proxy?.stop();
    await own?.stop();
    await upstream?.stop();
  });

  it('a repository’s own proxy carries its requests (with its credentials), and `none` goes direct', async () => {
    const before = (await proxy.requests()).length;
    expect((await raw(t.url, 'GET', '/own-proxy/tool-1.0.tar.gz')).body.toString()).toBe('a release');
    expect((await raw(t.url, 'GET', '/direct/tool-1.0.tar.gz')).body.toString()).toBe('a release');
    expect(await own.requests()).toEqual([`GET ${upstream.url}/tool-1.0.tar.gz HTTP/1.1`]);
    expect((await proxy.requests()).slice(before)).toEqual([]);
    expect(await upstream.countRequests('/tool-1.0.tar.gz')).toBeGreaterThanOrEqual(2);
  });

  it('the repository’s JSON names its proxy without the credentials; a proxy that cannot be used is a 400', async () => {
    const shown = (await raw(t.url, 'GET', '/api/v2/repositories/own-proxy', { headers: t.auth })).json();
    expect(shown.upstream.proxy).toBe(`http://127.0.0.1:${own.port}`);
    expect(JSON.stringify(shown)).not.toContain('p4ss');
    const bad = await raw(t.url, 'POST', '/api/v2/repositories', {
      headers: { ...t.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'socks', package_type: 'generic', repo_type: 'remote', upstream: { url: upstream.url, proxy: 'socks5://127.0.0.1:1080' } }),
    });
    expect(bad.status).toBe(400);
    expect(bad.json().error).toMatchObject({ code: 'INVALID_REPOSITORY', detail: { field: 'upstream.proxy' } });
  });

  it('fetches through the proxy once, then serves from its cache', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await raw(t.url, 'GET', '/proxied/tool-1.0.tar.gz');
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe('a release');
    }
    expect(await proxy.requests()).toEqual([`GET ${upstream.url}/tool-1.0.tar.gz HTTP/1.1`]);
  });
});
