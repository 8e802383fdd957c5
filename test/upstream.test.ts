import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIVER_SETS, ENGINES, startTestApp, type TestApp } from './helpers/app.js';
import { raw } from './helpers/http.js';
import { startNginx, type StaticUpstream } from './helpers/nginx.js';

describe.each(ENGINES)('upstream credentials and timeouts [%s]', (engine) => {
  let t: TestApp;
  let up: StaticUpstream;
  let other: StaticUpstream;
  let silent: Server;
  const sockets: Socket[] = [];
  let silentPort = 0;

  beforeAll(async () => {
    up = await startNginx({ basicAuth: { user: 'ci', password: 's3cret' } });
    await writeFile(join(up.root, 'private.txt'), 'behind auth');
    // A PyPI index behind the repository's credentials that names one file beside it and one on another host.
    // The other host takes the same credentials: it serves the file only if they leak to it.
    other = await startNginx({ basicAuth: { user: 'ci', password: 's3cret' } });
    const file = Buffer.from('not really an sdist');
    const sum = createHash('sha256').update(file).digest('hex');
    await mkdir(join(up.root, 'simple', 'demo'), { recursive: true });
    await mkdir(join(up.root, 'files'), { recursive: true });
    await mkdir(join(other.root, 'files'), { recursive: true });
    await writeFile(join(up.root, 'files', 'demo-1.0.tar.gz'), file);
    await writeFile(join(other.root, 'files', 'demo-2.0.tar.gz'), file);
    await writeFile(
      join(up.root, 'simple', 'demo', 'index.html'),
      `<html><body><a href="../../files/demo-1.0.tar.gz#sha256=${sum}">demo-1.0.tar.gz</a><a href="${other.url}/files/demo-2.0.tar.gz#sha256=${sum}">demo-2.0.tar.gz</a></body></html>`,
    );
    // An upstream that accepts connections and never answers (a hung server).
    silent = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    silentPort = (silent.address() as { port: number }).port;
    t = await startTestApp({ engine, drivers: DRIVER_SETS[0]!, env: { ARTIFACTAPI_UPSTREAM_IDLE_TIMEOUT_MS: '700' } });
    await t.createRepo({ name: 'with-creds', package_type: 'generic', repo_type: 'remote', upstream: { url: up.url, username: 'ci', password: 's3cret' } });
    await t.createRepo({ name: 'wrong-creds', package_type: 'generic', repo_type: 'remote', upstream: { url: up.url, username: 'ci', password: 'nope' } });
    await t.createRepo({ name: 'py-creds', package_type: 'pypi', repo_type: 'remote', upstream: { url: `${up.url}/simple`, username: 'ci', password: 's3cret' } });
    await t.createRepo({ name: 'hung', package_type: 'generic', repo_type: 'remote', upstream: { url: `http://127.0.0.1:${silentPort}` } });
  });
  afterAll(async () => {
    await t?.stop();
    await up?.stop();
    await other?.stop();
    for (const s of sockets) s.destroy();
    silent?.close();
  });

  it('sends the repository’s basic credentials to the upstream', async () => {
    const ok = await raw(t.url, 'GET', '/with-creds/private.txt');
    expect(ok.status).toBe(200);
    expect(ok.body.toString()).toBe('behind auth');
    const bad = await raw(t.url, 'GET', '/wrong-creds/private.txt');
    expect(bad.status).toBe(502);
    expect(bad.json().error).toMatchObject({ code: 'UPSTREAM_ERROR', detail: { status: 401 } });
  });

  it('credentials go only to the upstream: a file the index names on another host is fetched without them', async () => {
    const page = await raw(t.url, 'GET', '/py-creds/simple/demo/', { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    const links = [...page.body.toString().matchAll(/href="([^"#]+)/g)].map((m) => new URL(m[1]!, `${t.url}/py-creds/simple/demo/`).pathname);
    expect(links).toHaveLength(2);
    const [beside, elsewhere] = links as [string, string];
    expect((await raw(t.url, 'GET', beside)).status).toBe(200);
    const leaked = await raw(t.url, 'GET', elsewhere);
    expect(leaked.status).toBe(502);
    expect(leaked.json().error).toMatchObject({ code: 'UPSTREAM_ERROR', detail: { status: 401 } });
  });

  it('an upstream that never answers is a 502 after the idle timeout, not a hang', async () => {
    const t0 = Date.now();
    const r = await raw(t.url, 'GET', '/hung/file.bin');
    expect(r.status).toBe(502);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});
