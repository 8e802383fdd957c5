import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIVER_SETS, startTestApp, type TestApp } from './helpers/app.js';
import { hashGet, raw } from './helpers/http.js';
import { startNginx, type StaticUpstream } from './helpers/nginx.js';
import { serverModeAvailable } from './helpers/services.js';
import { goDirhash, mirrorInstall, providerZip, type ProviderZip } from './helpers/terraform-providers.js';

const ADDR = 'registry.terraform.io/hashicorp/demo';

describe.each(DRIVER_SETS)('terraform provider network mirror [$name]', (drivers) => {
  const skip = drivers.db === 'postgres' && !serverModeAvailable();
  let t: TestApp;
  let up: StaticUpstream;
  let work: string;
  const z: Record<string, ProviderZip> = {};

  const put = (repo: string, path: string, body: Buffer, auth = true) => raw(t.url, 'PUT', `/${repo}/${path}`, { headers: auth ? t.auth : {}, body });
  const getJson = async (repo: string, path: string) => {
    const r = await raw(t.url, 'GET', `/${repo}/${path}`);
    return { status: r.status, type: r.headers['content-type'], body: r.status === 200 ? r.json() : r.body.toString(), text: r.body.toString() };
  };

  beforeAll(async () => {
    if (skip) return;
    work = await mkdtemp(join(tmpdir(), 'aa-tf-'));
    z.l12 = await providerZip(work, 'demo', '1.2.0', 'linux', 'amd64');
    z.d12 = await providerZip(work, 'demo', '1.2.0', 'darwin', 'arm64', { layout: 'python' });
    z.l110 = await providerZip(work, 'demo', '1.10.0', 'linux', 'amd64');
    z.noexe = await providerZip(work, 'demo', '2.0.0', 'linux', 'amd64', { executable: 'something-else' });
    z.r09 = await providerZip(work, 'demo', '0.9.0', 'linux', 'amd64');
    z.r09d = await providerZip(work, 'demo', '0.9.0', 'darwin', 'arm64', { layout: 'python' });
    z.r12 = await providerZip(work, 'demo', '1.2.0', 'linux', 'amd64');
    z.badzh = await providerZip(work, 'demo', '0.9.0', 'windows', 'amd64');
    z.badh1 = await providerZip(work, 'demo', '0.9.0', 'linux', 'arm64');

    // The upstream: a static mirror as `terraform providers mirror` writes it (h1 only, relative URLs), plus an
    // absolute URL with a zh hash, and two archives whose hashes do not match.
    up = await startNginx();
    const mdir = join(up.root, 'mirror', ADDR);
    await mkdir(mdir, { recursive: true });
    await mkdir(join(up.root, 'dl'), { recursive: true });
    await copyFile(z.r09!.file, join(mdir, 'terraform-provider-demo_0.9.0_linux_amd64.zip'));
    await copyFile(z.r09d!.file, join(up.root, 'dl', 'demo-darwin.zip'));
    await copyFile(z.badzh!.file, join(mdir, 'terraform-provider-demo_0.9.0_windows_amd64.zip'));
    await copyFile(z.badh1!.file, join(mdir, 'terraform-provider-demo_0.9.0_linux_arm64.zip'));
    await copyFile(z.r12!.file, join(mdir, 'terraform-provider-demo_1.2.0_linux_amd64.zip'));
    await writeFile(join(mdir, 'index.json'), JSON.stringify({ versions: { '0.9.0': {}, '1.2.0': {} } }));
    await writeFile(
      join(mdir, '0.9.0.json'),
      JSON.stringify({
        archives: {
          linux_amd64: { url: 'terraform-provider-demo_0.9.0_linux_amd64.zip', hashes: [z.r09!.h1] },
          darwin_arm64: { url: `${up.url}/dl/demo-darwin.zip`, hashes: [`zh:${z.r09d!.zh}`] },
          windows_amd64: { url: 'terraform-provider-demo_0.9.0_windows_amd64.zip', hashes: [`zh:${'0'.repeat(64)}`] },
          linux_arm64: { url: './terraform-provider-demo_0.9.0_linux_arm64.zip', hashes: [z.r09!.h1] },
        },
      }),
    );
    await writeFile(join(mdir, '1.2.0.json'), JSON.stringify({ archives: { linux_amd64: { url: 'terraform-provider-demo_1.2.0_linux_amd64.zip', hashes: [z.r12!.h1] } } }));

    t = await startTestApp({ engine: 'uws', drivers });
    await t.createRepo({ name: 'tf', package_type: 'terraform', repo_type: 'local' });
    await t.createRepo({ name: 'tf-remote', package_type: 'terraform', repo_type: 'remote', upstream: { url: `${up.url}/mirror` } });
    await t.createRepo({ name: 'tf-all', package_type: 'terraform', repo_type: 'virtual', members: ['tf', 'tf-remote'], settings: { deploy_to: 'tf' } });
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
    await up?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it.skipIf(skip)('local: provider zips uploaded by PUT are listed with h1 (as Python computes it) and zh hashes', async () => {
    expect((await put('tf', `${ADDR}/terraform-provider-demo_1.2.0_linux_amd64.zip`, z.l12!.bytes)).status).toBe(201);
    expect((await put('tf', `${ADDR}/terraform-provider-demo_1.2.0_darwin_arm64.zip`, z.d12!.bytes)).status).toBe(201);
    expect((await put('tf', `${ADDR}/terraform-provider-demo_1.10.0_linux_amd64.zip`, z.l110!.bytes)).status).toBe(201);

    const idx = await getJson('tf', `${ADDR}/index.json`);
    expect(idx.type).toMatch(/^application\/json/);
    expect(idx.text).toBe('{"versions":{"1.2.0":{},"1.10.0":{}}}');
    const v = await getJson('tf', `${ADDR}/1.2.0.json`);
    expect(v.body).toEqual({
      archives: {
        darwin_arm64: { url: 'terraform-provider-demo_1.2.0_darwin_arm64.zip', hashes: [z.d12!.h1, `zh:${z.d12!.zh}`] },
        linux_amd64: { url: 'terraform-provider-demo_1.2.0_linux_amd64.zip', hashes: [z.l12!.h1, `zh:${z.l12!.zh}`] },
      },
    });
    for (const [platform, pkg] of [['linux_amd64', z.l12!], ['darwin_arm64', z.d12!]] as const) {
      const got = await mirrorInstall(`${t.url}/tf/`, ADDR, '1.2.0', platform, work);
      expect(got.url).toBe(`${t.url}/tf/${ADDR}/terraform-provider-demo_1.2.0_${platform}.zip`);
      expect(got.bytes.equals(pkg.bytes)).toBe(true);
    }
    expect((await mirrorInstall(`${t.url}/tf/`, ADDR, '1.10.0', 'linux_amd64', work)).bytes.equals(z.l110!.bytes)).toBe(true);
  });

  it.skipIf(skip)('the served h1 equals Go dirhash.HashZip, the code Terraform itself runs', async () => {
    const goH1 = await goDirhash(work);
    if (!goH1) {
      console.warn('Go toolchain has no vendored x/mod/sumdb/dirhash: h1 checked against the Python implementation only');
      return;
    }
    const v = (await getJson('tf', `${ADDR}/1.2.0.json`)).body as { archives: Record<string, { hashes: string[] }> };
    expect(v.archives.linux_amd64!.hashes[0]).toBe(goH1(z.l12!.file));
    // zipfile layout: a stored entry, a directory entry and a subdirectory.
    expect(v.archives.darwin_arm64!.hashes[0]).toBe(goH1(z.d12!.file));
  });

  it.skipIf(skip)('local: uploads are validated and unknown providers or versions are a 404', async () => {
    expect((await put('tf', `${ADDR}/terraform-provider-demo_1.2.0_linux_amd64.zip`, z.l12!.bytes)).status).toBe(409);
    const noexe = await put('tf', `${ADDR}/terraform-provider-demo_2.0.0_linux_amd64.zip`, z.noexe!.bytes);
    expect(noexe.status).toBe(400);
    expect(noexe.json().error.message).toMatch(/terraform-provider-demo\* executable/);
    expect((await put('tf', `${ADDR}/terraform-provider-demo_2.0.0_linux_amd64.zip`, Buffer.from('not a zip at all, not at all'))).status).toBe(400);
    for (const bad of [
      `${ADDR}/terraform-provider-other_2.0.0_linux_amd64.zip`,
      `${ADDR}/terraform-provider-demo_v2.0.0_linux_amd64.zip`,
      `${ADDR}/terraform-provider-demo_2.0.0_linux.zip`,
      `${ADDR}/demo.zip`,
      `${ADDR}/index.json`,
      `terraform-provider-demo_2.0.0_linux_amd64.zip`,
      `Registry.Terraform.io/hashicorp/demo/terraform-provider-demo_2.0.0_linux_amd64.zip`,
    ]) {
      expect((await put('tf', bad, z.l12!.bytes)).status, bad).toBe(400);
    }
    expect((await put('tf', `${ADDR}/terraform-provider-demo_2.0.0_linux_amd64.zip`, z.l12!.bytes, false)).status).toBe(401);
    expect((await getJson('tf', 'registry.terraform.io/hashicorp/nothere/index.json')).status).toBe(404);
    expect((await getJson('tf', `${ADDR}/9.9.9.json`)).status).toBe(404);
    expect((await getJson('tf', `${ADDR}/index.json`)).text).toBe('{"versions":{"1.2.0":{},"1.10.0":{}}}');
  });

  it.skipIf(skip)('remote: archive URLs rewritten (relative and absolute upstream URLs), verified against h1 or zh, cached', async () => {
    const doc = await getJson('tf-remote', `${ADDR}/0.9.0.json`);
    expect(doc.text).not.toContain(up.url);
    expect(doc.body.archives.linux_amd64).toEqual({ url: 'terraform-provider-demo_0.9.0_linux_amd64.zip', hashes: [z.r09!.h1] });
    expect(doc.body.archives.darwin_arm64).toEqual({ url: 'terraform-provider-demo_0.9.0_darwin_arm64.zip', hashes: [`zh:${z.r09d!.zh}`] });
    expect((await getJson('tf-remote', `${ADDR}/index.json`)).text).toBe('{"versions":{"0.9.0":{},"1.2.0":{}}}');
    const a = await mirrorInstall(`${t.url}/tf-remote/`, ADDR, '0.9.0', 'linux_amd64', work);
    expect(a.bytes.equals(z.r09!.bytes)).toBe(true);
    const b = await mirrorInstall(`${t.url}/tf-remote/`, ADDR, '0.9.0', 'darwin_arm64', work);
    expect(b.bytes.equals(z.r09d!.bytes)).toBe(true);
    const again = await raw(t.url, 'GET', `/tf-remote/${ADDR}/terraform-provider-demo_0.9.0_darwin_arm64.zip`);
    expect(again.headers['x-artifact-source']).toBe('cache');
    expect(await up.countRequests('/dl/demo-darwin.zip')).toBe(1);
    expect(await up.countRequests(`/mirror/${ADDR}/terraform-provider-demo_0.9.0_linux_amd64.zip`)).toBe(1);
    // Not named by the upstream's document: never fetched.
    expect((await raw(t.url, 'GET', `/tf-remote/${ADDR}/terraform-provider-demo_0.9.0_freebsd_amd64.zip`)).status).toBe(404);
  });

  it.skipIf(skip)('remote: an archive whose zh or h1 does not match is refused and not cached', async () => {
    for (const platform of ['windows_amd64', 'linux_arm64']) {
      const path = `/tf-remote/${ADDR}/terraform-provider-demo_0.9.0_${platform}.zip`;
      for (let i = 0; i < 2; i++) {
        const r = await hashGet(t.url, path);
        expect(r.status === 502 || !r.complete, platform).toBe(true);
        expect(r.headers['x-artifact-source']).not.toBe('cache');
      }
      await expect(mirrorInstall(`${t.url}/tf-remote/`, ADDR, '0.9.0', platform, work)).rejects.toThrow();
    }
  });

  it.skipIf(skip)('virtual: versions are the union; a version document and its archives come from the first member that has it', async () => {
    expect((await getJson('tf-all', `${ADDR}/index.json`)).text).toBe('{"versions":{"0.9.0":{},"1.2.0":{},"1.10.0":{}}}');
    // 1.2.0 is in both: the local member's document (two platforms, its own bytes) wins.
    const v12 = await getJson('tf-all', `${ADDR}/1.2.0.json`);
    expect(Object.keys(v12.body.archives).sort()).toEqual(['darwin_arm64', 'linux_amd64']);
    expect((await mirrorInstall(`${t.url}/tf-all/`, ADDR, '1.2.0', 'linux_amd64', work)).bytes.equals(z.l12!.bytes)).toBe(true);
    expect((await mirrorInstall(`${t.url}/tf-all/`, ADDR, '0.9.0', 'darwin_arm64', work)).bytes.equals(z.r09d!.bytes)).toBe(true);
    // Publishing through the virtual lands in its deploy target.
    const z2 = await providerZip(work, 'demo', '2.1.0', 'linux', 'amd64');
    expect((await put('tf-all', `${ADDR}/terraform-provider-demo_2.1.0_linux_amd64.zip`, z2.bytes)).status).toBe(201);
    expect((await getJson('tf-all', `${ADDR}/index.json`)).body.versions).toHaveProperty('2.1.0');
    expect((await mirrorInstall(`${t.url}/tf-all/`, ADDR, '2.1.0', 'linux_amd64', work)).bytes.equals(z2.bytes)).toBe(true);
    const del = await raw(t.url, 'DELETE', `/tf/${ADDR}/terraform-provider-demo_2.1.0_linux_amd64.zip`, { headers: t.auth });
    expect(del.status).toBe(204);
    expect((await getJson('tf', `${ADDR}/index.json`)).body.versions).not.toHaveProperty('2.1.0');
  });
});
