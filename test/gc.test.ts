import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIVER_SETS, ENGINES, startTestApp, type TestApp } from './helpers/app.js';
import { raw } from './helpers/http.js';
import { startNginx, type StaticUpstream } from './helpers/nginx.js';
import { serverModeAvailable } from './helpers/services.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const matrix = ENGINES.flatMap((engine) => DRIVER_SETS.map((drivers) => ({ engine, drivers })));

describe.each(matrix)('garbage collection [$engine, $drivers.name]', ({ engine, drivers }) => {
  const skip = drivers.db === 'postgres' && !serverModeAvailable();
  let t: TestApp;
  let up: StaticUpstream;
  const gc = async (dry = false) => {
    const r = await raw(t.url, 'POST', `/api/v2/gc${dry ? '?dry_run=true' : ''}`, { headers: t.auth });
    expect(r.status).toBe(200);
    return r.json();
  };
  const objects = async () => {
    let n = 0;
    for await (const _ of t.app.store.list()) n++;
    return n;
  };

  beforeAll(async () => {
    if (skip) return;
    up = await startNginx();
    // A grace period of 2 s: long enough for a push to link what it uploaded, short enough to test.
    t = await startTestApp({ engine, drivers, env: { ARTIFACTAPI_GC_GRACE_S: '2', ARTIFACTAPI_GC_INTERVAL_S: '0' } });
    await t.createRepo({ name: 'g', package_type: 'generic', repo_type: 'local' });
    await t.createRepo({ name: 'd', package_type: 'docker', repo_type: 'local' });
    await t.createRepo({ name: 'du', package_type: 'docker', repo_type: 'local', settings: { gc_untagged_manifests: true } });
    await t.createRepo({ name: 'cache', package_type: 'generic', repo_type: 'remote', upstream: { url: up.url }, settings: { cache_max_bytes: 250_000 } });
  });
  afterAll(async () => {
    await t?.stop();
    await up?.stop();
  });

  it.skipIf(skip)('deletes unreferenced blobs only after the grace period; a dry run deletes nothing', async () => {
    const data = randomBytes(50_000);
    await raw(t.url, 'PUT', '/g/doomed.bin', { headers: t.auth, body: data });
    await raw(t.url, 'PUT', '/g/kept.bin', { headers: t.auth, body: randomBytes(10_000) });
    expect((await raw(t.url, 'DELETE', '/g/doomed.bin', { headers: t.auth })).status).toBe(204);
    const before = await objects();
    expect((await gc()).blobsDeleted).toBe(0); // younger than the grace period
    await new Promise((r) => setTimeout(r, 2100));
    const dry = await gc(true);
    expect(dry).toMatchObject({ dryRun: true, blobsDeleted: 1, bytesFreed: 50_000 });
    expect(await objects()).toBe(before);
    const real = await gc();
    expect(real).toMatchObject({ dryRun: false, blobsDeleted: 1, bytesFreed: 50_000 });
    expect(await objects()).toBe(before - 1);
    expect((await raw(t.url, 'GET', '/g/kept.bin')).status).toBe(200);
    // Re-uploading the collected content works (one copy per digest again).
    expect((await raw(t.url, 'PUT', '/g/doomed-again.bin', { headers: t.auth, body: data })).status).toBe(201);
    expect((await raw(t.url, 'GET', '/g/doomed-again.bin')).body.equals(data)).toBe(true);
  });

  it.skipIf(skip)('evicts least recently used remote cache entries beyond the repository quota', async () => {
    for (const n of ['a', 'b', 'c']) await writeFile(join(up.root, `${n}.bin`), randomBytes(100_000));
    for (const n of ['a', 'b', 'c']) {
      await raw(t.url, 'GET', `/cache/${n}.bin`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await t.app.db.query(`UPDATE artifacts SET last_accessed_at = now() - interval '1 hour' WHERE path = 'a.bin'`);
    const r = await gc();
    expect(r.cacheEntriesEvicted).toBe(1);
    const left = (await raw(t.url, 'GET', '/api/v2/repositories/cache/artifacts')).json().artifacts.map((a: { path: string }) => a.path);
    expect(left).toEqual(['b.bin', 'c.bin']);
  });

  it.skipIf(skip)('collecting in a loop while images are pushed and pulled never loses anything referenced', async () => {
    const pushed: Array<{ tag: string; manifest: Buffer; blobs: Buffer[] }> = [];
    let stop = false;
    let deleted = 0;
    const collector = (async () => {
      let runs = 0;
      while (!stop) {
        const r = await raw(t.url, 'POST', '/api/v2/gc', { headers: t.auth });
        expect([200, 409]).toContain(r.status);
        if (r.status === 200) deleted += r.json().blobsDeleted;
        runs++;
      }
      return runs;
    })();
    const shared = randomBytes(30_000); // every image reuses this layer: reuse races GC
    for (let i = 0; i < 12; i++) {
      const config = Buffer.from(JSON.stringify({ os: 'linux', i }));
      const layer = randomBytes(20_000 + i);
      for (const b of [config, layer, shared]) {
        const r = await raw(t.url, 'POST', `/v2/d/img/blobs/uploads/?digest=${sha(b)}`, { headers: t.auth, body: b });
        expect(r.status).toBe(201);
      }
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
          layers: [layer, shared].map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(l), size: l.length })),
        }),
      );
      const put = await raw(t.url, 'PUT', `/v2/d/img/manifests/t${i}`, { headers: { ...t.auth, 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: manifest });
      expect(put.status).toBe(201);
      pushed.push({ tag: `t${i}`, manifest, blobs: [config, layer, shared] });
      // Untag every other image so GC has real garbage to chase meanwhile.
      if (i % 2 === 1) await raw(t.url, 'DELETE', `/v2/d/img/manifests/${sha(manifest)}`, { headers: t.auth });
    }
    // Keep pulling past the grace period, so the collector deletes the untagged images' blobs meanwhile.
    // Generic churn makes garbage (and re-uploads the shared layer's bytes under a path that is then deleted).
    const until = Date.now() + 3500;
    for (let i = 0; Date.now() < until; i++) {
      for (const p of pushed.filter((_, j) => j % 2 === 0)) expect((await raw(t.url, 'GET', `/v2/d/img/manifests/${p.tag}`)).status).toBe(200);
      await raw(t.url, 'PUT', `/g/churn-${i}.bin`, { headers: t.auth, body: i % 2 ? shared : randomBytes(1000) });
      await raw(t.url, 'DELETE', `/g/churn-${i}.bin`, { headers: t.auth });
    }
    stop = true;
    expect(await collector).toBeGreaterThan(0);
    expect(deleted).toBeGreaterThan(0);
    for (const p of pushed.filter((_, i) => i % 2 === 0)) {
      const m = await raw(t.url, 'GET', `/v2/d/img/manifests/${p.tag}`);
      expect(m.body.equals(p.manifest)).toBe(true);
      for (const b of p.blobs) expect((await raw(t.url, 'GET', `/v2/d/img/blobs/${sha(b)}`)).body.equals(b)).toBe(true);
    }
  });

  it.skipIf(skip)('gc_untagged_manifests: manifests no tag reaches go with their own layers; index children and referrers stay', async () => {
    const blob = async (b: Buffer) => expect((await raw(t.url, 'POST', `/v2/du/app/blobs/uploads/?digest=${sha(b)}`, { headers: t.auth, body: b })).status).toBe(201);
    const put = async (ref: string, doc: object, type = 'application/vnd.oci.image.manifest.v1+json') => {
      const body = Buffer.from(JSON.stringify(doc));
      const r = await raw(t.url, 'PUT', `/v2/du/app/manifests/${ref === '@' ? sha(body) : ref}`, { headers: { ...t.auth, 'content-type': type }, body });
      expect(r.status, r.body.toString()).toBe(201);
      return { digest: sha(body), size: body.length, mediaType: type };
    };
    const image = async (ref: string, layers: Buffer[], extra: object = {}) => {
      const config = Buffer.from(JSON.stringify({ os: 'linux', n: randomBytes(4).toString('hex') }));
      for (const b of [config, ...layers]) await blob(b);
      const desc = await put(ref, {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
        layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(l), size: l.length })),
        ...extra,
      });
      return { ...desc, config };
    };
    const shared = randomBytes(5000);
    const [a, b, c, d] = [randomBytes(6000), randomBytes(7000), randomBytes(8000), randomBytes(9000)];
    const v1 = await image('latest', [a, shared]);
    const v2 = await image('latest', [b, shared]); // the tag moves: v1 is untagged now
    const child = await image('@', [c]);
    await put('multi', { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: child.mediaType, digest: child.digest, size: child.size }] }, 'application/vnd.oci.image.index.v1+json');
    const referrer = await image('@', [], { artifactType: 'application/vnd.example.sbom', subject: { mediaType: v2.mediaType, digest: v2.digest, size: v2.size } });
    const orphan = await image('@', [d]);
    await new Promise((r) => setTimeout(r, 2100));
    const dry = await gc(true);
    expect(dry).toMatchObject({ untaggedManifestsDeleted: 2, blobLinksDeleted: 4 });
    expect((await raw(t.url, 'GET', `/v2/du/app/manifests/${v1.digest}`)).status).toBe(200);
    const real = await gc();
    expect(real).toMatchObject({ untaggedManifestsDeleted: 2, blobLinksDeleted: 4 });
    for (const gone of [`manifests/${v1.digest}`, `manifests/${orphan.digest}`, `blobs/${sha(a)}`, `blobs/${sha(d)}`, `blobs/${sha(v1.config)}`]) {
      expect((await raw(t.url, 'GET', `/v2/du/app/${gone}`)).status, gone).toBe(404);
    }
    for (const kept of ['manifests/latest', 'manifests/multi', `manifests/${child.digest}`, `manifests/${referrer.digest}`, `blobs/${sha(b)}`, `blobs/${sha(c)}`, `blobs/${sha(shared)}`]) {
      expect((await raw(t.url, 'GET', `/v2/du/app/${kept}`)).status, kept).toBe(200);
    }
    // The same blob pushed again links it again; nothing stale is served meanwhile.
    await blob(a);
    expect((await raw(t.url, 'GET', `/v2/du/app/blobs/${sha(a)}`)).body.equals(a)).toBe(true);
  });
});
