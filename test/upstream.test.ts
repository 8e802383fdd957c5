import { writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIVER_SETS, ENGINES, startTestApp, type TestApp } from './helpers/app.js';
import { raw } from './helpers/http.js';
import { startNginx, type StaticUpstream } from './helpers/nginx.js';

describe.each(ENGINES)('upstream credentials and timeouts [%s]', (engine) => {
  let t: TestApp;
  let up: StaticUpstream;
  let silent: Server;
  const sockets: Socket[] = [];
  let silentPort = 0;

  beforeAll(async () => {
    up = await startNginx({ basicAuth: { user: 'ci', password: 's3cret' } });
    await writeFile(join(up.root, 'private.txt'), 'behind auth');
    // An upstream that accepts connections and never answers (a hung server).
    silent = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    silentPort = (silent.address() as { port: number }).port;
    t = await startTestApp({ engine, drivers: DRIVER_SETS[0]!, env: { ARTIFACTAPI_UPSTREAM_IDLE_TIMEOUT_MS: '700' } });
    await t.createRepo({ name: 'with-creds', package_type: 'generic', repo_type: 'remote', upstream: { url: up.url, username: 'ci', password: 's3cret' } });
    await t.createRepo({ name: 'wrong-creds', package_type: 'generic', repo_type: 'remote', upstream: { url: up.url, username: 'ci', password: 'nope' } });
    await t.createRepo({ name: 'hung', package_type: 'generic', repo_type: 'remote', upstream: { url: `http://127.0.0.1:${silentPort}` } });
  });
  afterAll(async () => {
    await t?.stop();
    await up?.stop();
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

  it('an upstream that never answers is a 502 after the idle timeout, not a hang', async () => {
    const t0 = Date.now();
    const r = await raw(t.url, 'GET', '/hung/file.bin');
    expect(r.status).toBe(502);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});
