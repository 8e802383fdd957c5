import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIVER_SETS, ENGINES, startTestApp, type TestApp } from './helpers/app.js';
import { raw, sha256hex } from './helpers/http.js';
import { serverModeAvailable } from './helpers/services.js';

const matrix = ENGINES.flatMap((engine) => DRIVER_SETS.map((drivers) => ({ engine, drivers })));

/** Every file under the data dir's blob area (fs driver) — to prove nothing was stored. */
async function storedFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else out.push(join(d, e.name));
    }
  };
  await walk(join(dir, 'blobs'));
  return out;
}

describe.each(matrix)('local generic repository [$engine, $drivers.name]', ({ engine, drivers }) => {
  const skip = drivers.db === 'postgres' && !serverModeAvailable();
  let t: TestApp;
  const count = async (repo: string) => (await raw(t.url, 'GET', `/api/v2/repositories/${repo}/artifacts?limit=1000`)).json().artifacts.length as number;

  beforeAll(async () => {
    if (skip) return;
    t = await startTestApp({ engine, drivers, env: { ARTIFACTAPI_MAX_UPLOAD_SIZE: '4m' } });
    await t.createRepo({ name: 'files', package_type: 'generic', repo_type: 'local' });
    await t.createRepo({ name: 'small', package_type: 'generic', repo_type: 'local', settings: { max_upload_bytes: 1000 } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it.skipIf(skip)('upload and download round trip with SHA-256', async () => {
    const data = randomBytes(1_500_000);
    const put = await raw(t.url, 'PUT', '/files/dir/a.bin', { headers: { ...t.auth, 'x-checksum-sha256': sha256hex(data) }, body: data });
    expect(put.status).toBe(201);
    expect(put.json()).toMatchObject({ repo: 'files', path: 'dir/a.bin', size: data.length, sha256: sha256hex(data) });
    const get = await raw(t.url, 'GET', '/files/dir/a.bin');
    expect(get.status).toBe(200);
    expect(get.headers['x-artifact-source']).toBe('local');
    expect(get.body.equals(data)).toBe(true);
    expect(get.headers['x-checksum-sha256']).toBe(sha256hex(data));
    const head = await raw(t.url, 'HEAD', '/files/dir/a.bin');
    expect(Number(head.headers['content-length'])).toBe(data.length);
    // Conditional GET with the ETag.
    const cond = await raw(t.url, 'GET', '/files/dir/a.bin', { headers: { 'if-none-match': String(get.headers.etag) } });
    expect(cond.status).toBe(304);
  });

  it.skipIf(skip)('chunked upload (no Content-Length) works', async () => {
    const data = randomBytes(700_000);
    const put = await raw(t.url, 'PUT', '/files/chunked.bin', { headers: t.auth, body: Readable.from([data.subarray(0, 300_000), data.subarray(300_000)]) });
    expect(put.status).toBe(201);
    expect((await raw(t.url, 'GET', '/files/chunked.bin')).body.equals(data)).toBe(true);
  });

  it.skipIf(skip)('overwriting an existing path is 409 and keeps the original', async () => {
    await raw(t.url, 'PUT', '/files/once.txt', { headers: t.auth, body: 'first' });
    const again = await raw(t.url, 'PUT', '/files/once.txt', { headers: t.auth, body: 'second' });
    expect(again.status).toBe(409);
    expect(again.json().error.code).toBe('ALREADY_EXISTS');
    expect((await raw(t.url, 'GET', '/files/once.txt')).body.toString()).toBe('first');
  });

  it.skipIf(skip)('concurrent uploads of one new path: exactly one wins', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => raw(t.url, 'PUT', '/files/race.txt', { headers: t.auth, body: `writer ${i}` })),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(5);
  });

  it.skipIf(skip)('Range requests', async () => {
    const data = randomBytes(10_000);
    await raw(t.url, 'PUT', '/files/range.bin', { headers: t.auth, body: data });
    const r1 = await raw(t.url, 'GET', '/files/range.bin', { headers: { range: 'bytes=0-99' } });
    expect(r1.status).toBe(206);
    expect(r1.headers['content-range']).toBe('bytes 0-99/10000');
    expect(r1.body.equals(data.subarray(0, 100))).toBe(true);
    const r2 = await raw(t.url, 'GET', '/files/range.bin', { headers: { range: 'bytes=9990-' } });
    expect(r2.body.equals(data.subarray(9990))).toBe(true);
    const r3 = await raw(t.url, 'GET', '/files/range.bin', { headers: { range: 'bytes=-5' } });
    expect(r3.body.equals(data.subarray(9995))).toBe(true);
    const r4 = await raw(t.url, 'GET', '/files/range.bin', { headers: { range: 'bytes=20000-' } });
    expect(r4.status).toBe(416);
    expect(r4.headers['content-range']).toBe('bytes */10000');
  });

  it.skipIf(skip)('uploads over the maximum are 413 with nothing stored', async () => {
    const before = await count('files');
    const filesBefore = drivers.store === 'fs' ? await storedFiles(t.dataDir) : [];
    const declared = await raw(t.url, 'PUT', '/files/huge.bin', { headers: { ...t.auth, 'content-length': 5 * 1024 * 1024 }, body: randomBytes(5 * 1024 * 1024) }).catch(() => null);
    if (declared) expect(declared.status).toBe(413);
    const chunked = await raw(t.url, 'PUT', '/files/huge2.bin', { headers: t.auth, body: Readable.from([randomBytes(3 * 1024 * 1024), randomBytes(3 * 1024 * 1024)]) }).catch(() => null);
    if (chunked) {
      expect(chunked.status).toBe(413);
      expect(chunked.json().error.code).toBe('SIZE_LIMIT_EXCEEDED');
    }
    const perRepo = await raw(t.url, 'PUT', '/small/x.bin', { headers: t.auth, body: randomBytes(2000) });
    expect(perRepo.status).toBe(413);
    expect(await count('files')).toBe(before);
    expect(await count('small')).toBe(0);
    if (drivers.store === 'fs') expect(await storedFiles(t.dataDir)).toEqual(filesBefore);
  });

  it.skipIf(skip)('a client that aborts mid-upload leaves nothing stored', async () => {
    const before = await count('files');
    const ac = new AbortController();
    const body = new Readable({ read() {} });
    const p = raw(t.url, 'PUT', '/files/aborted.bin', { headers: { ...t.auth, 'content-length': 3_000_000 }, body, signal: ac.signal }).catch((e) => e);
    body.push(randomBytes(1_000_000));
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    await p;
    await new Promise((r) => setTimeout(r, 300));
    expect((await raw(t.url, 'GET', '/files/aborted.bin')).status).toBe(404);
    expect(await count('files')).toBe(before);
  });

  it.skipIf(skip)('a checksum header that does not match is 400 and nothing is stored', async () => {
    const r = await raw(t.url, 'PUT', '/files/bad-sum.bin', { headers: { ...t.auth, 'x-checksum-sha256': '0'.repeat(64) }, body: 'hello' });
    expect(r.status).toBe(400);
    expect(r.json().error.code).toBe('DIGEST_MISMATCH');
    expect((await raw(t.url, 'GET', '/files/bad-sum.bin')).status).toBe(404);
  });

  it.skipIf(skip)('path traversal and malformed paths are refused with 400 and nothing written', async () => {
    for (const p of ['/files/../etc/passwd', '/files/a/%2e%2e/b', '/files/a%2fb', '/files/a%5cb', '/files/a\\b', '/files/a%00b', '/files/%2e%2e/x', '/files/a//b', '/files/%zz']) {
      const put = await raw(t.url, 'PUT', p, { headers: t.auth, body: 'x' });
      expect(put.status, p).toBe(400);
      expect(put.json().error.code, p).toBe('PATH_INVALID');
      const get = await raw(t.url, 'GET', p);
      expect(get.status, p).toBe(400);
    }
  });

  it.skipIf(skip)('writes need the token: none → 401 with a challenge, wrong → 401; reads are anonymous', async () => {
    const none = await raw(t.url, 'PUT', '/files/noauth.txt', { body: 'x' });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Basic/);
    const wrong = await raw(t.url, 'PUT', '/files/noauth.txt', { headers: { authorization: 'Bearer nope' }, body: 'x' });
    expect(wrong.status).toBe(401);
    const basic = await raw(t.url, 'PUT', '/files/basic.txt', { headers: { authorization: `Basic ${Buffer.from(`anyone:${t.token}`).toString('base64')}` }, body: 'x' });
    expect(basic.status).toBe(201);
    expect((await raw(t.url, 'DELETE', '/files/basic.txt')).status).toBe(401);
    expect((await raw(t.url, 'GET', '/files/basic.txt')).status).toBe(200);
    expect((await raw(t.url, 'GET', '/files/noauth.txt')).status).toBe(404);
  });

  it.skipIf(skip)('a refusal of a small upload reads its body first and keeps the connection (keep-alive clients go on)', async () => {
    // fetch keeps connections alive: the next request must land on a socket the server still serves.
    await raw(t.url, 'PUT', '/files/keepalive.txt', { headers: t.auth, body: 'k' });
    for (let i = 0; i < 5; i++) {
      const refused = await fetch(`${t.url}/files/refused-${i}.bin`, { method: 'PUT', body: randomBytes(2_000_000) });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('connection')).not.toBe('close');
      const ok = await fetch(`${t.url}/files/keepalive.txt`, { method: 'HEAD' });
      expect(ok.status).toBe(200);
    }
  });

  it.skipIf(skip)('DELETE removes an artifact; a second DELETE is 404', async () => {
    await raw(t.url, 'PUT', '/files/del.txt', { headers: t.auth, body: 'bye' });
    expect((await raw(t.url, 'DELETE', '/files/del.txt', { headers: t.auth })).status).toBe(204);
    expect((await raw(t.url, 'GET', '/files/del.txt')).status).toBe(404);
    expect((await raw(t.url, 'DELETE', '/files/del.txt', { headers: t.auth })).status).toBe(404);
  });

  it.skipIf(skip)('directory listing is JSON with files and sub-directories', async () => {
    await raw(t.url, 'PUT', '/files/tree/x/1.txt', { headers: t.auth, body: '1' });
    await raw(t.url, 'PUT', '/files/tree/2.txt', { headers: t.auth, body: '22' });
    const l = await raw(t.url, 'GET', '/files/tree/');
    expect(l.status).toBe(200);
    expect(l.json().children).toEqual([
      expect.objectContaining({ name: '2.txt', type: 'file', size: 2 }),
      { name: 'x', type: 'directory' },
    ]);
  });

  it.skipIf(skip)('unknown repository is 404 with a JSON error', async () => {
    const r = await raw(t.url, 'GET', '/nope/file');
    expect(r.status).toBe(404);
    expect(r.json().error.code).toBe('REPO_NOT_FOUND');
  });
});
