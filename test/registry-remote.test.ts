import { execFile } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIVER_SETS, startTestApp, type TestApp } from './helpers/app.js';
import { startDistribution, type Distribution } from './helpers/distribution.js';
import { raw } from './helpers/http.js';
import { makeLayout, type Layout } from './helpers/oci-layout.js';

const run = promisify(execFile);
const skopeo = async (...args: string[]) => (await run('/usr/bin/skopeo', ['--insecure-policy', ...args], { maxBuffer: 1 << 26, env: { ...process.env, HOME: tmpdir() } })).stdout;

// skopeo's HTTPS probe costs 10 s per command on the uWS engine (README): the skopeo flows run on node:http here,
// the protocol-level checks below run on both engines.
describe('remote and virtual docker repositories over CNCF distribution [node]', { timeout: 180_000 }, () => {
  let up: Distribution;
  let t: TestApp;
  let layout: Layout;
  let host: string;

  beforeAll(async () => {
    up = await startDistribution();
    layout = await makeLayout([400_000, 1_200_000]);
    await skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:${layout.tag}`, `docker://${up.host}/team/app:v1`);
    t = await startTestApp({ engine: 'node', drivers: DRIVER_SETS[0]! });
    host = new URL(t.url).host;
    await t.createRepo({ name: 'hub', package_type: 'docker', repo_type: 'remote', upstream: { url: up.url }, settings: { mutable_ttl_seconds: 0 } });
    await t.createRepo({ name: 'mine', package_type: 'docker', repo_type: 'local' });
    await t.createRepo({ name: 'all', package_type: 'docker', repo_type: 'virtual', members: ['mine', 'hub'], settings: { deploy_to: 'mine' } });
  });
  afterAll(async () => {
    await t?.stop();
    await up?.stop();
  });

  it('pulls through the remote cold then warm, digests verified, blobs fetched once', async () => {
    const out1 = await mkdtemp(join(tmpdir(), 'aa-pull-'));
    await skopeo('copy', '--src-tls-verify=false', `docker://${host}/hub/team/app:v1`, `oci:${out1}:v1`);
    const blobs = (await readdir(join(out1, 'blobs', 'sha256'))).map((h) => `sha256:${h}`).sort();
    expect(blobs).toEqual([...layout.blobDigests, layout.manifestDigest].sort());
    const layerGets = await up.countRequests('GET', `/v2/team/app/blobs/${layout.blobDigests[1]}`);
    expect(layerGets).toBe(1);
    const out2 = await mkdtemp(join(tmpdir(), 'aa-pull-'));
    await skopeo('copy', '--src-tls-verify=false', `docker://${host}/hub/team/app:v1`, `oci:${out2}:v1`);
    expect(await up.countRequests('GET', `/v2/team/app/blobs/${layout.blobDigests[1]}`)).toBe(1);
    const cached = await raw(t.url, 'GET', `/v2/hub/team/app/blobs/${layout.blobDigests[1]}`);
    expect(cached.headers['x-artifact-source']).toBe('cache');
    expect((await raw(t.url, 'GET', '/v2/hub/team/app/tags/list')).json()).toEqual({ name: 'hub/team/app', tags: ['v1'] });
    // The tag's TTL is 0: every pull revalidates it with a HEAD, and the manifest body is fetched only once.
    const tagGets = await up.countRequests('GET', '/v2/team/app/manifests/v1');
    const m1 = await raw(t.url, 'GET', '/v2/hub/team/app/manifests/v1', { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(m1.headers['x-artifact-source']).toBe('cache');
    expect(await up.countRequests('GET', '/v2/team/app/manifests/v1')).toBe(tagGets);
    expect(await up.countRequests('HEAD', '/v2/team/app/manifests/v1')).toBeGreaterThan(0);
    const manifest = await raw(t.url, 'GET', `/v2/hub/team/app/manifests/${layout.manifestDigest}`);
    expect(manifest.status, manifest.body.toString()).toBe(200);
    expect(manifest.headers['docker-content-digest']).toBe(layout.manifestDigest);
  });

  it('a tag whose upstream is gone is served stale; pushes to a remote are refused', async () => {
    await up.stop();
    const m = await raw(t.url, 'GET', '/v2/hub/team/app/manifests/v1', { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(m.status).toBe(200);
    expect(m.headers['x-artifact-stale']).toBe('true');
    expect(m.headers['docker-content-digest']).toBe(layout.manifestDigest);
    const push = await raw(t.url, 'POST', '/v2/hub/team/app/blobs/uploads/', { headers: t.auth });
    expect(push.status).toBe(405);
    expect(push.json().errors[0].code).toBe('UNSUPPORTED');
  });

  it('a virtual repository reads through its members and pushes to its deploy target', async () => {
    const out = await mkdtemp(join(tmpdir(), 'aa-pull-'));
    await skopeo('copy', '--src-tls-verify=false', `docker://${host}/all/team/app:v1`, `oci:${out}:v1`);
    await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', `u:${t.token}`, `oci:${layout.dir}:${layout.tag}`, `docker://${host}/all/team/pushed:v9`);
    expect((await raw(t.url, 'GET', '/v2/mine/team/pushed/manifests/v9')).headers['docker-content-digest']).toBe(layout.manifestDigest);
    expect((await raw(t.url, 'GET', '/v2/all/team/pushed/tags/list')).json().tags).toEqual(['v9']);
  });
});
