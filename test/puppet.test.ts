import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIVER_SETS, createTrio, startTestApp, type TestApp } from './helpers/app.js';
import { raw } from './helpers/http.js';
import { buildModule, puppetModule, type ModuleSpec, type PuppetResult } from './helpers/puppet-modules.js';
import { serverModeAvailable } from './helpers/services.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

function ok(r: PuppetResult): PuppetResult {
  if (r.code !== 0) throw new Error(`puppet failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Publish through the Forge API (multipart `file`), as PDK / the Forge publish clients do. */
async function publish(t: TestApp, repo: string, file: string, auth = true): Promise<Response> {
  const form = new FormData();
  form.append('file', new Blob([await readFile(file)], { type: 'application/gzip' }), basename(file));
  return fetch(`${t.url}/${repo}/v3/releases`, { method: 'POST', headers: auth ? t.auth : {}, body: form });
}

async function installed(dir: string, name: string): Promise<{ name: string; version: string }> {
  return JSON.parse(await readFile(join(dir, name, 'metadata.json'), 'utf8')) as { name: string; version: string };
}

const mod = (owner: string, name: string, version: string, deps: Array<[string, string]> = []): ModuleSpec => ({
  owner,
  name,
  version,
  dependencies: deps.map(([n, v]) => ({ name: n, version_requirement: v })),
});

describe('puppet repositories with puppet module install [embedded(pglite,memory,fs)]', () => {
  let t: TestApp;
  let upstream: TestApp;
  let work: string;
  const files: Record<string, string> = {};

  async function install(repo: string, module: string, extra: string[] = []) {
    const target = await mkdtemp(join(work, 'target-'));
    const r = await puppetModule(work, ['install', module, '--module_repository', `${t.url}/${repo}`, '--target-dir', target, ...extra]);
    return { ...r, target };
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'aa-puppet-'));
    const specs: Record<string, ModuleSpec> = {
      base1: mod('alice', 'base', '1.0.0'),
      base11: mod('alice', 'base', '1.1.0'),
      base2: mod('alice', 'base', '2.0.0-rc.1'),
      app: mod('alice', 'app', '2.0.0', [['alice/base', '>= 1.0.0 < 2.0.0']]),
      rbase: mod('bob', 'remotebase', '0.5.0'),
      rapp: mod('bob', 'remoteapp', '1.0.0', [['bob-remotebase', '>= 0.5.0']]),
      mixed: mod('carol', 'mixed', '1.0.0', [['bob-remotebase', '>= 0.1.0'], ['alice-base', '1.x']]),
    };
    for (const [k, s] of Object.entries(specs)) files[k] = await buildModule(work, s);
    files.wrongName = await buildModule(work, { ...mod('alice', 'other', '1.0.0'), metadataName: 'alice-base' });
    files.wrongVersion = await buildModule(work, { ...mod('alice', 'base', '3.0.0'), metadataVersion: '3.0.1' });
    files.wrongTop = await buildModule(work, { ...mod('alice', 'base', '3.0.0'), topDir: 'base' });

    // The upstream is a real Forge v3 implementation: a second server with a local puppet repository.
    upstream = await startTestApp({ engine: 'node', drivers: DRIVER_SETS[0]! });
    await upstream.createRepo({ name: 'forge', package_type: 'puppet', repo_type: 'local' });
    for (const k of ['rbase', 'rapp']) expect((await publish(upstream, 'forge', files[k]!)).status).toBe(201);

    t = await startTestApp({ engine: 'uws', drivers: DRIVER_SETS[0]! });
    await createTrio(t, 'puppet', 'pp', 'pp', `${upstream.url}/forge`);
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
    await upstream?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('publishes with the Forge API and PUT; refuses tarballs that do not match their name', async () => {
    for (const k of ['base1', 'base2', 'app']) {
      const r = await publish(t, 'pp-local', files[k]!);
      expect(r.status, await r.clone().text()).toBe(201);
    }
    const body = (await (await publish(t, 'pp-local', files.base1!)).json()) as { error: { code: string } };
    expect(body.error.code).toBe('ALREADY_EXISTS');
    const put = await raw(t.url, 'PUT', '/pp-local/v3/files/alice-base-1.1.0.tar.gz', { headers: t.auth, body: await readFile(files.base11!) });
    expect(put.status, put.body.toString()).toBe(201);
    const refusals: Array<[string, RegExp]> = [
      [files.wrongName!, /names module alice-base/],
      [files.wrongVersion!, /version 3\.0\.1/],
      [files.wrongTop!, /outside alice-base-3\.0\.0\//],
    ];
    for (const [file, msg] of refusals) {
      const r = await publish(t, 'pp-local', file);
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(msg);
    }
    expect((await publish(t, 'pp-local', files.base11!, false)).status).toBe(401);
    const junk = await raw(t.url, 'PUT', '/pp-local/v3/files/alice-junk-1.0.0.tar.gz', { headers: t.auth, body: 'not a tarball' });
    expect(junk.status).toBe(400);
    expect((await raw(t.url, 'PUT', '/pp-local/v3/files/Alice_base.tar.gz', { headers: t.auth, body: 'x' })).status).toBe(400);
    const form = new FormData();
    form.append('file', new Blob([await readFile(files.base11!)]), 'module.tar.gz');
    const unnamed = await fetch(`${t.url}/pp-local/v3/releases`, { method: 'POST', headers: t.auth, body: form });
    expect(unnamed.status).toBe(400);
  });

  it('local: puppet module install resolves a dependency; documents carry the fields the client reads', async () => {
    const r = await install('pp-local', 'alice-app');
    ok(r);
    expect(await installed(r.target, 'app')).toMatchObject({ name: 'alice-app', version: '2.0.0' });
    expect(await installed(r.target, 'base')).toMatchObject({ name: 'alice-base', version: '1.1.0' });
    const pinned = await install('pp-local', 'alice-base', ['--version', '1.0.0']);
    ok(pinned);
    expect((await installed(pinned.target, 'base')).version).toBe('1.0.0');

    const list = (await raw(t.url, 'GET', '/pp-local/v3/releases?module=alice-base&limit=2')).json() as {
      pagination: { next: string | null; total: number };
      results: Array<{ version: string; file_uri: string; file_sha256: string; file_md5: string; metadata: { name: string } }>;
    };
    expect(list.pagination.total).toBe(3);
    expect(list.results.map((x) => x.version)).toEqual(['2.0.0-rc.1', '1.1.0']);
    expect(list.pagination.next).toBe('/v3/releases?module=alice-base&limit=2&offset=2');
    const tarball = await readFile(files.base11!);
    expect(list.results[1]).toMatchObject({ file_uri: '/v3/files/alice-base-1.1.0.tar.gz', file_sha256: sha256(tarball), file_md5: md5(tarball) });
    const page2 = (await raw(t.url, 'GET', `/pp-local${list.pagination.next}`)).json() as { results: Array<{ version: string }>; pagination: { next: null } };
    expect(page2.results.map((x) => x.version)).toEqual(['1.0.0']);
    expect(page2.pagination.next).toBeNull();
    const m = (await raw(t.url, 'GET', '/pp-local/v3/modules/alice-base')).json() as { current_release: { version: string }; releases: Array<{ version: string }> };
    expect(m.current_release.version).toBe('2.0.0-rc.1');
    expect(m.releases.map((x) => x.version)).toEqual(['2.0.0-rc.1', '1.1.0', '1.0.0']);
    const rel = await raw(t.url, 'GET', '/pp-local/v3/releases/alice-app-2.0.0');
    expect(rel.json()).toMatchObject({ slug: 'alice-app-2.0.0', metadata: { dependencies: [{ name: 'alice/base', version_requirement: '>= 1.0.0 < 2.0.0' }] } });
    expect((await raw(t.url, 'GET', '/pp-local/v3/modules/alice-nothing')).status).toBe(404);
    expect((await raw(t.url, 'GET', '/pp-local/v3/releases?module=not+a+module')).status).toBe(400);
    expect((await raw(t.url, 'GET', '/pp-local/v3/releases?module=alice-base&limit=1000')).status).toBe(400);
    const missing = await install('pp-local', 'alice-nothing');
    expect(missing.code).not.toBe(0);
    expect(missing.stdout + missing.stderr).toMatch(/alice-nothing/);
  });

  it('remote: a tarball that no longer matches the release document is refused and not cached', async () => {
    await upstream.createRepo({ name: 'forge-mut', package_type: 'puppet', repo_type: 'local', settings: { allow_overwrite: true } });
    await t.createRepo({ name: 'pp-mut', package_type: 'puppet', repo_type: 'remote', upstream: { url: `${upstream.url}/forge-mut` }, settings: { mutable_ttl_seconds: 3600 } });
    const v1 = await buildModule(work, mod('erin', 'tool', '1.0.0'));
    const v2 = await buildModule(work, { ...mod('erin', 'tool', '1.0.0'), dependencies: [{ name: 'alice-base', version_requirement: '>= 1.0.0' }] });
    expect((await raw(upstream.url, 'PUT', '/forge-mut/v3/files/erin-tool-1.0.0.tar.gz', { headers: upstream.auth, body: await readFile(v1) })).status).toBe(201);
    const rel = (await raw(t.url, 'GET', '/pp-mut/v3/releases/erin-tool-1.0.0')).json() as { file_sha256: string };
    expect(rel.file_sha256).toBe(sha256(await readFile(v1)));
    // The upstream replaces the tarball after this cache read its release document.
    expect((await raw(upstream.url, 'PUT', '/forge-mut/v3/files/erin-tool-1.0.0.tar.gz', { headers: upstream.auth, body: await readFile(v2) })).status).toBe(201);
    // Readers follow the download: the connection is cut when verification fails at the end (a client never
    // sees a complete body the cache did not accept).
    for (let i = 0; i < 2; i++) {
      const bad = await raw(t.url, 'GET', '/pp-mut/v3/files/erin-tool-1.0.0.tar.gz').catch((e: Error) => e);
      expect(bad instanceof Error ? bad.message : bad.status).toMatch(/aborted|socket hang up|502/);
    }
    const r = await install('pp-mut', 'erin-tool');
    expect(r.code).not.toBe(0);
    // Nothing bad was cached: once the upstream serves the promised bytes again, they come through.
    expect((await raw(upstream.url, 'PUT', '/forge-mut/v3/files/erin-tool-1.0.0.tar.gz', { headers: upstream.auth, body: await readFile(v1) })).status).toBe(201);
    const good = await raw(t.url, 'GET', '/pp-mut/v3/files/erin-tool-1.0.0.tar.gz');
    expect(good.status).toBe(200);
    expect(good.body.equals(await readFile(v1))).toBe(true);
  });

  it('remote: installs through a cache of another Forge; tarballs verified and only fetched when a release names them', async () => {
    const r = await install('pp-remote', 'bob-remoteapp');
    ok(r);
    expect(await installed(r.target, 'remoteapp')).toMatchObject({ version: '1.0.0' });
    expect(await installed(r.target, 'remotebase')).toMatchObject({ version: '0.5.0' });
    const rel = (await raw(t.url, 'GET', '/pp-remote/v3/releases/bob-remotebase-0.5.0')).json() as { file_uri: string; file_sha256: string };
    expect(rel.file_uri).toBe('/v3/files/bob-remotebase-0.5.0.tar.gz');
    const tar = await raw(t.url, 'GET', '/pp-remote/v3/files/bob-remotebase-0.5.0.tar.gz');
    expect(tar.body.equals(await readFile(files.rbase!))).toBe(true);
    expect(sha256(tar.body)).toBe(rel.file_sha256);
    // The listing query is redirected to a path the cache keys by.
    const q = await raw(t.url, 'GET', '/pp-remote/v3/releases?module=bob-remotebase&sort_by=version');
    expect(q.status).toBe(302);
    expect(q.headers.location).toMatch(/\/pp-remote\/v3\/releases\/~bob-remotebase\/0$/);
    const page = (await raw(t.url, 'GET', '/pp-remote/v3/releases/~bob-remotebase/0')).json() as { results: Array<{ file_uri: string }>; pagination: { next: null } };
    expect(page.results.map((x) => x.file_uri)).toEqual(['/v3/files/bob-remotebase-0.5.0.tar.gz']);
    // Not named by any upstream release: never fetched.
    expect((await raw(t.url, 'GET', '/pp-remote/v3/files/bob-unknown-1.0.0.tar.gz')).status).toBe(404);
    expect((await raw(t.url, 'GET', '/pp-remote/v3/releases')).status).toBe(400);
    // Cached: the install still works with the upstream gone.
    await upstream.app.stop(100).catch(() => {});
    const again = await install('pp-remote', 'bob-remoteapp');
    ok(again);
    expect(await installed(again.target, 'remotebase')).toMatchObject({ version: '0.5.0' });
  });

  it('virtual: one repository for local and remote modules, dependencies across members; publishes land in deploy_to', async () => {
    expect((await publish(t, 'pp', files.mixed!)).status).toBe(201);
    expect((await raw(t.url, 'GET', '/pp-local/v3/releases/carol-mixed-1.0.0')).status).toBe(200);
    const r = await install('pp', 'carol-mixed');
    ok(r);
    expect(await installed(r.target, 'mixed')).toMatchObject({ version: '1.0.0' });
    expect(await installed(r.target, 'remotebase')).toMatchObject({ version: '0.5.0' });
    expect(await installed(r.target, 'base')).toMatchObject({ version: '1.1.0' });
    const app = await install('pp', 'alice-app');
    ok(app);
    expect(await installed(app.target, 'base')).toMatchObject({ version: '1.1.0' });
    const m = (await raw(t.url, 'GET', '/pp/v3/modules/alice-base')).json() as { current_release: { version: string } };
    expect(m.current_release.version).toBe('2.0.0-rc.1');
  });
});

describe.skipIf(!serverModeAvailable())('puppet repositories [server(postgres,redis,s3)]', () => {
  let t: TestApp;
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'aa-puppet-s-'));
    t = await startTestApp({ engine: 'node', drivers: DRIVER_SETS[1]! });
    await t.createRepo({ name: 'pps', package_type: 'puppet', repo_type: 'local' });
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('publish and puppet module install with a dependency', async () => {
    for (const s of [mod('dave', 'core', '1.2.3'), mod('dave', 'web', '0.1.0', [['dave-core', '>= 1.0.0']])]) {
      const r = await publish(t, 'pps', await buildModule(work, s));
      expect(r.status).toBe(201);
    }
    const target = await mkdtemp(join(work, 'target-'));
    ok(await puppetModule(work, ['install', 'dave-web', '--module_repository', `${t.url}/pps`, '--target-dir', target]));
    expect(existsSync(join(target, 'core', 'manifests', 'init.pp'))).toBe(true);
    expect((await installed(target, 'web')).version).toBe('0.1.0');
  });
});
