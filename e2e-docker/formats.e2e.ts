import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildModule } from '../test/helpers/puppet-modules.js';

const URL_ = process.env.ARTIFACTAPI_URL ?? 'http://127.0.0.1:8080';
const TOKEN = process.env.ARTIFACTAPI_TOKEN ?? '';
/** The fixture upstream and the stack itself, as the *server* reaches them (compose service names, or loopback). */
const UPSTREAM = process.env.E2E_UPSTREAM_URL ?? 'http://127.0.0.1:8081';
const SELF = process.env.E2E_SELF_URL ?? URL_;
const auth = { authorization: `Bearer ${TOKEN}` };
const run = randomBytes(3).toString('hex');
const name = (n: string) => `e2e-${n}-${run}`;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const fixture = (p: string) => readFile(join(__dirname, 'fixtures', p));

async function create(def: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${URL_}/api/v2/repositories`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(def) });
  expect(res.status, await res.text()).toBe(201);
}

/** GET twice through a remote: first from the upstream, then from the cache, both byte-identical to `expected`. */
async function remoteThenCache(path: string, expected: Buffer): Promise<void> {
  const sources: string[] = [];
  for (let i = 0; i < 2; i++) {
    const res = await fetch(`${URL_}${path}`);
    expect(res.status, path).toBe(200);
    sources.push(res.headers.get('x-artifact-source') ?? '');
    expect(sha(Buffer.from(await res.arrayBuffer()))).toBe(sha(expected));
  }
  expect(sources).toEqual(['remote', 'cache']);
}

describe('one immutable artifact per package type, cached by a remote, black box', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('go: a module zip from a static GOPROXY tree', async () => {
    await create({ name: name('go'), package_type: 'go', repo_type: 'remote', upstream: { url: `${UPSTREAM}/go` } });
    const list = await fetch(`${URL_}/${name('go')}/example.com/e2emod/@v/list`);
    expect((await list.text()).trim()).toBe('v1.0.0');
    await remoteThenCache(`/${name('go')}/example.com/e2emod/@v/v1.0.0.zip`, await fixture('go/example.com/e2emod/@v/v1.0.0.zip'));
  });

  it('alpine: a package its mirror index lists, checked against the index', async () => {
    await create({ name: name('apk'), package_type: 'alpine', repo_type: 'remote', upstream: { url: `${UPSTREAM}/alpine` } });
    const index = await fetch(`${URL_}/${name('apk')}/v3.19/main/x86_64/APKINDEX.tar.gz`);
    expect(Buffer.from(await index.arrayBuffer()).equals(await fixture('alpine/v3.19/main/x86_64/APKINDEX.tar.gz'))).toBe(true);
    await remoteThenCache(`/${name('apk')}/v3.19/main/x86_64/e2e-tool-1.0-r0.apk`, await fixture('alpine/v3.19/main/x86_64/e2e-tool-1.0-r0.apk'));
  });

  it('docker: a blob through a remote whose upstream is a registry (this stack’s own local repository)', async () => {
    await create({ name: name('oci'), package_type: 'docker', repo_type: 'local' });
    const data = randomBytes(200_000);
    const digest = `sha256:${sha(data)}`;
    const up = await fetch(`${URL_}/v2/${name('oci')}/app/blobs/uploads/?digest=${digest}`, { method: 'POST', headers: auth, body: data });
    expect(up.status).toBe(201);
    await create({ name: name('ocir'), package_type: 'docker', repo_type: 'remote', upstream: { url: SELF } });
    await remoteThenCache(`/v2/${name('ocir')}/${name('oci')}/app/blobs/${digest}`, data);
  });

  it('puppet: a release tarball through a remote whose upstream is a Forge (this stack’s own local repository)', async () => {
    const work = await mkdtemp(join(tmpdir(), 'aa-e2e-puppet-'));
    dirs.push(work);
    const tarball = await buildModule(work, { owner: 'e2e', name: `mod${run}`, version: '1.0.0' });
    await create({ name: name('forge'), package_type: 'puppet', repo_type: 'local' });
    const file = `e2e-mod${run}-1.0.0.tar.gz`;
    const body = await readFile(tarball);
    const put = await fetch(`${URL_}/${name('forge')}/v3/files/${file}`, { method: 'PUT', headers: auth, body });
    expect(put.status, await put.text()).toBe(201);
    await create({ name: name('forger'), package_type: 'puppet', repo_type: 'remote', upstream: { url: `${SELF}/${name('forge')}` } });
    // The remote learns the file's URL and digests from the release document first.
    expect((await fetch(`${URL_}/${name('forger')}/v3/releases/e2e-mod${run}-1.0.0`)).status).toBe(200);
    await remoteThenCache(`/${name('forger')}/v3/files/${file}`, body);
  });
});
