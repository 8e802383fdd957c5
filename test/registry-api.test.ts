import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIVER_SETS, dropShared, ENGINES, newSharedState, startTestApp, type SharedState, type TestApp } from './helpers/app.js';
import { raw } from './helpers/http.js';
import { serverModeAvailable } from './helpers/services.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

function manifest(config: Buffer, layers: Buffer[], extra: Record<string, unknown> = {}) {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(l), size: l.length })),
      ...extra,
    }),
  );
}

describe.each(ENGINES)('OCI distribution API [%s]', (engine) => {
  let t: TestApp;
  const N = '/v2/reg/team/app';
  const push = (path: string, opts: Parameters<typeof raw>[3] = {}) => raw(t.url, opts.body === undefined && !path.includes('uploads') ? 'GET' : 'PUT', path, opts);
  void push;
  const monolithic = (data: Buffer, name = N) => raw(t.url, 'POST', `${name}/blobs/uploads/?digest=${sha(data)}`, { headers: { ...t.auth, 'content-type': 'application/octet-stream' }, body: data });
  const putManifest = (ref: string, body: Buffer, type = OCI_MANIFEST, name = N) => raw(t.url, 'PUT', `${name}/manifests/${ref}`, { headers: { ...t.auth, 'content-type': type }, body });

  beforeAll(async () => {
    t = await startTestApp({ engine, drivers: DRIVER_SETS[0]! });
    await t.createRepo({ name: 'reg', package_type: 'docker', repo_type: 'local' });
    await t.createRepo({ name: 'reg2', package_type: 'docker', repo_type: 'local' });
    await t.createRepo({ name: 'regro', package_type: 'docker', repo_type: 'local', settings: { allow_delete: false } });
  });
  afterAll(async () => t?.stop());

  it('ping: 401 with a challenge without credentials, 200 with them', async () => {
    const a = await raw(t.url, 'GET', '/v2/');
    expect(a.status).toBe(401);
    expect(a.headers['www-authenticate']).toMatch(/^Basic realm=/);
    expect(a.headers['docker-distribution-api-version']).toBe('registry/2.0');
    expect((await raw(t.url, 'GET', '/v2/', { headers: t.auth })).status).toBe(200);
  });

  it('monolithic POST ?digest=, then GET (with Range) and HEAD from metadata', async () => {
    const data = randomBytes(100_000);
    const r = await monolithic(data);
    expect(r.status).toBe(201);
    expect(r.headers['docker-content-digest']).toBe(sha(data));
    expect(r.headers.location).toBe(`${N}/blobs/${sha(data)}`);
    const g = await raw(t.url, 'GET', `${N}/blobs/${sha(data)}`);
    expect(g.body.equals(data)).toBe(true);
    const part = await raw(t.url, 'GET', `${N}/blobs/${sha(data)}`, { headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(part.body.equals(data.subarray(10, 20))).toBe(true);
    const h = await raw(t.url, 'HEAD', `${N}/blobs/${sha(data)}`);
    expect(h.headers['content-length']).toBe('100000');
    expect(h.headers['docker-content-digest']).toBe(sha(data));
    const unknown = await raw(t.url, 'GET', `${N}/blobs/sha256:${'0'.repeat(64)}`);
    expect(unknown.status).toBe(404);
    expect(unknown.json().errors[0].code).toBe('BLOB_UNKNOWN');
  });

  it('POST + PATCH chunks with Content-Range + status GET + PUT with a final body', async () => {
    const data = randomBytes(3_000_000);
    const post = await raw(t.url, 'POST', `${N}/blobs/uploads/`, { headers: t.auth });
    expect(post.status).toBe(202);
    const loc = post.headers.location!;
    expect(post.headers['docker-upload-uuid']).toBeTruthy();
    const p1 = await raw(t.url, 'PATCH', loc, { headers: { ...t.auth, 'content-range': '0-999999', 'content-type': 'application/octet-stream' }, body: data.subarray(0, 1_000_000) });
    expect(p1.status).toBe(202);
    expect(p1.headers.range).toBe('0-999999');
    // Out of order: 416 with the current range, nothing appended.
    const bad = await raw(t.url, 'PATCH', loc, { headers: { ...t.auth, 'content-range': '2000000-2999999' }, body: data.subarray(2_000_000) });
    expect(bad.status).toBe(416);
    expect(bad.headers.range).toBe('0-999999');
    const overlap = await raw(t.url, 'PATCH', loc, { headers: { ...t.auth, 'content-range': '500000-1499999' }, body: data.subarray(500_000, 1_500_000) });
    expect(overlap.status).toBe(416);
    const p2 = await raw(t.url, 'PATCH', loc, { headers: { ...t.auth, 'content-range': '1000000-1999999' }, body: data.subarray(1_000_000, 2_000_000) });
    expect(p2.status).toBe(202);
    const st = await raw(t.url, 'GET', loc, { headers: t.auth });
    expect(st.status).toBe(204);
    expect(st.headers.range).toBe('0-1999999');
    const fin = await raw(t.url, 'PUT', `${loc}?digest=${sha(data)}`, { headers: { ...t.auth, 'content-type': 'application/octet-stream' }, body: data.subarray(2_000_000) });
    expect(fin.status).toBe(201);
    // Where the closing request's time went: its body, the commit, the link.
    expect(fin.headers['server-timing']).toMatch(/^body;dur=\d+\.\d, commit;dur=\d+\.\d, link;dur=\d+\.\d$/);
    expect((await raw(t.url, 'GET', `${N}/blobs/${sha(data)}`)).body.equals(data)).toBe(true);
    // The session is gone.
    expect((await raw(t.url, 'GET', loc, { headers: t.auth })).json().errors[0].code).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  it('PATCHes to one process go on hashing with node:crypto (no hash-wasm state saved), and the digest is right', async () => {
    const data = randomBytes(5_000_000);
    const loc = (await raw(t.url, 'POST', `${N}/blobs/uploads/`, { headers: t.auth })).headers.location!;
    const id = loc.split('/').pop()!.split('?')[0]!;
    const hashState = async () => (await t.app.db.query<{ state: { hash: Record<string, string> } }>('SELECT state FROM upload_sessions WHERE id = $1', [id]))[0]!.state.hash;
    for (let off = 0; off < 4_000_000; off += 1_000_000) {
      const r = await raw(t.url, 'PATCH', loc, { headers: { ...t.auth, 'content-range': `${off}-${off + 999_999}` }, body: data.subarray(off, off + 1_000_000) });
      expect(r.status).toBe(202);
      expect(await hashState()).toEqual({ sha256: sha(data.subarray(0, off + 1_000_000)).slice(7) });
    }
    const fin = await raw(t.url, 'PUT', `${loc}?digest=${sha(data)}`, { headers: t.auth, body: data.subarray(4_000_000) });
    expect(fin.status).toBe(201);
    expect((await raw(t.url, 'GET', `${N}/blobs/${sha(data)}`)).body.equals(data)).toBe(true);
  });

  it('streamed PATCH without Content-Range, then an empty PUT', async () => {
    const data = randomBytes(1_500_000);
    const loc = (await raw(t.url, 'POST', `${N}/blobs/uploads/`, { headers: t.auth })).headers.location!;
    expect((await raw(t.url, 'PATCH', loc, { headers: t.auth, body: data })).status).toBe(202);
    const fin = await raw(t.url, 'PUT', `${loc}?digest=${sha(data)}`, { headers: { ...t.auth, 'content-length': 0 } });
    expect(fin.status).toBe(201);
    expect(fin.headers['server-timing']).toMatch(/^commit;dur=\d+\.\d, link;dur=\d+\.\d$/);
  });

  it('a wrong digest at the closing PUT is DIGEST_INVALID and nothing is stored', async () => {
    const data = randomBytes(10_000);
    const loc = (await raw(t.url, 'POST', `${N}/blobs/uploads/`, { headers: t.auth })).headers.location!;
    await raw(t.url, 'PATCH', loc, { headers: t.auth, body: data });
    const wrong = `sha256:${'1'.repeat(64)}`;
    const fin = await raw(t.url, 'PUT', `${loc}?digest=${wrong}`, { headers: { ...t.auth, 'content-length': 0 } });
    expect(fin.status).toBe(400);
    expect(fin.json().errors[0].code).toBe('DIGEST_INVALID');
    expect((await raw(t.url, 'HEAD', `${N}/blobs/${sha(data)}`)).status).toBe(404);
    expect((await raw(t.url, 'HEAD', `${N}/blobs/${wrong}`)).status).toBe(404);
    const malformed = await raw(t.url, 'POST', `${N}/blobs/uploads/?digest=sha256:xyz`, { headers: t.auth, body: data });
    expect(malformed.status).toBe(400);
    expect(malformed.json().errors[0].code).toBe('DIGEST_INVALID');
    const mono = await raw(t.url, 'POST', `${N}/blobs/uploads/?digest=${wrong}`, { headers: t.auth, body: data });
    expect(mono.status).toBe(400);
    expect(mono.json().errors[0].code).toBe('DIGEST_INVALID');
  });

  it('unknown upload, invalid names, cancel', async () => {
    const u = await raw(t.url, 'PATCH', `${N}/blobs/uploads/00000000-0000-0000-0000-000000000000`, { headers: t.auth, body: 'x' });
    expect(u.status).toBe(404);
    expect(u.json().errors[0].code).toBe('BLOB_UPLOAD_UNKNOWN');
    for (const bad of ['/v2/reg/Team/app/tags/list', '/v2/reg/te..am/tags/list', '/v2/onlyrepo/tags/list']) {
      const r = await raw(t.url, 'GET', bad);
      expect(r.status, bad).toBe(400);
      expect(r.json().errors[0].code).toBe('NAME_INVALID');
    }
    expect((await raw(t.url, 'GET', '/v2/nosuchrepo/x/tags/list')).json().errors[0].code).toBe('NAME_UNKNOWN');
    const loc = (await raw(t.url, 'POST', `${N}/blobs/uploads/`, { headers: t.auth })).headers.location!;
    expect((await raw(t.url, 'DELETE', loc, { headers: t.auth })).status).toBe(204);
    expect((await raw(t.url, 'GET', loc, { headers: t.auth })).status).toBe(404);
  });

  it('cross-repository mount: 201 when the blob exists there, a new session otherwise', async () => {
    const data = randomBytes(5000);
    await monolithic(data);
    const m = await raw(t.url, 'POST', `/v2/reg2/other/blobs/uploads/?mount=${sha(data)}&from=reg/team/app`, { headers: t.auth });
    expect(m.status).toBe(201);
    expect((await raw(t.url, 'GET', `/v2/reg2/other/blobs/${sha(data)}`)).body.equals(data)).toBe(true);
    const miss = await raw(t.url, 'POST', `/v2/reg2/other/blobs/uploads/?mount=sha256:${'2'.repeat(64)}&from=reg/team/app`, { headers: t.auth });
    expect(miss.status).toBe(202);
  });

  it('manifests: unknown blobs refused, push by tag and digest, GET/HEAD, tags pagination, delete', async () => {
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const layer = randomBytes(2000);
    const m = manifest(config, [layer]);
    const missing = await putManifest('v1', m);
    expect(missing.status).toBe(400);
    expect(missing.json().errors[0].code).toBe('MANIFEST_BLOB_UNKNOWN');
    await monolithic(config);
    await monolithic(layer);
    for (const tag of ['v1', 'v2', 'v3', 'latest']) {
      const r = await putManifest(tag, m);
      expect(r.status).toBe(201);
      expect(r.headers['docker-content-digest']).toBe(sha(m));
    }
    const byDigest = await putManifest(sha(m), m);
    expect(byDigest.status).toBe(201);
    const wrongDigest = await putManifest(`sha256:${'3'.repeat(64)}`, m);
    expect(wrongDigest.json().errors[0].code).toBe('DIGEST_INVALID');
    const g = await raw(t.url, 'GET', `${N}/manifests/v1`);
    expect(g.headers['content-type']).toBe(OCI_MANIFEST);
    expect(g.headers['docker-content-digest']).toBe(sha(m));
    expect(g.body.equals(m)).toBe(true);
    const h = await raw(t.url, 'HEAD', `${N}/manifests/${sha(m)}`);
    expect(h.status).toBe(200);
    expect(Number(h.headers['content-length'])).toBe(m.length);
    const p1 = await raw(t.url, 'GET', `${N}/tags/list?n=2`);
    expect(p1.json()).toEqual({ name: 'reg/team/app', tags: ['latest', 'v1'] });
    expect(p1.headers.link).toBe(`<${N}/tags/list?n=2&last=v1>; rel="next"`);
    const p2 = await raw(t.url, 'GET', `${N}/tags/list?n=2&last=v1`);
    expect(p2.json().tags).toEqual(['v2', 'v3']);
    expect((await raw(t.url, 'GET', `${N}/tags/list?n=0`)).json().tags).toEqual([]);
    const cat = await raw(t.url, 'GET', '/v2/_catalog');
    expect(cat.json().repositories).toEqual(expect.arrayContaining(['reg/team/app']));
    expect((await raw(t.url, 'GET', '/v2/_catalog?n=0')).json().repositories).toEqual([]);
    expect((await raw(t.url, 'GET', '/v2/_catalog?last=reg/team/app')).json().repositories).not.toContain('reg/team/app');
    // Tag deletion, then digest deletion takes the remaining tags with it.
    expect((await raw(t.url, 'DELETE', `${N}/manifests/v3`, { headers: t.auth })).status).toBe(202);
    expect((await raw(t.url, 'GET', `${N}/manifests/v3`)).json().errors[0].code).toBe('MANIFEST_UNKNOWN');
    expect((await raw(t.url, 'DELETE', `${N}/manifests/${sha(m)}`, { headers: t.auth })).status).toBe(202);
    expect((await raw(t.url, 'GET', `${N}/manifests/v1`)).status).toBe(404);
  });

  it('invalid and oversized manifests', async () => {
    const notJson = await putManifest('x', Buffer.from('{nope'));
    expect(notJson.json().errors[0].code).toBe('MANIFEST_INVALID');
    const schema1 = await putManifest('x', Buffer.from('{"schemaVersion":1}'));
    expect(schema1.json().errors[0].code).toBe('MANIFEST_INVALID');
    const big = await putManifest('x', Buffer.alloc(4 * 1024 * 1024 + 1, 0x20));
    expect(big.status).toBe(413);
    expect(big.json().errors[0].code).toBe('SIZE_INVALID');
    const badTag = await putManifest('-bad', Buffer.from('{}'));
    expect(badTag.status).toBe(400);
  });

  it('referrers: artifacts whose subject is a manifest, filtered by artifactType, and OCI-Subject on push', async () => {
    const config = Buffer.from('{"os":"linux"}');
    const layer = randomBytes(100);
    await monolithic(config);
    await monolithic(layer);
    const image = manifest(config, [layer]);
    await putManifest('img', image);
    const empty = Buffer.from('{}');
    await monolithic(empty);
    const sig = randomBytes(50);
    await monolithic(sig);
    const subject = { mediaType: OCI_MANIFEST, digest: sha(image), size: image.length };
    const art = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/vnd.example.sig',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(empty), size: 2 },
        layers: [{ mediaType: 'application/octet-stream', digest: sha(sig), size: sig.length }],
        subject,
        annotations: { who: 'test' },
      }),
    );
    const r = await putManifest(sha(art), art);
    expect(r.status).toBe(201);
    expect(r.headers['oci-subject']).toBe(sha(image));
    const list = await raw(t.url, 'GET', `${N}/referrers/${sha(image)}`);
    expect(list.status).toBe(200);
    expect(list.json().manifests).toEqual([{ mediaType: OCI_MANIFEST, digest: sha(art), size: art.length, artifactType: 'application/vnd.example.sig', annotations: { who: 'test' } }]);
    const filtered = await raw(t.url, 'GET', `${N}/referrers/${sha(image)}?artifactType=application/other`);
    expect(filtered.json().manifests).toEqual([]);
    expect(filtered.headers['oci-filters-applied']).toBe('artifactType');
    expect((await raw(t.url, 'GET', `${N}/referrers/sha256:${'4'.repeat(64)}`)).json().manifests).toEqual([]);
  });

  it('writes need the token; deletes can be disabled', async () => {
    const data = randomBytes(10);
    const r = await raw(t.url, 'POST', `${N}/blobs/uploads/?digest=${sha(data)}`, { body: data });
    expect(r.status).toBe(401);
    expect(r.json().errors[0].code).toBe('UNAUTHORIZED');
    await monolithic(data, '/v2/regro/img');
    const del = await raw(t.url, 'DELETE', `/v2/regro/img/blobs/${sha(data)}`, { headers: t.auth });
    expect(del.status).toBe(405);
    expect(del.json().errors[0].code).toBe('UNSUPPORTED');
  });
});

describe.skipIf(!serverModeAvailable())('chunked push across two replicas', () => {
  const server = DRIVER_SETS.find((d) => d.db === 'postgres')!;
  let shared: SharedState;
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    shared = newSharedState();
    a = await startTestApp({ engine: 'uws', drivers: server, shared });
    b = await startTestApp({ engine: 'node', drivers: server, shared });
    await a.createRepo({ name: 'regx', package_type: 'docker', repo_type: 'local' });
    for (let i = 0; i < 50 && !b.app.repos.get('regx'); i++) await new Promise((r) => setTimeout(r, 20));
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await shared?.s3?.stop();
    if (shared) await dropShared(shared, server);
  });

  it('POST→A, PATCH→B, PATCH→A, PUT→B finalises with the right digest; both serve it byte-identically', async () => {
    const data = randomBytes(7_000_000);
    const N = '/v2/regx/img';
    const loc = (await raw(a.url, 'POST', `${N}/blobs/uploads/`, { headers: a.auth })).headers.location!;
    expect((await raw(b.url, 'PATCH', loc, { headers: { ...b.auth, 'content-range': '0-2999999' }, body: data.subarray(0, 3_000_000) })).status).toBe(202);
    expect((await raw(a.url, 'PATCH', loc, { headers: { ...a.auth, 'content-range': '3000000-5999999' }, body: data.subarray(3_000_000, 6_000_000) })).status).toBe(202);
    const fin = await raw(b.url, 'PUT', `${loc}?digest=${sha(data)}`, { headers: b.auth, body: data.subarray(6_000_000) });
    expect(fin.status).toBe(201);
    for (const r of [a, b]) expect((await raw(r.url, 'GET', `${N}/blobs/${sha(data)}`)).body.equals(data)).toBe(true);
  });
});

