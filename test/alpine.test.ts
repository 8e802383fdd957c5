import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApk, buildUpstreamIndex, rsaKey, verifyIndex, type ApkSpec } from './helpers/alpine-apk.js';
import { DRIVER_SETS, createTrio, startTestApp, stopAll, type TestApp } from './helpers/app.js';
import { hashGet, raw } from './helpers/http.js';
import { startNginx, type StaticUpstream } from './helpers/nginx.js';
import { serverModeAvailable } from './helpers/services.js';

const IDX = 'v3.19/main/x86_64/APKINDEX.tar.gz';

describe.each(DRIVER_SETS)('alpine repositories [$name]', (drivers) => {
  const skip = drivers.db === 'postgres' && !serverModeAvailable();
  let t: TestApp;
  let up: StaticUpstream;
  let work: string;
  const built: Record<string, { file: string; checksum: string; size: number }> = {};

  async function apk(id: string, spec: Omit<ApkSpec, 'out'>) {
    const file = join(work, `${id}.apk`);
    built[id] = { file, ...(await buildApk({ ...spec, out: file })) };
  }

  const put = async (repo: string, path: string, file: string, auth = true) =>
    raw(t.url, 'PUT', `/${repo}/${path}`, { headers: auth ? t.auth : {}, body: await readFile(file) });

  /** Fetch a repo's public key (named by its keys/ listing) and its index, and check the index with openssl. */
  async function fetchVerified(repo: string, path = IDX) {
    const list = await raw(t.url, 'GET', `/${repo}/keys/`);
    expect(list.status).toBe(200);
    const keyFile = list.body.toString().trim();
    const key = await raw(t.url, 'GET', `/${repo}/keys/${keyFile}`);
    expect(key.status).toBe(200);
    expect(key.body.toString()).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(key.body.toString()).not.toMatch(/PRIVATE/);
    const dir = await mkdtemp(join(work, 'verify-'));
    await writeFile(join(dir, keyFile), key.body);
    const res = await raw(t.url, 'GET', `/${repo}/${path}`);
    expect(res.status).toBe(200);
    await writeFile(join(dir, 'APKINDEX.tar.gz'), res.body);
    const v = await verifyIndex(join(dir, 'APKINDEX.tar.gz'), join(dir, keyFile));
    expect(v.openssl).toBe('Verified OK');
    expect(v.verified).toBe(true);
    expect(v.signName).toBe(`.SIGN.RSA.${keyFile}`);
    // GNU tar reads the whole thing as one archive, as apk does (the signature tar has no end-of-archive blocks).
    const listing = execFileSync('tar', ['-tzf', join(dir, 'APKINDEX.tar.gz')]).toString().trim().split('\n');
    expect(listing).toEqual([`.SIGN.RSA.${keyFile}`, 'DESCRIPTION', 'APKINDEX']);
    return { ...v, body: res.body, keyFile };
  }

  beforeAll(async () => {
    if (skip) return;
    work = await mkdtemp(join(tmpdir(), 'aa-alpine-'));
    await rsaKey(join(work, 'packager.rsa'));
    await rsaKey(join(work, 'upstream.rsa'));
    const signer = { key: join(work, 'packager.rsa'), keyname: 'packager-1234.rsa.pub' };
    await apk('hello', { name: 'hello', version: '1.0-r0', arch: 'x86_64', files: { 'usr/bin/hello': '#!/bin/sh\necho hi\n' }, depends: ['libfoo>=2', 'so:libc.musl-x86_64.so.1'], provides: ['cmd:hello=1.0-r0'], ...signer });
    await apk('libfoo', { name: 'libfoo', version: '2.1-r1', arch: 'x86_64', files: { 'usr/lib/libfoo.so.2': 'ELF' }, builddate: 1700000500 });
    await apk('noarch', { name: 'docs-common', version: '0.3-r0', arch: 'noarch', files: { 'usr/share/doc/x': 'doc' } });
    await apk('hello2', { name: 'hello', version: '1.1-r0', arch: 'x86_64', files: { 'usr/bin/hello': 'v2' } });
    await apk('armonly', { name: 'armtool', version: '1.0-r0', arch: 'aarch64', files: { 'usr/bin/armtool': 'x' } });
    await apk('tampered', { name: 'tampered', version: '1.0-r0', arch: 'x86_64', files: { a: 'b' }, datahash: 'a'.repeat(64) });
    await apk('remote', { name: 'remote-tool', version: '3.0-r2', arch: 'x86_64', files: { 'usr/bin/remote-tool': 'remote' }, ...signer });
    await apk('unlisted', { name: 'unlisted', version: '1.0-r0', arch: 'x86_64', files: { x: 'y' } });
    // Same name and version, other contents: what a compromised or broken mirror would serve.
    await apk('swapA', { name: 'swapped', version: '1.0-r0', arch: 'x86_64', files: { 'usr/bin/swapped': 'genuine' } });
    await apk('swapB', { name: 'swapped', version: '1.0-r0', arch: 'x86_64', files: { 'usr/bin/swapped': 'impostor' } });

    // Upstream: a static tree as an Alpine mirror has it, index built and signed like `apk index` + abuild-sign.
    up = await startNginx();
    const dir = join(up.root, 'v3.19', 'main', 'x86_64');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'remote-tool-3.0-r2.apk'), await readFile(built.remote!.file));
    await writeFile(join(dir, 'unlisted-1.0-r0.apk'), await readFile(built.unlisted!.file));
    await writeFile(join(dir, 'swapped-1.0-r0.apk'), await readFile(built.swapB!.file));
    await buildUpstreamIndex({
      out: join(dir, 'APKINDEX.tar.gz'),
      description: 'v3.19.0-upstream',
      key: join(work, 'upstream.rsa'),
      keyname: 'upstream.rsa.pub',
      records: [
        { C: built.remote!.checksum, P: 'remote-tool', V: '3.0-r2', A: 'x86_64', S: String(built.remote!.size), I: '6', T: 'remote', D: 'hello' },
        { C: built.swapA!.checksum, P: 'swapped', V: '1.0-r0', A: 'x86_64', S: String(built.swapA!.size), I: '7', T: 'swapped' },
      ],
    });

    t = await startTestApp({ engine: drivers.db === 'postgres' ? 'uws' : 'node', drivers });
    await createTrio(t, 'alpine', 'apk', 'apk', up.url);
  }, 120_000);

  afterAll(() => stopAll(t, up, work));

  it.skipIf(skip)('uploads apks; the generated APKINDEX is signed with the repo key (openssl verifies) and lists each package', async () => {
    for (const [id, arch] of [['hello', 'x86_64'], ['libfoo', 'x86_64'], ['noarch', 'x86_64']] as const) {
      const name = id === 'hello' ? 'hello-1.0-r0.apk' : id === 'libfoo' ? 'libfoo-2.1-r1.apk' : 'docs-common-0.3-r0.apk';
      const r = await put('apk-local', `v3.19/main/${arch}/${name}`, built[id]!.file);
      expect(r.status, r.body.toString()).toBe(201);
    }
    const v = await fetchVerified('apk-local');
    expect(v.keyFile).toMatch(/^apk-local-[0-9a-f]{8}\.rsa\.pub$/);
    expect(v.description).toBe('apk-local v3.19/main');
    const byName = Object.fromEntries(v.records.map((r) => [r.P, r]));
    expect(Object.keys(byName).sort()).toEqual(['docs-common', 'hello', 'libfoo']);
    expect(byName.hello).toMatchObject({ C: built.hello!.checksum, V: '1.0-r0', A: 'x86_64', S: String(built.hello!.size), D: 'libfoo>=2 so:libc.musl-x86_64.so.1', p: 'cmd:hello=1.0-r0', L: 'MIT', o: 'hello', t: '1700000000', c: '0123456789abcdef' });
    expect(byName.libfoo).toMatchObject({ C: built.libfoo!.checksum, S: String(built.libfoo!.size), t: '1700000500' });
    expect(byName['docs-common']!.A).toBe('noarch');
    // The package comes back byte for byte.
    const got = await raw(t.url, 'GET', '/apk-local/v3.19/main/x86_64/hello-1.0-r0.apk');
    expect(got.body.equals(await readFile(built.hello!.file))).toBe(true);
    // Deterministic: the same content gives the same bytes.
    const again = await raw(t.url, 'GET', `/apk-local/${IDX}`);
    expect(again.body.equals(v.body)).toBe(true);
  });

  it.skipIf(skip)('refuses uploads whose contents do not match the path or are not apks', async () => {
    const cases: Array<[string, string, number, RegExp]> = [
      ['v3.19/main/x86_64/hello-9.9-r0.apk', built.hello!.file, 400, /contains hello-1\.0-r0\.apk/],
      ['v3.19/main/x86_64/armtool-1.0-r0.apk', built.armonly!.file, 400, /built for aarch64/],
      ['v3.19/main/x86_64/tampered-1.0-r0.apk', built.tampered!.file, 400, /datahash/],
      ['v3.19/main/x86_64/junk-1.0-r0.apk', join(work, 'packager.rsa.pub'), 400, /gzip/],
      ['v3.19/main/hello-1.0-r0.apk', built.hello!.file, 400, /branch/],
      ['v3.19/main/x86_64/hello-1.0-r0.apk', built.hello!.file, 409, /exists/],
    ];
    for (const [path, file, status, msg] of cases) {
      const r = await put('apk-local', path, file);
      expect(r.status, `${path}: ${r.body.toString()}`).toBe(status);
      expect(r.json().error.message).toMatch(msg);
    }
    expect((await put('apk-local', 'v3.19/main/x86_64/hello-1.1-r0.apk', built.hello2!.file, false)).status).toBe(401);
    expect((await raw(t.url, 'GET', '/apk-local/keys/other.rsa.pub')).status).toBe(404);
    expect((await raw(t.url, 'GET', '/apk-local/v3.19/main/armv7/APKINDEX.tar.gz')).status).toBe(404);
  });

  it.skipIf(skip)('the index follows uploads and deletes', async () => {
    const before = (await raw(t.url, 'GET', `/apk-local/${IDX}`)).body;
    expect((await put('apk-local', 'v3.19/main/x86_64/hello-1.1-r0.apk', built.hello2!.file)).status).toBe(201);
    let v = await fetchVerified('apk-local');
    expect(v.body.equals(before)).toBe(false);
    expect(v.records.filter((r) => r.P === 'hello').map((r) => r.V).sort()).toEqual(['1.0-r0', '1.1-r0']);
    expect((await raw(t.url, 'DELETE', '/apk-local/v3.19/main/x86_64/hello-1.1-r0.apk', { headers: t.auth })).status).toBe(204);
    v = await fetchVerified('apk-local');
    expect(v.records.filter((r) => r.P === 'hello').map((r) => r.V)).toEqual(['1.0-r0']);
  });

  it.skipIf(skip)('remote: the upstream index passes through byte for byte; only packages it lists are fetched', async () => {
    const idx = await raw(t.url, 'GET', `/apk-remote/${IDX}`);
    expect(idx.status).toBe(200);
    expect(idx.body.equals(await readFile(join(up.root, IDX)))).toBe(true);
    // Still signed by the upstream key, as the client expects.
    const dir = await mkdtemp(join(work, 'remote-'));
    await writeFile(join(dir, 'idx'), idx.body);
    const v = await verifyIndex(join(dir, 'idx'), join(work, 'upstream.rsa.pub'));
    expect(v.verified).toBe(true);
    const pkg = await raw(t.url, 'GET', '/apk-remote/v3.19/main/x86_64/remote-tool-3.0-r2.apk');
    expect(pkg.status).toBe(200);
    expect(pkg.body.equals(await readFile(built.remote!.file))).toBe(true);
    const again = await raw(t.url, 'GET', '/apk-remote/v3.19/main/x86_64/remote-tool-3.0-r2.apk');
    expect(again.body.equals(pkg.body)).toBe(true);
    expect(await up.countRequests('/v3.19/main/x86_64/remote-tool-3.0-r2.apk')).toBe(1);
    // On the upstream, but not in its index: never fetched.
    expect((await raw(t.url, 'GET', '/apk-remote/v3.19/main/x86_64/unlisted-1.0-r0.apk')).status).toBe(404);
    expect(await up.countRequests('/v3.19/main/x86_64/unlisted-1.0-r0.apk')).toBe(0);
    // Remotes are read-only.
    expect((await put('apk-remote', 'v3.19/main/x86_64/hello-1.0-r0.apk', built.hello!.file)).status).toBe(405);
  });

  it.skipIf(skip)('remote: a package whose control segment is not the one its index names is refused and not cached', async () => {
    const path = '/apk-remote/v3.19/main/x86_64/swapped-1.0-r0.apk';
    for (let i = 0; i < 2; i++) {
      const r = await hashGet(t.url, path);
      expect(r.status === 502 || !r.complete).toBe(true);
      expect(r.headers['x-artifact-source']).not.toBe('cache');
    }
    // The mirror is repaired: the genuine bytes pass and are cached.
    await writeFile(join(up.root, 'v3.19', 'main', 'x86_64', 'swapped-1.0-r0.apk'), await readFile(built.swapA!.file));
    const ok = await raw(t.url, 'GET', path);
    expect(ok.status).toBe(200);
    expect(ok.body.equals(await readFile(built.swapA!.file))).toBe(true);
    expect((await raw(t.url, 'GET', path)).headers['x-artifact-source']).toBe('cache');
  });

  it.skipIf(skip)('virtual: members merged into one index signed with the virtual key; packages from each member', async () => {
    const v = await fetchVerified('apk');
    expect(v.keyFile).toMatch(/^apk-[0-9a-f]{8}\.rsa\.pub$/);
    const local = await fetchVerified('apk-local');
    expect(v.keyFile).not.toBe(local.keyFile);
    const byName = Object.fromEntries(v.records.map((r) => [r.P, r]));
    expect(Object.keys(byName).sort()).toEqual(['docs-common', 'hello', 'libfoo', 'remote-tool', 'swapped']);
    expect(byName['remote-tool']).toMatchObject({ C: built.remote!.checksum, D: 'hello', S: String(built.remote!.size) });
    expect(byName.hello!.C).toBe(built.hello!.checksum);
    for (const [path, id] of [
      ['v3.19/main/x86_64/remote-tool-3.0-r2.apk', 'remote'],
      ['v3.19/main/x86_64/libfoo-2.1-r1.apk', 'libfoo'],
    ] as const) {
      const r = await raw(t.url, 'GET', `/apk/${path}`);
      expect(r.status).toBe(200);
      expect(r.body.equals(await readFile(built[id]!.file))).toBe(true);
    }
    // Uploads through the virtual land in its deploy_to member.
    const r = await put('apk', 'v3.19/main/aarch64/armtool-1.0-r0.apk', built.armonly!.file);
    expect(r.status, r.body.toString()).toBe(201);
    expect(r.json().repo).toBe('apk-local');
    const arm = await fetchVerified('apk', 'v3.19/main/aarch64/APKINDEX.tar.gz');
    expect(arm.records.map((x) => x.P)).toEqual(['armtool']);
  });
});
