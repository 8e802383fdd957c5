import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rpmStats } from '../src/formats/rpm/local.js';
import { DRIVER_SETS, dropShared, newSharedState, startTestApp, type SharedState, type TestApp } from './helpers/app.js';
import { hashGet, raw } from './helpers/http.js';
import { startNginx, type StaticUpstream } from './helpers/nginx.js';
import { buildRpm, createrepo, dnfClient, gpgHome, subpackages } from './helpers/rpm-tools.js';
import { serverModeAvailable } from './helpers/services.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface RepomdData {
  type: string;
  href: string;
  checksum: string;
  openChecksum: string;
  size: number;
  openSize: number;
}

function parseRepomd(xml: string): RepomdData[] {
  return [...xml.matchAll(/<data type="([^"]+)">([\s\S]*?)<\/data>/g)].map(([, type, body]) => ({
    type: type!,
    href: /<location href="([^"]+)"/.exec(body!)![1]!,
    checksum: /<checksum type="sha256">([0-9a-f]+)</.exec(body!)![1]!,
    openChecksum: /<open-checksum type="sha256">([0-9a-f]+)</.exec(body!)?.[1] ?? '',
    size: Number(/<size>(\d+)</.exec(body!)![1]),
    openSize: Number(/<open-size>(\d+)</.exec(body!)?.[1] ?? -1),
  }));
}

/** `<package>` elements of a repodata XML by pkgid/checksum, `time file=` (upload vs mtime) left out. */
function packagesById(xml: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of xml.matchAll(/<package[\s>][\s\S]*?<\/package>/g)) {
    const id = /pkgid="([0-9a-f]+)"/.exec(m[0])?.[1] ?? /<checksum type="sha256" pkgid="YES">([0-9a-f]+)</.exec(m[0])![1]!;
    out.set(id, m[0].replace(/<time file="\d+"/, '<time file="T"'));
  }
  return out;
}

