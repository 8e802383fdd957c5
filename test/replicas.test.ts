import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIVER_SETS, dropShared, ENGINES, newSharedState, startTestApp, type SharedState, type TestApp } from './helpers/app.js';
import { hashGet, raw, sha256hex } from './helpers/http.js';
import { startNginx, type StaticUpstream } from './helpers/nginx.js';
import { serverModeAvailable } from './helpers/services.js';

const server = DRIVER_SETS.find((d) => d.db === 'postgres')!;

/** Two replicas sharing PostgreSQL, Redis and S3: they must behave as one server. */
describe.skipIf(!serverModeAvailable()).each(ENGINES)('two replicas [%s]', (engine) => {
  let shared: SharedState;
  let a: TestApp;
  let b: TestApp;
  let up: StaticUpstream;
  const big = randomBytes(48 * 1024 * 1024);

  beforeAll(async () => {
    shared = newSharedState();
    up = await startNginx({ limitRate: '64m' });
    await writeFile(join(up.root, 'big.bin'), big);
    a = await startTestApp({ engine, drivers: server, shared });
    b = await startTestApp({ engine, drivers: server, shared });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await shared?.s3?.stop();
    if (shared) await dropShared(shared, server);
    await up?.stop();
  });

  it('a repository created on one replica is served by the other at once', async () => {
    await a.createRepo({ name: 'shared-remote', package_type: 'generic', repo_type: 'remote', upstream: { url: up.url } });
    await a.createRepo({ name: 'shared-local', package_type: 'generic', repo_type: 'local' });
    // The change is announced over Redis pub/sub; allow it a moment to arrive.
    for (let i = 0; i < 50 && (await raw(b.url, 'GET', '/api/v2/repositories/shared-local')).status !== 200; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await raw(b.url, 'GET', '/api/v2/repositories/shared-local')).status).toBe(200);
    const put = await raw(a.url, 'PUT', '/shared-local/x.txt', { headers: a.auth, body: 'from a' });
    expect(put.status).toBe(201);
    expect((await raw(b.url, 'GET', '/shared-local/x.txt')).body.toString()).toBe('from a');
    await raw(b.url, 'PATCH', '/api/v2/repositories/shared-local', { headers: { ...b.auth, 'content-type': 'application/json' }, body: JSON.stringify({ settings: { private: true } }) });
    for (let i = 0; i < 50 && (await raw(a.url, 'GET', '/shared-local/x.txt')).status === 200; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await raw(a.url, 'GET', '/shared-local/x.txt')).status).toBe(401);
  });

  it('concurrent cold misses on both replicas cause one upstream fetch, and both serve identical bytes', async () => {
    const results = await Promise.all([
      ...Array.from({ length: 4 }, () => hashGet(a.url, '/shared-remote/big.bin')),
      ...Array.from({ length: 4 }, () => hashGet(b.url, '/shared-remote/big.bin')),
    ]);
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.sha256).toBe(sha256hex(big));
    }
    expect(await up.countRequests('/big.bin')).toBe(1);
    const sources = results.map((r) => r.headers['x-artifact-source']);
    // One replica streamed from the upstream; the other waited for its commit and served the cache.
    expect(sources).toContain('remote');
    expect(sources).toContain('cache');
  });

  it('a tag moved or deleted on one replica is seen at once by the other, whose hot cache held the old one', async () => {
    await a.createRepo({ name: 'shared-docker', package_type: 'docker', repo_type: 'local' });
    for (let i = 0; i < 50 && (await raw(b.url, 'GET', '/api/v2/repositories/shared-docker')).status !== 200; i++) await new Promise((r) => setTimeout(r, 20));
    const config = Buffer.from('{"os":"linux"}');
    const cd = `sha256:${sha256hex(config)}`;
    expect((await raw(a.url, 'POST', `/v2/shared-docker/app/blobs/uploads/?digest=${cd}`, { headers: a.auth, body: config })).status).toBe(201);
    const manifest = (n: number) =>
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd, size: config.length }, layers: [], annotations: { n: String(n) } }));
    const put = (host: TestApp, n: number) => raw(host.url, 'PUT', '/v2/shared-docker/app/manifests/latest', { headers: { ...host.auth, 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: manifest(n) });
    const read = async () => (await raw(b.url, 'GET', '/v2/shared-docker/app/manifests/latest')).body.toString();
    expect((await put(a, 1)).status).toBe(201);
    // B reads it (and now holds it in its hot cache) several times.
    for (let i = 0; i < 3; i++) expect(await read()).toBe(manifest(1).toString());
    expect((await put(a, 2)).status).toBe(201);
    let seen = '';
    for (let i = 0; i < 50 && (seen = await read()) !== manifest(2).toString(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(seen).toBe(manifest(2).toString());
    expect((await raw(a.url, 'DELETE', '/v2/shared-docker/app/manifests/latest', { headers: a.auth })).status).toBe(202);
    let status = 200;
    for (let i = 0; i < 50 && (status = (await raw(b.url, 'GET', '/v2/shared-docker/app/manifests/latest')).status) !== 404; i++) await new Promise((r) => setTimeout(r, 10));
    expect(status).toBe(404);
  });
});