describe('abandoned upload sessions', () => {
  it('are reaped with their staged bytes after the maximum age', async () => {
    const t = await startTestApp({ engine: 'node', drivers: DRIVER_SETS[0]! });
    try {
      await t.createRepo({ name: 'reap', package_type: 'docker', repo_type: 'local' });
      const loc = (await raw(t.url, 'POST', '/v2/reap/img/blobs/uploads/', { headers: t.auth })).headers.location!;
      await raw(t.url, 'PATCH', loc, { headers: t.auth, body: randomBytes(1000) });
      const { readdir } = await import('node:fs/promises');
      const { join } = await import('node:path');
      const staged = async () => (await readdir(join(t.dataDir, 'staging'))).length;
      expect(await staged()).toBe(1);
      const { UploadSessions } = await import('../src/registry/uploads.js');
      // Age the session as if it had been idle for two days, then reap with the default maximum age.
      await t.app.db.query(`UPDATE upload_sessions SET updated_at = now() - interval '2 days'`);
      const { createHasher } = await import('../src/hashing/pool.js');
      const { BlobService } = await import('../src/blobs/blob-service.js');
      const { DigestLocks } = await import('../src/blobs/digest-locks.js');
      const hasher = createHasher({ threads: 1 });
      const uploads = new UploadSessions(t.app.db, t.app.cache, t.app.store, new BlobService(t.app.store, t.app.db, hasher, new DigestLocks(t.app.cache)), hasher);
      expect(await uploads.reap(24 * 3600_000)).toBe(1);
      await hasher.close();
      expect(await staged()).toBe(0);
      expect((await raw(t.url, 'GET', loc, { headers: t.auth })).json().errors[0].code).toBe('BLOB_UPLOAD_UNKNOWN');
    } finally {
      await t.stop();
    }
  });
});