describe.each(DRIVER_SETS)('rpm repositories [$name]', (drivers) => {
  const skip = drivers.db === 'postgres' && !serverModeAvailable();
  let t: TestApp;
  let up: StaticUpstream;
  let work: string;
  let shared: SharedState | undefined;
  let gpg: Awaited<ReturnType<typeof gpgHome>>;
  const rpms: Record<string, string> = {};

  const put = async (repo: string, path: string, body: Buffer | string, auth = true) =>
    raw(t.url, 'PUT', `/${repo}/${path}`, { headers: auth ? t.auth : {}, body });
  const get = (repo: string, path: string) => raw(t.url, 'GET', `/${repo}/${path}`);

  async function repodata(repo: string) {
    const res = await get(repo, 'repodata/repomd.xml');
    expect(res.status, res.body.toString()).toBe(200);
    const data = parseRepomd(res.body.toString());
    const files: Record<string, { xml: string; data: RepomdData; gz: Buffer }> = {};
    for (const d of data) {
      const f = await get(repo, d.href);
      expect(f.status, d.href).toBe(200);
      // What repomd.xml promises is what is served.
      expect(sha256(f.body)).toBe(d.checksum);
      expect(f.body.length).toBe(d.size);
      const xml = gunzipSync(f.body);
      expect(sha256(xml)).toBe(d.openChecksum);
      expect(xml.length).toBe(d.openSize);
      files[d.type] = { xml: xml.toString('utf8'), data: d, gz: f.body };
    }
    return { repomd: res.body, data, files };
  }

  beforeAll(async () => {
    if (skip) return;
    work = await mkdtemp(join(tmpdir(), 'aa-rpm-'));
    const one = async (id: string, spec: Parameters<typeof buildRpm>[1]) => {
      rpms[id] = (await buildRpm(work, spec))[0]!;
    };
    await one('hello', {
      name: 'hello-aa',
      version: '1.0',
      release: '1',
      preamble: ['Requires: /bin/sh', 'Requires: libfoo-aa >= 2.0', 'Provides: hello-cmd = 1.0', 'Conflicts: oldhello < 0.5', 'Obsoletes: hello-legacy <= 0.9'],
      files: { '/usr/bin/hello-aa': '#!/bin/sh\necho hello\n', '/etc/hello-aa/hello.conf': 'greeting=hi\n', '/usr/share/doc/hello-aa/README': 'docs\n' },
      dirs: ['/etc/hello-aa'],
      fileLines: ['%dir /etc/hello-aa'],
      changelog: '* Tue Jan 02 2024 Tester <t@example.invalid> - 1.0-1\n- Second entry\n* Mon Jan 01 2024 Other <o@example.invalid> - 0.9-1\n- First entry',
    });
    await one('libfoo', { name: 'libfoo-aa', version: '2.1', release: '3', epoch: 1, files: { '/usr/lib/libfoo-aa.so.2': 'ELF' } });
    await one('complex', {
      name: 'complex-aa',
      epoch: 3,
      version: '2.5~rc1',
      release: '7.fc1',
      summary: 'Ünïcödé "quoted" & <angled>',
      preamble: ['Requires(pre): /usr/sbin/useradd', 'Requires: hello-aa >= 1.0', 'Recommends: libfoo-aa', 'Suggests: suggested-aa > 1', 'Supplements: hello-aa', 'Enhances: libfoo-aa', 'Provides: virtual(thing) = 5'],
      files: { '/usr/sbin/complexd': 'x', '/opt/complex/data': 'y' },
      dirs: ['/var/lib/complex'],
      fileLines: ['%dir /var/lib/complex', '%ghost /var/lib/complex/state'],
    });
    await one('remote', { name: 'remote-tool', version: '3.0', release: '2', files: { '/usr/bin/remote-tool': 'remote' } });
    await one('unlisted', { name: 'unlisted', version: '1.0', release: '1', files: { '/usr/bin/unlisted': 'u' } });
    await one('swapA', { name: 'swapped', version: '1.0', release: '1', files: { '/usr/bin/swapped': 'genuine' } });
    await one('swapB', { name: 'swapped', version: '1.0', release: '1', files: { '/usr/bin/swapped': 'impostor!' } });
    await one('extra', { name: 'extra-aa', version: '0.1', release: '1', files: { '/usr/bin/extra-aa': 'e' } });
    const burst = await buildRpm(work, { name: 'burst', version: '1.0', release: '1', extra: subpackages('burst', 100) });
    burst.forEach((f, i) => (rpms[`burst${i}`] = f));

    // Upstream: a static tree as a mirror publishes it, repodata made by createrepo_c.
    up = await startNginx();
    await mkdir(join(up.root, 'Packages'), { recursive: true });
    await copyFile(rpms.remote!, join(up.root, 'Packages', basename(rpms.remote!)));
    await copyFile(rpms.swapA!, join(up.root, 'Packages', basename(rpms.swapA!)));
    await createrepo(up.root);
    // Now the mirror goes wrong: other bytes under the listed name, and a file repodata never listed.
    await copyFile(rpms.swapB!, join(up.root, 'Packages', basename(rpms.swapA!)));
    await copyFile(rpms.unlisted!, join(up.root, 'Packages', basename(rpms.unlisted!)));
    // A second tree whose filelists were replaced after createrepo_c wrote repomd.xml.
    const bad = join(up.root, 'bad');
    await mkdir(bad, { recursive: true });
    await copyFile(rpms.remote!, join(bad, basename(rpms.remote!)));
    await createrepo(bad);
    const fl = (await readdir(join(bad, 'repodata'))).find((f) => f.endsWith('-filelists.xml.gz'))!;
    await writeFile(join(bad, 'repodata', fl), (await readFile(join(bad, 'repodata', fl))).subarray(0, 40));
    // A third tree signed the way mirrors sign: gpg --detach-sign --armor repomd.xml, the key beside it.
    gpg = await gpgHome(work);
    const signed = join(up.root, 'signed');
    await mkdir(signed, { recursive: true });
    await copyFile(rpms.remote!, join(signed, basename(rpms.remote!)));
    await createrepo(signed);
    await gpg.generateKey('Mirror Signer <mirror@example.invalid>');
    await gpg.detachSign(join(signed, 'repodata', 'repomd.xml'));
    await gpg.exportKey('mirror@example.invalid', join(signed, 'repodata', 'repomd.xml.key'));

    // Server mode shares its state, so a second replica can be started against it.
    if (drivers.db === 'postgres') shared = newSharedState();
    t = await startTestApp({ engine: drivers.db === 'postgres' ? 'uws' : 'node', drivers, shared });
    await t.createRepo({ name: 'rpm-local', package_type: 'rpm', repo_type: 'local' });
    await t.createRepo({ name: 'rpm-burst', package_type: 'rpm', repo_type: 'local' });
    await t.createRepo({ name: 'rpm-remote', package_type: 'rpm', repo_type: 'remote', upstream: { url: up.url }, settings: { mutable_ttl_seconds: 1 } });
    await t.createRepo({ name: 'rpm-remote-bad', package_type: 'rpm', repo_type: 'remote', upstream: { url: `${up.url}/bad` } });
    await t.createRepo({ name: 'rpm', package_type: 'rpm', repo_type: 'virtual', members: ['rpm-local', 'rpm-remote'], settings: { deploy_to: 'rpm-local' } });
    await t.createRepo({ name: 'rpm-signed', package_type: 'rpm', repo_type: 'local', settings: { sign_repodata: true } });
    await t.createRepo({ name: 'rpm-signed-other', package_type: 'rpm', repo_type: 'local', settings: { sign_repodata: true } });
    await t.createRepo({ name: 'rpm-remote-signed', package_type: 'rpm', repo_type: 'remote', upstream: { url: `${up.url}/signed` } });
  }, 180_000);

  afterAll(async () => {
    await t?.stop();
    if (shared) await dropShared(shared, drivers);
    await gpg?.stop();
    await up?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it.skipIf(skip)('uploads rpms; the generated repodata matches createrepo_c for the same packages', async () => {
    const layout: Array<[string, string]> = [
      ['hello', 'Packages/h'],
      ['libfoo', 'Packages/l'],
      ['complex', 'Packages/c'],
    ];
    for (const [id, dir] of layout) {
      const r = await put('rpm-local', `${dir}/${basename(rpms[id]!)}`, await readFile(rpms[id]!));
      expect(r.status, r.body.toString()).toBe(201);
    }
    const ours = await repodata('rpm-local');
    expect(ours.data.map((d) => d.type)).toEqual(['primary', 'filelists', 'other']);
    for (const d of ours.data) expect(d.href).toBe(`repodata/${d.checksum}-${d.type}.xml.gz`);
    expect(ours.files.primary!.xml).toContain('packages="3"');

    // createrepo_c over the same files at the same paths.
    const ref = join(work, 'reference');
    for (const [id, dir] of layout) {
      await mkdir(join(ref, dir), { recursive: true });
      await copyFile(rpms[id]!, join(ref, dir, basename(rpms[id]!)));
    }
    await createrepo(ref);
    const refData = parseRepomd(await readFile(join(ref, 'repodata', 'repomd.xml'), 'utf8'));
    for (const type of ['primary', 'filelists', 'other'] as const) {
      const refXml = gunzipSync(await readFile(join(ref, refData.find((d) => d.type === type)!.href))).toString('utf8');
      const mine = packagesById(ours.files[type]!.xml);
      const theirs = packagesById(refXml);
      expect([...mine.keys()].sort()).toEqual([...theirs.keys()].sort());
      // Entry for entry the same XML: checksums, sizes, header ranges, provides/requires/weak deps, files, changelogs.
      for (const [id, el] of theirs) expect(mine.get(id), `${type} ${id}`).toBe(el);
    }
    // Spot checks of what matters most to dnf.
    const primary = ours.files.primary!.xml;
    expect(primary).toContain(`<checksum type="sha256" pkgid="YES">${sha256(await readFile(rpms.hello!))}</checksum>`);
    expect(primary).toContain('<location href="Packages/h/hello-aa-1.0-1.noarch.rpm"/>');
    expect(primary).toContain('<rpm:entry name="libfoo-aa" flags="GE" epoch="0" ver="2.0"/>');
    expect(primary).toContain('<rpm:entry name="/usr/sbin/useradd" pre="1"/>');
    expect(primary).toContain('<version epoch="3" ver="2.5~rc1" rel="7.fc1"/>');
    expect(primary).toMatch(/<rpm:header-range start="\d+" end="\d+"\/>/);

    // Deterministic: same packages, same bytes; no signature offered.
    const again = await get('rpm-local', 'repodata/repomd.xml');
    expect(again.body.equals(ours.repomd)).toBe(true);
    expect((await get('rpm-local', 'repodata/repomd.xml.asc')).status).toBe(404);
  });

  it.skipIf(skip)('dnf reads the local repository: makecache, repoquery, download', async () => {
    const dnf = await dnfClient(work, `${t.url}/rpm-local/`);
    const mc = await dnf.run(['makecache']);
    expect(mc.code, mc.stderr).toBe(0);
    const q = await dnf.run(['repoquery', '--qf', '%{name}-%{epoch}:%{version}-%{release}.%{arch} %{location}', '*']);
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout.trim().split('\n').sort()).toEqual([
      'complex-aa-3:2.5~rc1-7.fc1.noarch Packages/c/complex-aa-2.5~rc1-7.fc1.noarch.rpm',
      'hello-aa-0:1.0-1.noarch Packages/h/hello-aa-1.0-1.noarch.rpm',
      'libfoo-aa-1:2.1-3.noarch Packages/l/libfoo-aa-2.1-3.noarch.rpm',
    ]);
    const req = await dnf.run(['repoquery', '--requires', 'hello-aa']);
    expect(req.stdout.trim().split('\n').sort()).toEqual(['/bin/sh', 'libfoo-aa >= 2.0']);
    const prov = await dnf.run(['repoquery', '--whatprovides', 'virtual(thing)']);
    expect(prov.stdout.trim()).toBe('complex-aa-3:2.5~rc1-7.fc1.noarch');
    const files = await dnf.run(['repoquery', '-l', 'hello-aa']);
    expect(files.stdout.trim().split('\n')).toEqual(['/etc/hello-aa', '/etc/hello-aa/hello.conf', '/usr/bin/hello-aa', '/usr/share/doc/hello-aa/README']);
    const log = await dnf.run(['repoquery', '--changelog', 'hello-aa']);
    expect(log.stdout).toContain('- Second entry');
    expect(log.stdout).toContain('Other <o@example.invalid> - 0.9-1');
    const dest = join(dnf.dir, 'dl');
    const dl = await dnf.run(['download', '--destdir', dest, 'hello-aa', 'libfoo-aa', 'complex-aa']);
    expect(dl.code, dl.stderr).toBe(0);
    for (const id of ['hello', 'libfoo', 'complex']) {
      expect((await readFile(join(dest, basename(rpms[id]!)))).equals(await readFile(rpms[id]!))).toBe(true);
    }
  });

  it.skipIf(skip)('refuses uploads that are not rpms or not what their name says; nothing is stored', async () => {
    const before = (await get('rpm-local', 'repodata/repomd.xml')).body;
    const cases: Array<[string, Buffer | string, number, RegExp]> = [
      ['Packages/j/junk-1.0-1.noarch.rpm', 'this is not an rpm at all, just some text bytes padding it out to more than a lead'.repeat(3), 400, /lead magic/],
      ['Packages/j/junk-1.0-1.noarch.rpm', Buffer.concat([(await readFile(rpms.hello!)).subarray(0, 200)]), 400, /rpm/],
      ['Packages/h/hello-aa-9.9-1.noarch.rpm', await readFile(rpms.hello!), 400, /contains hello-aa-1\.0-1\.noarch/],
      ['Packages/h/hello-aa-1.0-1.noarch.tar', await readFile(rpms.hello!), 400, /RPM uploads go to/],
      ['repodata/hello-aa-1.0-1.noarch.rpm', await readFile(rpms.hello!), 400, /generated/],
      ['Packages/h/hello-aa-1.0-1.noarch.rpm', await readFile(rpms.hello!), 409, /exists/],
    ];
    for (const [path, body, status, msg] of cases) {
      const r = await put('rpm-local', path, body);
      expect(r.status, `${path}: ${r.body.toString()}`).toBe(status);
      expect(r.json().error.message).toMatch(msg);
    }
    // Cut or corrupted anywhere in the headers: a 400, never a 500.
    const hello = await readFile(rpms.hello!);
    for (const cut of [96, 111, 200, 1000, 4000, 4600, 6000]) {
      const r = await put('rpm-local', 'Packages/h/hello-aa-1.0-1.noarch.rpm'.replace('hello-aa-1.0', `hello-aa-cut${cut}`), hello.subarray(0, cut));
      expect(r.status, `cut at ${cut}: ${r.body.toString()}`).toBe(400);
    }
    for (const at of [104, 108, 112, 130, 500]) {
      const bad = Buffer.from(hello);
      bad.writeUInt32BE(0xfffffff0, at);
      const r = await put('rpm-local', `Packages/h/corrupt${at}-1.0-1.noarch.rpm`, bad);
      expect(r.status, `corrupt at ${at}: ${r.body.toString()}`).toBe(400);
    }
    expect((await get('rpm-local', 'Packages/j/junk-1.0-1.noarch.rpm')).status).toBe(404);
    expect((await get('rpm-local', 'Packages/h/hello-aa-9.9-1.noarch.rpm')).status).toBe(404);
    expect((await put('rpm-local', 'Packages/e/extra-aa-0.1-1.noarch.rpm', await readFile(rpms.extra!), false)).status).toBe(401);
    // The repodata did not move.
    expect((await get('rpm-local', 'repodata/repomd.xml')).body.equals(before)).toBe(true);
  });

  it.skipIf(skip)('a burst of 100 uploads costs one repodata build; repomd.xml never names a file that cannot be read', async () => {
    const empty = await repodata('rpm-burst');
    expect(empty.files.primary!.xml).toContain('packages="0"');
    const start = rpmStats.repodataBuilds;
    const files = Object.keys(rpms)
      .filter((k) => k.startsWith('burst'))
      .map((k) => rpms[k]!);
    expect(files.length).toBe(101);
    for (let i = 0; i < files.length; i += 10) {
      const rs = await Promise.all(files.slice(i, i + 10).map(async (f) => put('rpm-burst', `b/${basename(f)}`, await readFile(f))));
      for (const r of rs) expect(r.status, r.body.toString()).toBe(201);
    }
    expect(rpmStats.repodataBuilds).toBe(start);
    const reads = await Promise.all(Array.from({ length: 6 }, () => get('rpm-burst', 'repodata/repomd.xml')));
    for (const r of reads) expect(r.body.equals(reads[0]!.body)).toBe(true);
    const full = await repodata('rpm-burst');
    expect(rpmStats.repodataBuilds).toBe(start + 1);
    expect(full.files.primary!.xml).toContain('packages="101"');

    const dnf = await dnfClient(work, `${t.url}/rpm-burst/`);
    const q = await dnf.run(['repoquery', '--qf', '%{name}', '*']);
    expect(q.code, q.stderr).toBe(0);
    expect(new Set(q.stdout.trim().split('\n')).size).toBe(101);

    // One more upload: the new repomd.xml names new files, and the files the old one named stay readable.
    expect((await put('rpm-burst', `x/${basename(rpms.extra!)}`, await readFile(rpms.extra!))).status).toBe(201);
    const next = await repodata('rpm-burst');
    expect(rpmStats.repodataBuilds).toBe(start + 2);
    expect(next.data.map((d) => d.href)).not.toEqual(full.data.map((d) => d.href));
    for (const d of full.data) {
      const old = await get('rpm-burst', d.href);
      expect(old.status).toBe(200);
      expect(sha256(old.body)).toBe(d.checksum);
    }
    // Deleting a package rebuilds without it.
    expect((await raw(t.url, 'DELETE', `/rpm-burst/x/${basename(rpms.extra!)}`, { headers: t.auth })).status).toBe(204);
    const after = await repodata('rpm-burst');
    expect(after.files.primary!.xml).toContain('packages="101"');
    expect(after.files.primary!.xml).not.toContain('extra-aa');
  });

  it.skipIf(skip)('remote: dnf through the cache; repomd.xml byte for byte; packages fetched once and only when listed', async () => {
    const dnf = await dnfClient(work, `${t.url}/rpm-remote/`);
    const mc = await dnf.run(['makecache']);
    expect(mc.code, mc.stderr).toBe(0);
    const repomd = await get('rpm-remote', 'repodata/repomd.xml');
    expect(repomd.body.equals(await readFile(join(up.root, 'repodata', 'repomd.xml')))).toBe(true);
    const q = await dnf.run(['repoquery', '--qf', '%{name}-%{version}-%{release}', '*']);
    expect(q.stdout.trim().split('\n').sort()).toEqual(['remote-tool-3.0-2', 'swapped-1.0-1']);
    const dest = join(dnf.dir, 'dl');
    const dl = await dnf.run(['download', '--destdir', dest, 'remote-tool']);
    expect(dl.code, dl.stderr).toBe(0);
    expect((await readFile(join(dest, basename(rpms.remote!)))).equals(await readFile(rpms.remote!))).toBe(true);
    const again = await get('rpm-remote', `Packages/${basename(rpms.remote!)}`);
    expect(again.status).toBe(200);
    expect(again.headers['x-artifact-source']).toBe('cache');
    expect(await up.countRequests(`/Packages/${basename(rpms.remote!)}`)).toBe(1);
    // On the mirror but not in its primary.xml: never fetched.
    expect((await get('rpm-remote', `Packages/${basename(rpms.unlisted!)}`)).status).toBe(404);
    expect(await up.countRequests(`/Packages/${basename(rpms.unlisted!)}`)).toBe(0);
    // Not listed by repomd.xml: never fetched either.
    expect((await get('rpm-remote', 'repodata/0000-primary.xml.gz')).status).toBe(404);
    expect(await up.countRequests('/repodata/0000-primary.xml.gz')).toBe(0);
    expect((await put('rpm-remote', `Packages/${basename(rpms.hello!)}`, await readFile(rpms.hello!))).status).toBe(405);
  });

  it.skipIf(skip)('remote: a package or repodata file whose bytes differ from the checksum repodata names is a 502 and not cached', async () => {
    const path = `/rpm-remote/Packages/${basename(rpms.swapA!)}`;
    for (let i = 0; i < 2; i++) {
      const r = await hashGet(t.url, path);
      expect(r.status === 502 || !r.complete).toBe(true);
      expect(r.headers['x-artifact-source']).not.toBe('cache');
    }
    expect(await up.countRequests(`/Packages/${basename(rpms.swapA!)}`)).toBe(2);
    // dnf gets no bytes it would have to reject itself.
    const dnf = await dnfClient(work, `${t.url}/rpm-remote/`);
    const dl = await dnf.run(['download', '--destdir', join(dnf.dir, 'dl'), 'swapped']);
    expect(dl.code).not.toBe(0);
    // The mirror is repaired: the genuine bytes pass and are cached.
    await copyFile(rpms.swapA!, join(up.root, 'Packages', basename(rpms.swapA!)));
    const ok = await raw(t.url, 'GET', path);
    expect(ok.status).toBe(200);
    expect(ok.body.equals(await readFile(rpms.swapA!))).toBe(true);
    expect((await raw(t.url, 'GET', path)).headers['x-artifact-source']).toBe('cache');

    // A truncated filelists.xml.gz on the mirror: refused, and dnf's makecache fails instead of caching garbage.
    const listed = parseRepomd((await get('rpm-remote-bad', 'repodata/repomd.xml')).body.toString());
    const fl = listed.find((d) => d.type === 'filelists')!;
    const bad = await hashGet(t.url, `/rpm-remote-bad/${fl.href}`);
    expect(bad.status === 502 || !bad.complete).toBe(true);
    expect((await hashGet(t.url, `/rpm-remote-bad/${fl.href}`)).headers['x-artifact-source']).not.toBe('cache');
    const pr = listed.find((d) => d.type === 'primary')!;
    const good = await get('rpm-remote-bad', pr.href);
    expect(good.status).toBe(200);
    expect(sha256(good.body)).toBe(pr.checksum);
  });

  it.skipIf(skip)('remote: the mirror publishes new repodata; after the TTL dnf sees it, the previous files stay reachable', async () => {
    const oldRepomd = parseRepomd((await get('rpm-remote', 'repodata/repomd.xml')).body.toString());
    const mirror = join(work, 'mirror2');
    await mkdir(join(mirror, 'Packages'), { recursive: true });
    for (const id of ['remote', 'swapA', 'extra']) await copyFile(rpms[id]!, join(mirror, 'Packages', basename(rpms[id]!)));
    await createrepo(mirror);
    await copyFile(rpms.extra!, join(up.root, 'Packages', basename(rpms.extra!)));
    // As mirrors sync: new checksum-named files first, repomd.xml last, old files kept a while.
    for (const f of await readdir(join(mirror, 'repodata'))) if (f !== 'repomd.xml') await copyFile(join(mirror, 'repodata', f), join(up.root, 'repodata', f));
    await copyFile(join(mirror, 'repodata', 'repomd.xml'), join(up.root, 'repodata', 'repomd.xml'));
    await new Promise((r) => setTimeout(r, 1200));
    const dnf = await dnfClient(work, `${t.url}/rpm-remote/`);
    const q = await dnf.run(['repoquery', '--qf', '%{name}', '*']);
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout.trim().split('\n').sort()).toEqual(['extra-aa', 'remote-tool', 'swapped']);
    const dest = join(dnf.dir, 'dl');
    const dl = await dnf.run(['download', '--destdir', dest, 'extra-aa']);
    expect(dl.code, dl.stderr).toBe(0);
    expect((await readFile(join(dest, basename(rpms.extra!)))).equals(await readFile(rpms.extra!))).toBe(true);
    const newRepomd = parseRepomd((await get('rpm-remote', 'repodata/repomd.xml')).body.toString());
    expect(newRepomd.find((d) => d.type === 'primary')!.href).not.toBe(oldRepomd.find((d) => d.type === 'primary')!.href);
    // A client that read the old repomd.xml just before the switch still gets what it named.
    for (const d of oldRepomd) {
      const r = await get('rpm-remote', d.href);
      expect(r.status, d.href).toBe(200);
      expect(sha256(r.body)).toBe(d.checksum);
    }
  });

  it.skipIf(skip)('virtual: the first member\'s repodata for dnf, packages from any member, uploads to deploy_to', async () => {
    const local = await get('rpm-local', 'repodata/repomd.xml');
    const virt = await get('rpm', 'repodata/repomd.xml');
    expect(virt.status).toBe(200);
    expect(virt.body.equals(local.body)).toBe(true);
    const dnf = await dnfClient(work, `${t.url}/rpm/`);
    const q = await dnf.run(['repoquery', '--qf', '%{name}', '*']);
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout.trim().split('\n').sort()).toEqual(['complex-aa', 'hello-aa', 'libfoo-aa']);
    const dest = join(dnf.dir, 'dl');
    const dl = await dnf.run(['download', '--destdir', dest, 'hello-aa']);
    expect(dl.code, dl.stderr).toBe(0);
    expect((await readFile(join(dest, basename(rpms.hello!)))).equals(await readFile(rpms.hello!))).toBe(true);
    // A package only the remote member has is served by path.
    const remote = await get('rpm', `Packages/${basename(rpms.remote!)}`);
    expect(remote.status).toBe(200);
    expect(remote.body.equals(await readFile(rpms.remote!))).toBe(true);
    // Writes land in the deploy target; the virtual's repodata follows it.
    expect((await put('rpm', `Packages/e/${basename(rpms.extra!)}`, await readFile(rpms.extra!))).status).toBe(201);
    expect((await get('rpm-local', `Packages/e/${basename(rpms.extra!)}`)).status).toBe(200);
    const q2 = await dnf.run(['repoquery', '--qf', '%{name}', 'extra-aa']);
    expect(q2.stdout.trim()).toBe('extra-aa');
  });

  it.skipIf(skip)('sign_repodata: repomd.xml.asc signs the repomd.xml served; gpg verifies it; dnf with repo_gpgcheck accepts the repo key and refuses another', async () => {
    const post = (def: Record<string, unknown>) =>
      raw(t.url, 'POST', '/api/v2/repositories', { headers: { ...t.auth, 'content-type': 'application/json' }, body: JSON.stringify(def) });
    for (const def of [
      { name: 'bad-sign-1', package_type: 'rpm', repo_type: 'remote', upstream: { url: up.url }, settings: { sign_repodata: true } },
      { name: 'bad-sign-2', package_type: 'generic', repo_type: 'local', settings: { sign_repodata: true } },
      { name: 'bad-sign-3', package_type: 'rpm', repo_type: 'local', settings: { sign_repodata: 'yes' } },
    ]) {
      const r = await post(def);
      expect(r.status, r.body.toString()).toBe(400);
      expect(r.json().error?.code ?? r.json().code).toBe('INVALID_REPOSITORY');
    }
    // Not signing: no signature, no key.
    expect((await get('rpm-local', 'repodata/repomd.xml.asc')).status).toBe(404);
    expect((await get('rpm-local', 'repodata/repomd.xml.key')).status).toBe(404);

    for (const id of ['hello', 'libfoo']) expect((await put('rpm-signed', `Packages/${basename(rpms[id]!)}`, await readFile(rpms[id]!))).status).toBe(201);
    expect((await put('rpm-signed-other', `Packages/${basename(rpms.extra!)}`, await readFile(rpms.extra!))).status).toBe(201);
    const signedFiles = async (repo: string) => {
      const [repomd, asc, key] = await Promise.all(['repomd.xml', 'repomd.xml.asc', 'repomd.xml.key'].map((f) => get(repo, `repodata/${f}`)));
      for (const r of [repomd!, asc!, key!]) expect(r.status, r.body.toString()).toBe(200);
      expect(asc!.body.toString()).toMatch(/^-----BEGIN PGP SIGNATURE-----\n/);
      expect(key!.body.toString()).toMatch(/^-----BEGIN PGP PUBLIC KEY BLOCK-----\n/);
      return { repomd: repomd!.body, asc: asc!.body, key: key!.body };
    };
    const first = await signedFiles('rpm-signed');
    const other = await signedFiles('rpm-signed-other');
    expect(other.key.equals(first.key)).toBe(false);

    const good = await gpg.verify(first.key, first.asc, first.repomd);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toMatch(/\[GNUPG:\] GOODSIG [0-9A-F]{16} rpm-signed repodata signing key/);
    const fpr = /\[GNUPG:\] VALIDSIG ([0-9A-F]{40})/.exec(good.stdout)![1]!;
    // Another repository's key, or other bytes than those served: refused.
    expect((await gpg.verify(other.key, first.asc, first.repomd)).code).not.toBe(0);
    const tampered = await gpg.verify(first.key, first.asc, Buffer.concat([first.repomd, Buffer.from(' ')]));
    expect(tampered.code).not.toBe(0);
    expect(tampered.stdout).toContain('BADSIG');

    const url = `${t.url}/rpm-signed/`;
    const dnf = await dnfClient(work, url, { gpgkey: `${url}repodata/repomd.xml.key` });
    const mc = await dnf.run(['makecache']);
    expect(mc.code, mc.stderr).toBe(0);
    const q = await dnf.run(['repoquery', '--qf', '%{name}', '*']);
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout.trim().split('\n').sort()).toEqual(['hello-aa', 'libfoo-aa']);
    // The same repository with another repository's key: dnf refuses its metadata.
    const wrong = await dnfClient(work, url, { gpgkey: `${t.url}/rpm-signed-other/repodata/repomd.xml.key` });
    const refused = await wrong.run(['makecache']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('repomd.xml GPG signature verification error');

    // A new package: new repomd.xml, new signature over it, same key; the old signature does not fit the new file.
    expect((await put('rpm-signed', `Packages/${basename(rpms.complex!)}`, await readFile(rpms.complex!))).status).toBe(201);
    const second = await signedFiles('rpm-signed');
    expect(second.repomd.equals(first.repomd)).toBe(false);
    expect(second.key.equals(first.key)).toBe(true);
    expect((await gpg.verify(second.key, second.asc, second.repomd)).code).toBe(0);
    expect((await gpg.verify(second.key, first.asc, second.repomd)).stdout).toContain('BADSIG');
    const again = await dnf.run(['repoquery', '--qf', '%{name}', '*']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim().split('\n').sort()).toEqual(['complex-aa', 'hello-aa', 'libfoo-aa']);
    // Reads are stable: the same bytes every time (the signature is made once per generation, deterministically).
    const reread = await signedFiles('rpm-signed');
    expect(reread.asc.equals(second.asc) && reread.key.equals(second.key) && reread.repomd.equals(second.repomd)).toBe(true);

    // Another replica on the same database and store serves the very same bytes.
    if (shared) {
      const b = await startTestApp({ engine: 'node', drivers, shared });
      try {
        for (let i = 0; i < 50 && (await raw(b.url, 'GET', '/rpm-signed/repodata/repomd.xml')).status !== 200; i++) await new Promise((r) => setTimeout(r, 20));
        for (const [f, body] of [['repomd.xml', second.repomd], ['repomd.xml.asc', second.asc], ['repomd.xml.key', second.key]] as const) {
          const r = await raw(b.url, 'GET', `/rpm-signed/repodata/${f}`);
          expect(r.status).toBe(200);
          expect(r.body.equals(body), f).toBe(true);
        }
      } finally {
        await b.stop();
      }
    }

    // Turning the setting off drops signature and key at once; the repodata stays; turning it on signs again with the kept key.
    const patch = (settings: Record<string, unknown>) =>
      raw(t.url, 'PATCH', '/api/v2/repositories/rpm-signed', { headers: { ...t.auth, 'content-type': 'application/json' }, body: JSON.stringify({ settings }) });
    expect((await patch({ sign_repodata: false })).status).toBe(200);
    expect((await get('rpm-signed', 'repodata/repomd.xml.asc')).status).toBe(404);
    expect((await get('rpm-signed', 'repodata/repomd.xml.key')).status).toBe(404);
    expect((await get('rpm-signed', 'repodata/repomd.xml')).body.equals(second.repomd)).toBe(true);
    expect((await patch({ sign_repodata: true })).status).toBe(200);
    const back = await signedFiles('rpm-signed');
    expect(back.key.equals(second.key)).toBe(true);
    expect(back.asc.equals(second.asc)).toBe(true);
    expect((await gpg.verify(back.key, back.asc, back.repomd)).stdout).toContain(`VALIDSIG ${fpr}`);
  });

  it.skipIf(skip)('remote: a mirror\'s repomd.xml.asc and .key pass through byte for byte; dnf verifies them through the cache', async () => {
    const dir = join(up.root, 'signed', 'repodata');
    const asc = await get('rpm-remote-signed', 'repodata/repomd.xml.asc');
    const key = await get('rpm-remote-signed', 'repodata/repomd.xml.key');
    expect(asc.status).toBe(200);
    expect(asc.body.equals(await readFile(join(dir, 'repomd.xml.asc')))).toBe(true);
    expect(key.body.equals(await readFile(join(dir, 'repomd.xml.key')))).toBe(true);
    const url = `${t.url}/rpm-remote-signed/`;
    const dnf = await dnfClient(work, url, { gpgkey: `${url}repodata/repomd.xml.key` });
    const mc = await dnf.run(['makecache']);
    expect(mc.code, mc.stderr).toBe(0);
    const q = await dnf.run(['repoquery', '--qf', '%{name}', '*']);
    expect(q.stdout.trim()).toBe('remote-tool');
    // The mirror's key does not verify a local repository's signature, so dnf refuses that pairing.
    const wrong = await dnfClient(work, `${t.url}/rpm-signed/`, { gpgkey: `${url}repodata/repomd.xml.key` });
    const refused = await wrong.run(['makecache']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('repomd.xml GPG signature verification error');
  });
});
