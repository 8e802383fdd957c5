import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const URL_ = process.env.ARTIFACTAPI_URL ?? 'http://127.0.0.1:8080';
const TOKEN = process.env.ARTIFACTAPI_TOKEN ?? '';
/** The fixture upstream as the *server* reaches it (a compose service name, or loopback natively). */
const UPSTREAM = process.env.E2E_UPSTREAM_URL ?? 'http://127.0.0.1:8081';
const auth = { authorization: `Bearer ${TOKEN}` };
const run = randomBytes(3).toString('hex');
const name = (n: string) => `e2e-${n}-${run}`;
const fixture = (p: string) => readFile(join(__dirname, 'fixtures', 'generic', p));
const sha = (b: Buffer | ArrayBuffer) => createHash('sha256').update(Buffer.from(b as ArrayBuffer)).digest('hex');

async function api(method: string, path: string, body?: unknown) {
  const res = await fetch(URL_ + path, { method, headers: { ...auth, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, json: res.status === 204 ? null : await res.json() };
}

describe('generic repositories, black box', () => {
  it('the stack is healthy', async () => {
    const res = await fetch(`${URL_}/health`);
    expect(res.status).toBe(200);
    expect((await res.json()).status).toBe('ok');
  });

  it('repository lifecycle: create, change, delete for remote, local and virtual', async () => {
    expect((await api('POST', '/api/v2/repositories', { name: name('remote'), package_type: 'generic', repo_type: 'remote', upstream: { url: `${UPSTREAM}/generic` } })).status).toBe(201);
    expect((await api('POST', '/api/v2/repositories', { name: name('local'), package_type: 'generic', repo_type: 'local' })).status).toBe(201);
    expect((await api('POST', '/api/v2/repositories', { name: name('virtual'), package_type: 'generic', repo_type: 'virtual', members: [name('local'), name('remote')], settings: { deploy_to: name('local') } })).status).toBe(201);
    const patched = await api('PATCH', `/api/v2/repositories/${name('remote')}`, { settings: { mutable_ttl_seconds: 30 } });
    expect(patched.status).toBe(200);
    expect(patched.json.settings.mutable_ttl_seconds).toBe(30);
    expect((await api('POST', '/api/v2/repositories', { name: name('tmp'), package_type: 'generic', repo_type: 'local' })).status).toBe(201);
    expect((await api('DELETE', `/api/v2/repositories/${name('tmp')}`)).status).toBe(204);
    expect((await api('GET', `/api/v2/repositories/${name('tmp')}`)).status).toBe(404);
  });

  it('a remote caches an immutable file: remote, then cache, bytes equal to the fixture', async () => {
    const want = await fixture('dir/data.txt');
    const a = await fetch(`${URL_}/${name('remote')}/dir/data.txt`);
    expect(a.headers.get('x-artifact-source')).toBe('remote');
    expect(sha(await a.arrayBuffer())).toBe(sha(want));
    const b = await fetch(`${URL_}/${name('remote')}/dir/data.txt`);
    expect(b.headers.get('x-artifact-source')).toBe('cache');
    expect(sha(await b.arrayBuffer())).toBe(sha(want));
  });

  it('local upload and download', async () => {
    const body = randomBytes(2_000_000);
    const put = await fetch(`${URL_}/${name('local')}/pkg/a.bin`, { method: 'PUT', headers: auth, body });
    expect(put.status).toBe(201);
    const get = await fetch(`${URL_}/${name('local')}/pkg/a.bin`);
    expect(sha(await get.arrayBuffer())).toBe(sha(body));
    expect((await fetch(`${URL_}/${name('local')}/pkg/a.bin`, { method: 'PUT', headers: auth, body })).status).toBe(409);
  });

  it('a virtual merges its members and publishes to its deploy target', async () => {
    const fromRemote = await fetch(`${URL_}/${name('virtual')}/hello.txt`);
    expect(await fromRemote.text()).toBe((await fixture('hello.txt')).toString());
    const put = await fetch(`${URL_}/${name('virtual')}/via-virtual.txt`, { method: 'PUT', headers: auth, body: 'v' });
    expect(put.status).toBe(201);
    expect((await put.json()).repo).toBe(name('local'));
    const listing = await (await fetch(`${URL_}/${name('virtual')}/pkg/`)).json();
    expect(listing.children.map((c: { name: string }) => c.name)).toContain('a.bin');
  });
});
