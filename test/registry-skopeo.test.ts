import { execFile } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIVER_SETS, ENGINES, startTestApp, type TestApp } from './helpers/app.js';
import { makeLayout, type Layout } from './helpers/oci-layout.js';
import { serverModeAvailable } from './helpers/services.js';

const run = promisify(execFile);
const SKOPEO = '/usr/bin/skopeo';
const matrix = ENGINES.flatMap((engine) => DRIVER_SETS.map((drivers) => ({ engine, drivers })));

async function skopeo(...args: string[]) {
  const { stdout } = await run(SKOPEO, ['--insecure-policy', ...args], { maxBuffer: 1 << 26, env: { ...process.env, HOME: tmpdir() } });
  return stdout;
}

// skopeo probes HTTPS first on a plain-HTTP registry: node:http rejects the TLS hello at once, uWS only after its
// 10 s idle timeout (see README), so every skopeo command against the uWS engine takes ≈ 10 s longer.
describe.each(matrix)('skopeo against a local docker repository [$engine, $drivers.name]', { timeout: 180_000 }, ({ engine, drivers }) => {
  const skip = drivers.db === 'postgres' && !serverModeAvailable();
  let t: TestApp;
  let layout: Layout;
  let host: string;
  beforeAll(async () => {
    if (skip) return;
    layout = await makeLayout([300_000, 2_000_000, 5_000]);
    t = await startTestApp({ engine, drivers });
    host = new URL(t.url).host;
    await t.createRepo({ name: 'dockerlocal', package_type: 'docker', repo_type: 'local' });
  });
  afterAll(async () => t?.stop());

  it.skipIf(skip)('copies a multi-layer image in, inspects it, lists tags, and copies it back out byte-identically', async () => {
    const creds = `admin:${t.token}`;
    await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', creds, `oci:${layout.dir}:${layout.tag}`, `docker://${host}/dockerlocal/team/app:v1`);
    const info = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${host}/dockerlocal/team/app:v1`));
    expect(info.Digest).toBe(layout.manifestDigest);
    expect(info.Layers).toEqual(layout.blobDigests.slice(1));
    // A second tag for the same manifest: skopeo reads it back and pushes it (blobs already there).
    await skopeo('copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--dest-creds', creds, `docker://${host}/dockerlocal/team/app:v1`, `docker://${host}/dockerlocal/team/app:v2`);
    const tags = JSON.parse(await skopeo('list-tags', '--tls-verify=false', `docker://${host}/dockerlocal/team/app`));
    expect(tags.Tags).toEqual(['v1', 'v2']);
    const out = await mkdtemp(join(tmpdir(), 'aa-oci-out-'));
    await skopeo('copy', '--src-tls-verify=false', `docker://${host}/dockerlocal/team/app:v1`, `oci:${out}:v1`);
    const blobs = (await readdir(join(out, 'blobs', 'sha256'))).map((h) => `sha256:${h}`).sort();
    expect(blobs).toEqual([...layout.blobDigests, layout.manifestDigest].sort());
  });

  it.skipIf(skip)('pushing without credentials is refused', async () => {
    await expect(skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:${layout.tag}`, `docker://${host}/dockerlocal/team/other:v1`)).rejects.toThrow(/unauthorized|authentication required|401/i);
  });
});

describe('podman against a local docker repository [node]', { timeout: 180_000 }, () => {
  let t: TestApp;
  let layout: Layout;
  let host: string;
  let storage: string;
  const podman = async (...args: string[]) =>
    (await run('/usr/bin/podman', ['--root', join(storage, 'root'), '--runroot', join(storage, 'run'), '--storage-driver', 'vfs', ...args], { maxBuffer: 1 << 26, env: { ...process.env, HOME: storage } })).stdout;

  beforeAll(async () => {
    storage = await mkdtemp(join(tmpdir(), 'aa-podman-'));
    layout = await makeLayout([200_000, 50_000]);
    t = await startTestApp({ engine: 'node', drivers: DRIVER_SETS[0]! });
    host = new URL(t.url).host;
    await t.createRepo({ name: 'pod', package_type: 'docker', repo_type: 'local' });
    await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', `u:${t.token}`, `oci:${layout.dir}:${layout.tag}`, `docker://${host}/pod/team/app:v1`);
  });
  afterAll(async () => t?.stop());

  it('pulls an image and pushes it back under another name', async () => {
    await podman('pull', '--tls-verify=false', `${host}/pod/team/app:v1`);
    expect(await podman('images', '--format', '{{.Repository}}:{{.Tag}}')).toContain(`${host}/pod/team/app:v1`);
    await podman('push', '--tls-verify=false', '--creds', `u:${t.token}`, `${host}/pod/team/app:v1`, `${host}/pod/team/copy:v2`);
    const tags = JSON.parse(await skopeo('list-tags', '--tls-verify=false', `docker://${host}/pod/team/copy`));
    expect(tags.Tags).toEqual(['v2']);
  });
});