describe.each(ENGINES)('truncated blob bodies [%s]', (engine) => {
  it('a monolithic upload and a PATCH whose client vanishes mid-body store nothing', async () => {
    const { Readable } = await import('node:stream');
    const t = await startTestApp({ engine, drivers: DRIVER_SETS[0]! });
    try {
      await t.createRepo({ name: 'trunc', package_type: 'docker', repo_type: 'local' });
      const data = randomBytes(2_000_000);
      const cut = async (method: string, path: string) => {
        const body = new Readable({ read() {} });
        const ac = new AbortController();
        const p = raw(t.url, method, path, { headers: { ...t.auth, 'content-length': data.length }, body, signal: ac.signal }).catch(() => null);
        body.push(data.subarray(0, 700_000));
        await new Promise((r) => setTimeout(r, 200));
        ac.abort();
        await p;
        await new Promise((r) => setTimeout(r, 200));
      };
      await cut('POST', `/v2/trunc/img/blobs/uploads/?digest=${sha(data)}`);
      expect((await raw(t.url, 'HEAD', `/v2/trunc/img/blobs/${sha(data)}`)).status).toBe(404);
      const loc = (await raw(t.url, 'POST', '/v2/trunc/img/blobs/uploads/', { headers: t.auth })).headers.location!;
      await cut('PATCH', loc);
      const st = await raw(t.url, 'GET', loc, { headers: t.auth });
      expect(st.status).toBe(204);
      expect(st.headers.range).toBe('0-0');
      // The upload goes on from where the session says, whole chunks only.
      expect((await raw(t.url, 'PATCH', loc, { headers: { ...t.auth, 'content-range': `0-${data.length - 1}` }, body: data })).status).toBe(202);
      expect((await raw(t.url, 'PUT', `${loc}?digest=${sha(data)}`, { headers: { ...t.auth, 'content-length': 0 } })).status).toBe(201);
    } finally {
      await t.stop();
    }
  });
});
