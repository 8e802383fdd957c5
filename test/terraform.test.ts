import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgpError, rsaSigner, verifyDetached } from '../src/formats/shared/openpgp.js';
import { DRIVER_SETS, startTestApp, type TestApp } from './helpers/app.js';
import { hashGet, raw } from './helpers/http.js';
import { startNginx, type StaticUpstream } from './helpers/nginx.js';
import { serverModeAvailable } from './helpers/services.js';
import {
  discoverProviders,
  goDirhash,
  gpgKey,
  gpgVerify,
  mirrorInstall,
  providerZip,
  registryInstall,
  writeRegistry,
  type GpgKey,
  type ProviderZip,
} from './helpers/terraform-providers.js';

const ADDR = 'registry.terraform.io/hashicorp/demo';
const RELEASES = '/releases/terraform-provider-widget';

describe.each(DRIVER_SETS)('terraform providers: network mirror and registry protocols [$name]', (drivers) => {
  const skip = drivers.db === 'postgres' && !serverModeAvailable();
  let t: TestApp;
  let up: StaticUpstream;
  let work: string;
  let upstreamKey: GpgKey;
  /** The registry host the nginx registry stands for (its host and port), as tf-reg serves it. */
  let regHost: string;
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
    // The same mirror on a host that answers the discovery path with HTML (here nginx's directory listing).
    await mkdir(join(up.root, 'mirror-html', '.well-known', 'terraform.json'), { recursive: true });
    await symlink(join(up.root, 'mirror', 'registry.terraform.io'), join(up.root, 'mirror-html', 'registry.terraform.io'));

    // The same nginx is also a provider registry at its root (registry API + release files, like registry.terraform.io
    // and releases.hashicorp.com), signing with an Ed25519 key's RSA signing subkey: 2.0.0 is sound, 2.1.0's archive
    // is not what SHA256SUMS lists, 2.2.0's SHA256SUMS no longer matches its signature.
    upstreamKey = await gpgKey(work, 'ed25519', 'rsa2048');
    regHost = `127.0.0.1:${up.port}`;
    z.w20l = await providerZip(work, 'widget', '2.0.0', 'linux', 'amd64');
    z.w20d = await providerZip(work, 'widget', '2.0.0', 'darwin', 'arm64', { layout: 'python' });
    z.w21 = await providerZip(work, 'widget', '2.1.0', 'linux', 'amd64');
    z.w22 = await providerZip(work, 'widget', '2.2.0', 'linux', 'amd64');
    z.w29 = await providerZip(work, 'widget', '2.9.0', 'linux', 'amd64');
    const widget = { namespace: 'acme', type: 'widget', key: upstreamKey };
    await writeRegistry(up.root, up.url, [
      { ...widget, version: '2.0.0', packages: [z.w20l, z.w20d] },
      { ...widget, version: '2.1.0', packages: [z.w21], tamper: { platform: 'linux_amd64', bytes: z.w20l.bytes } },
      { ...widget, version: '2.2.0', packages: [z.w22], breakSignature: true },
    ]);

    t = await startTestApp({ engine: 'uws', drivers });
    await t.createRepo({ name: 'tf', package_type: 'terraform', repo_type: 'local' });
    await t.createRepo({ name: 'tf-remote', package_type: 'terraform', repo_type: 'remote', upstream: { url: `${up.url}/mirror` } });
    await t.createRepo({ name: 'tf-remote-html', package_type: 'terraform', repo_type: 'remote', upstream: { url: `${up.url}/mirror-html` } });
    await t.createRepo({ name: 'tf-reg', package_type: 'terraform', repo_type: 'remote', upstream: { url: up.url } });
    // Another artifactapi repository as the upstream: a registry (it answers discovery) that is also a mirror.
    await t.createRepo({ name: 'tf-chain', package_type: 'terraform', repo_type: 'remote', upstream: { url: `${t.url}/tf` } });
    await t.createRepo({ name: 'tf-all', package_type: 'terraform', repo_type: 'virtual', members: ['tf', 'tf-remote', 'tf-reg'], settings: { deploy_to: 'tf' } });
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
    await up?.stop();
    upstreamKey?.close();
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

  it.skipIf(skip)('local: the registry protocol from stored packages, SHA256SUMS signed with the repository key (gpg verifies it)', async () => {
    const v1 = await discoverProviders(`${t.url}/tf`);
    expect(v1).toBe(`${t.url}/tf/v1/providers/`);
    expect((await getJson('tf', 'v1/providers/hashicorp/demo/versions')).body).toEqual({
      versions: [
        { version: '1.2.0', protocols: ['5.0'], platforms: [{ os: 'darwin', arch: 'arm64' }, { os: 'linux', arch: 'amd64' }] },
        { version: '1.10.0', protocols: ['5.0'], platforms: [{ os: 'linux', arch: 'amd64' }] },
      ],
    });
    const got = await registryInstall(v1, 'hashicorp', 'demo', '1.2.0', 'linux', 'amd64', work);
    expect(got.bytes.equals(z.l12!.bytes)).toBe(true);
    expect(got.urls).toEqual({
      archive: `${t.url}/tf/${ADDR}/terraform-provider-demo_1.2.0_linux_amd64.zip`,
      shasums: `${t.url}/tf/v1/providers/hashicorp/demo/1.2.0/download/linux/amd64/SHA256SUMS`,
      signature: `${t.url}/tf/v1/providers/hashicorp/demo/1.2.0/download/linux/amd64/SHA256SUMS.sig`,
    });
    expect(got.doc.protocols).toEqual(['5.0']);
    // The lock file gets the same h1 as from the mirror protocol, and a zh: of every platform of the version.
    expect(got.h1).toBe(z.l12!.h1);
    expect(got.zh.sort()).toEqual([`zh:${z.d12!.zh}`, `zh:${z.l12!.zh}`].sort());
    const key = got.doc.signing_keys.gpg_public_keys[0]!;
    expect(got.signedBy.slice(-16)).toBe(key.key_id);

    // The same registry under its explicit hostname; signatures are the same bytes on every request.
    const qualified = await discoverProviders(`${t.url}/tf/registry.terraform.io`);
    expect(qualified).toBe(`${t.url}/tf/registry.terraform.io/v1/providers/`);
    const darwin = await registryInstall(qualified, 'hashicorp', 'demo', '1.2.0', 'darwin', 'arm64', work);
    expect(darwin.bytes.equals(z.d12!.bytes)).toBe(true);
    expect(darwin.signedBy).toBe(got.signedBy);
    const sig = async (u: string) => (await raw(t.url, 'GET', new URL(u).pathname)).body;
    expect((await sig(darwin.urls.signature)).equals(await sig(got.urls.signature))).toBe(true);

    for (const missing of [
      'v1/providers/hashicorp/demo/9.9.9/download/linux/amd64',
      'v1/providers/hashicorp/demo/1.10.0/download/darwin/arm64',
      'v1/providers/hashicorp/demo/1.10.0/download/darwin/arm64/SHA256SUMS',
      'v1/providers/hashicorp/nothere/versions',
      'example.com/v1/providers/hashicorp/demo/versions',
    ]) {
      expect((await getJson('tf', missing)).status, missing).toBe(404);
    }
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

  it.skipIf(skip)('remote: a mirror upstream (no discovery document, or HTML at its path) is used as a mirror and does not answer the registry protocol', async () => {
    for (const repo of ['tf-remote', 'tf-remote-html']) {
      expect((await raw(t.url, 'GET', `/${repo}/.well-known/terraform.json`)).status, repo).toBe(404);
      expect((await raw(t.url, 'GET', `/${repo}/v1/providers/hashicorp/demo/versions`)).status, repo).toBe(404);
      expect((await raw(t.url, 'GET', `/${repo}/v1/providers/hashicorp/demo/0.9.0/download/linux/amd64`)).status, repo).toBe(404);
    }
    expect((await mirrorInstall(`${t.url}/tf-remote-html/`, ADDR, '0.9.0', 'linux_amd64', work)).bytes.equals(z.r09!.bytes)).toBe(true);
    // The probe is a cached document: asked of the upstream once, however many requests needed it.
    expect(await up.countRequests('/mirror-html/.well-known/terraform.json')).toBe(1);
  });

  it.skipIf(skip)('registry remote: discovery, versions, download document, SHA256SUMS and signature, archive — as terraform init does', async () => {
    const v1 = await discoverProviders(`${t.url}/tf-reg`);
    expect(v1).toBe(`${t.url}/tf-reg/v1/providers/`);
    const versions = await getJson('tf-reg', 'v1/providers/acme/widget/versions');
    expect(versions.body.versions.map((v: { version: string }) => v.version)).toEqual(['2.0.0', '2.1.0', '2.2.0']);
    expect(versions.body.versions[0]).toEqual({ version: '2.0.0', protocols: ['5.0'], platforms: [{ os: 'darwin', arch: 'arm64' }, { os: 'linux', arch: 'amd64' }] });
    for (const pkg of [z.w20l!, z.w20d!]) {
      const got = await registryInstall(v1, 'acme', 'widget', '2.0.0', pkg.os, pkg.arch, work);
      expect(got.bytes.equals(pkg.bytes)).toBe(true);
      expect(got.h1).toBe(pkg.h1);
      // Signed upstream by the RSA subkey of an Ed25519 key; the keys and the signature pass through untouched.
      expect(got.signedBy).toBe(upstreamKey.signingFingerprint);
      expect(got.doc.signing_keys.gpg_public_keys[0]!.ascii_armor).toBe(upstreamKey.armor);
      const dl = `${t.url}/tf-reg/v1/providers/acme/widget/2.0.0/download/${pkg.os}/${pkg.arch}`;
      expect(got.urls).toEqual({
        archive: `${t.url}/tf-reg/${regHost}/acme/widget/terraform-provider-widget_2.0.0_${pkg.os}_${pkg.arch}.zip`,
        shasums: `${dl}/SHA256SUMS`,
        signature: `${dl}/SHA256SUMS.sig`,
      });
      expect(JSON.stringify(got.doc)).not.toContain(up.url);
      expect(got.doc.filename).toBe(`terraform-provider-widget_2.0.0_${pkg.os}_${pkg.arch}.zip`);
      expect(got.zh.sort()).toEqual([`zh:${z.w20d!.zh}`, `zh:${z.w20l!.zh}`].sort());
    }
    // Archives are immutable: cached, fetched upstream once.
    const again = await raw(t.url, 'GET', `/tf-reg/${regHost}/acme/widget/terraform-provider-widget_2.0.0_linux_amd64.zip`);
    expect(again.headers['x-artifact-source']).toBe('cache');
    expect(await up.countRequests(`${RELEASES}/2.0.0/terraform-provider-widget_2.0.0_linux_amd64.zip`)).toBe(1);
    // The registry's own hostname prefix names the same registry; other hostnames are not this registry's.
    expect(await discoverProviders(`${t.url}/tf-reg/${regHost}`)).toBe(`${t.url}/tf-reg/${regHost}/v1/providers/`);
    expect((await getJson('tf-reg', `${regHost}/v1/providers/acme/widget/versions`)).body).toEqual(versions.body);
    expect((await raw(t.url, 'GET', '/tf-reg/example.com/.well-known/terraform.json')).status).toBe(404);
    expect((await getJson('tf-reg', 'example.com/v1/providers/acme/widget/versions')).status).toBe(404);
    expect((await getJson('tf-reg', 'v1/providers/acme/widget/2.0.0/download/windows/amd64')).status).toBe(404);
  });

  it.skipIf(skip)('registry remote: the same providers through the network mirror protocol, zh: hashes from SHA256SUMS', async () => {
    expect((await getJson('tf-reg', `${regHost}/acme/widget/index.json`)).text).toBe('{"versions":{"2.0.0":{},"2.1.0":{},"2.2.0":{}}}');
    expect((await getJson('tf-reg', `${regHost}/acme/widget/2.0.0.json`)).body).toEqual({
      archives: {
        darwin_arm64: { url: 'terraform-provider-widget_2.0.0_darwin_arm64.zip', hashes: [`zh:${z.w20d!.zh}`] },
        linux_amd64: { url: 'terraform-provider-widget_2.0.0_linux_amd64.zip', hashes: [`zh:${z.w20l!.zh}`] },
      },
    });
    const got = await mirrorInstall(`${t.url}/tf-reg/`, `${regHost}/acme/widget`, '2.0.0', 'darwin_arm64', work);
    expect(got.bytes.equals(z.w20d!.bytes)).toBe(true);
    // A version whose SHA256SUMS does not verify has no mirror document either.
    expect((await getJson('tf-reg', `${regHost}/acme/widget/2.2.0.json`)).status).toBe(502);
    // Other hosts are asked of the upstream as a mirror, which this registry is not.
    expect((await getJson('tf-reg', 'registry.terraform.io/acme/widget/index.json')).status).toBe(404);
  });

  it.skipIf(skip)('registry remote: an archive that does not match SHA256SUMS is refused (502) and nothing is cached', async () => {
    const path = `/tf-reg/${regHost}/acme/widget/terraform-provider-widget_2.1.0_linux_amd64.zip`;
    for (let i = 0; i < 2; i++) {
      const r = await hashGet(t.url, path);
      expect(r.status === 502 || !r.complete).toBe(true);
      expect(r.headers['x-artifact-source']).not.toBe('cache');
    }
    expect(await up.countRequests(`${RELEASES}/2.1.0/terraform-provider-widget_2.1.0_linux_amd64.zip`)).toBe(2);
    await expect(registryInstall(`${t.url}/tf-reg/v1/providers/`, 'acme', 'widget', '2.1.0', 'linux', 'amd64', work)).rejects.toThrow();
  });

  it.skipIf(skip)('registry remote: a SHA256SUMS whose signature does not verify is refused, and its archive is never fetched', async () => {
    const sums = await raw(t.url, 'GET', '/tf-reg/v1/providers/acme/widget/2.2.0/download/linux/amd64/SHA256SUMS');
    expect(sums.status).toBe(502);
    expect(sums.json().error.message).toMatch(/signature by key [0-9A-F]{16} does not verify/);
    expect((await raw(t.url, 'GET', `/tf-reg/${regHost}/acme/widget/terraform-provider-widget_2.2.0_linux_amd64.zip`)).status).toBe(502);
    expect(await up.countRequests(`${RELEASES}/2.2.0/terraform-provider-widget_2.2.0_linux_amd64.zip`)).toBe(0);
    await expect(registryInstall(`${t.url}/tf-reg/v1/providers/`, 'acme', 'widget', '2.2.0', 'linux', 'amd64', work)).rejects.toThrow(/SHA256SUMS: 502/);
  });

  it.skipIf(skip)('a remote of another artifactapi repository: registry protocol (its signatures verified on the way) and mirror protocol', async () => {
    const v1 = await discoverProviders(`${t.url}/tf-chain`);
    const got = await registryInstall(v1, 'hashicorp', 'demo', '1.10.0', 'linux', 'amd64', work);
    expect(got.bytes.equals(z.l110!.bytes)).toBe(true);
    expect(got.urls.archive.startsWith(`${t.url}/tf-chain/`)).toBe(true);
    expect((await mirrorInstall(`${t.url}/tf-chain/`, ADDR, '1.2.0', 'darwin_arm64', work)).bytes.equals(z.d12!.bytes)).toBe(true);
  });

  it.skipIf(skip)('virtual: registry versions merged across members, each download through the virtual from the member that has it', async () => {
    // Unqualified: each member's own registry (the local's registry.terraform.io, tf-reg's upstream host).
    expect((await getJson('tf-all', 'v1/providers/acme/widget/versions')).body.versions.map((v: { version: string }) => v.version)).toEqual(['2.0.0', '2.1.0', '2.2.0']);
    expect((await getJson('tf-all', 'v1/providers/hashicorp/demo/versions')).body.versions.map((v: { version: string }) => v.version)).toEqual(['1.2.0', '1.10.0']);
    // A local package of the registry's host joins the upstream's versions.
    expect((await put('tf-all', `${regHost}/acme/widget/terraform-provider-widget_2.9.0_linux_amd64.zip`, z.w29!.bytes)).status).toBe(201);
    const v1 = await discoverProviders(`${t.url}/tf-all/${regHost}`);
    expect((await getJson('tf-all', `${regHost}/v1/providers/acme/widget/versions`)).body.versions.map((v: { version: string }) => v.version)).toEqual(['2.0.0', '2.1.0', '2.2.0', '2.9.0']);
    const local = await registryInstall(v1, 'acme', 'widget', '2.9.0', 'linux', 'amd64', work);
    expect(local.bytes.equals(z.w29!.bytes)).toBe(true);
    const remote = await registryInstall(v1, 'acme', 'widget', '2.0.0', 'linux', 'amd64', work);
    expect(remote.bytes.equals(z.w20l!.bytes)).toBe(true);
    expect(remote.signedBy).toBe(upstreamKey.signingFingerprint);
    expect(local.signedBy).not.toBe(remote.signedBy);
    for (const u of [...Object.values(local.urls), ...Object.values(remote.urls)]) expect(u.startsWith(`${t.url}/tf-all/`), u).toBe(true);
    expect((await getJson('tf-all', `${regHost}/acme/widget/index.json`)).text).toBe('{"versions":{"2.0.0":{},"2.1.0":{},"2.2.0":{},"2.9.0":{}}}');
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

describe('OpenPGP detached signatures of SHA256SUMS (GnuPG as the reference)', () => {
  let work: string;
  const keys: GpgKey[] = [];
  const doc = Buffer.from(`${'a'.repeat(64)}  terraform-provider-demo_1.0.0_linux_amd64.zip\n`);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'aa-pgp-'));
  });
  afterAll(async () => {
    for (const k of keys) k.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  for (const [primary, subkey] of [['rsa2048'], ['ed25519'], ['nistp256'], ['nistp384'], ['dsa2048'], ['ed25519', 'rsa2048'], ['rsa2048', 'ed25519']] as const) {
    it(`verifies gpg's signature by ${primary}${subkey ? ` with a ${subkey} signing subkey` : ''}, refuses altered documents and unknown keys`, async () => {
      const key = await gpgKey(work, primary, subkey);
      const other = await gpgKey(work, 'ed25519');
      keys.push(key, other);
      const sig = await key.sign(doc);
      expect(verifyDetached(doc, sig, [key.armor])).toBe(key.signingFingerprint.slice(-16));
      expect(verifyDetached(doc, sig, [other.armor, key.armor])).toBe(key.signingFingerprint.slice(-16));
      const altered = Buffer.from(doc.toString().replace('aaaa', 'aaab'));
      expect(() => verifyDetached(altered, sig, [key.armor])).toThrow(/does not verify/);
      expect(() => verifyDetached(doc, sig, [other.armor])).toThrow(/not among/);
      expect(() => verifyDetached(doc, Buffer.from('not a signature'), [key.armor])).toThrow(PgpError);
    }, 60_000);
  }

  it('signs with a repository RSA key: gpg verifies it, and the same inputs give the same bytes', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    const key = { privateKeyPem: pair.privateKey, publicKeyPem: pair.publicKey, createdAt: '2024-05-01T12:00:00.000Z' };
    const signer = rsaSigner(key, 'artifactapi repository tf');
    const sig = signer.sign(doc, Date.parse('2024-06-01T00:00:00Z') / 1000);
    expect((await gpgVerify([signer.armoredPublicKey], doc, sig, work)).slice(-16)).toBe(signer.keyId);
    expect(rsaSigner(key, 'artifactapi repository tf').sign(doc, Date.parse('2024-06-01T00:00:00Z') / 1000).equals(sig)).toBe(true);
    expect(verifyDetached(doc, sig, [signer.armoredPublicKey])).toBe(signer.keyId);
    // A signature time before the key's creation is moved to the creation time (go-crypto refuses older signatures).
    const early = signer.sign(doc, 0);
    await expect(gpgVerify([signer.armoredPublicKey], Buffer.from('other'), early, work)).rejects.toThrow();
    expect((await gpgVerify([signer.armoredPublicKey], doc, early, work)).slice(-16)).toBe(signer.keyId);
  });
});
