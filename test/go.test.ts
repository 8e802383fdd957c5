import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIVER_SETS, ENGINES, createTrio, startTestApp, stopAll, type TestApp } from './helpers/app.js';
import { buildAndRun, esc, goEnv, goProxyTree, library, moduleZip, ok, parseDownloads, run, storedZip, type DownloadInfo, type ModuleSource } from './helpers/go-modules.js';
import { checkModulePath, escapeCase, matchPathMajor, splitPathVersion, unescapeModulePath, unescapeVersion } from '../src/formats/go/module-path.js';
import { parseGoPath } from '../src/formats/go/paths.js';
import { canonicalVersion, isPseudoVersion, latestOf, sortSemver } from '../src/formats/go/semver.js';
import { goModModulePath } from '../src/formats/go/zip-check.js';
import { buildSumdb } from './helpers/go-sumdb.js';
import { raw } from './helpers/http.js';
import { startNginx, type StaticUpstream } from './helpers/nginx.js';
import { serverModeAvailable } from './helpers/services.js';

/** Upstream modules (served by nginx from a tree the go command wrote), one with capitals in its path. */
const REMOTE_LIB = 'example.com/Remote/Lib';
const SHARED = 'example.com/shared';
/** The checksum database generated for the upstream modules (signed with a key made for the test). */
const SUMDB = 'sum.example.test';
const upstreamModules: ModuleSource[] = [
  library(REMOTE_LIB, 'v1.0.0', 'remote lib v1.0.0'),
  library(REMOTE_LIB, 'v1.2.0', 'remote lib v1.2.0'),
  library(SHARED, 'v1.0.0', 'shared from upstream', 'shared'),
];

describe.each(DRIVER_SETS)('go modules through GOPROXY with the go command [$name]', (drivers) => {
  const skip = drivers.db === 'postgres' && !serverModeAvailable();
  let t: TestApp;
  let up: StaticUpstream;
  let work: string;
  let gocache: string;
  let seeded: DownloadInfo[];
  /** GOSUMDB value (name+key) of the real checksum database the upstream serves under sumdb/sum.example.test/. */
  let sumdbKey: string;

  /** A fresh module cache (GOPATH/GOMODCACHE) per call; the build cache is shared to keep builds fast. */
  async function goWith(proxy: string): Promise<NodeJS.ProcessEnv> {
    return goEnv(await mkdtemp(join(work, 'home-')), proxy, { GOCACHE: gocache });
  }
  const proxyOf = (repo: string) => `${t.url}/${repo}`;

  async function download(proxy: string, spec: string): Promise<DownloadInfo> {
    const env = await goWith(proxy);
    const r = ok(await run('go', ['mod', 'download', '-json', spec], { cwd: env.HOME, env }));
    return parseDownloads(r.stdout)[0]!;
  }

  async function versions(proxy: string, module: string): Promise<string> {
    const env = await goWith(proxy);
    return ok(await run('go', ['list', '-m', '-versions', module], { cwd: env.HOME, env })).stdout.trim();
  }

  async function put(repo: string, m: ModuleSource | { module: string; version: string; zip: Buffer }) {
    const body = 'zip' in m ? m.zip : await moduleZip(work, m);
    return raw(t.url, 'PUT', `/${repo}/${esc(m.module)}/@v/${esc(m.version)}.zip`, {
      headers: { ...t.auth, 'content-type': 'application/zip', 'content-length': body.length },
      body,
    });
  }

  beforeAll(async () => {
    if (skip) return;
    work = await mkdtemp(join(tmpdir(), 'aa-go-'));
    gocache = join(work, 'gocache');
    up = await startNginx();
    seeded = await goProxyTree(work, upstreamModules, up.root, gocache);
    // proxy.golang.org answers @latest; a GOMODCACHE tree has none, so write the one a proxy would serve.
    await writeFile(join(up.root, esc(REMOTE_LIB), '@latest'), JSON.stringify({ Version: 'v1.2.0', Time: '2024-01-02T03:04:05Z' }));
    // The checksum database as proxy.golang.org serves it under {proxy}/sumdb/{name}/.
    const sumdb = join(up.root, 'sumdb', 'sum.golang.org');
    await mkdir(join(sumdb, 'lookup', 'example.com', '!remote'), { recursive: true });
    await mkdir(join(sumdb, 'tile', '8', '0', '000.p'), { recursive: true });
    await writeFile(join(sumdb, 'supported'), ''); // proxy.golang.org answers an empty 200
    // A module without tagged versions: proxy.golang.org answers @v/list with an empty 200.
    await mkdir(join(up.root, 'example.com', 'untagged', '@v'), { recursive: true });
    await writeFile(join(up.root, 'example.com', 'untagged', '@v', 'list'), '');
    await writeFile(join(sumdb, 'latest'), 'go.sum database tree\n100\nAAAA\n');
    await writeFile(join(sumdb, 'lookup', 'example.com', '!remote', '!lib@v1.0.0'), 'lookup record v1\n');
    await writeFile(join(sumdb, 'tile', '8', '0', '000.p', '3'), Buffer.alloc(96, 7));
    sumdbKey = await buildSumdb(work, {
      tree: up.root,
      name: SUMDB,
      out: join(up.root, 'sumdb', SUMDB),
      modules: upstreamModules.map((m) => `${m.module}@${m.version}`),
      gocache,
    });
    await run('chmod', ['-R', 'a+rX', up.root]);

    t = await startTestApp({ engine: ENGINES[0]!, drivers });
    await createTrio(t, 'go', 'go', 'go-virtual', up.url, { mutable_ttl_seconds: 0 });
  }, 120_000);

  afterAll(() => stopAll(t, up, work));

  it.skipIf(skip)('local: PUT module zips, then go mod download, go list -m -versions and go build through the repository', async () => {
    const hello10 = library('example.com/hello', 'v1.0.0', 'hello v1.0.0', 'hello');
    const hello11 = library('example.com/hello', 'v1.1.0', 'hello v1.1.0', 'hello');
    const upper = library('example.com/Upper/Hello', 'v1.0.0', 'Upper says hi', 'hello');
    const v2 = library('example.com/hello/v2', 'v2.0.0', 'hello v2', 'hello');
    const zip11 = await moduleZip(work, hello11);
    for (const m of [hello10, upper, v2]) expect((await put('go-local', m)).status).toBe(201);
    const created = await put('go-local', { ...hello11, zip: zip11 });
    expect(created.status).toBe(201);
    expect(created.json()).toMatchObject({ repo: 'go-local', path: 'example.com/hello/@v/v1.1.0.zip' });
    // A version is immutable: 409 on a second upload.
    expect((await put('go-local', hello11)).status).toBe(409);

    const proxy = proxyOf('go-local');
    const d = await download(proxy, 'example.com/hello@v1.1.0');
    expect(d.Version).toBe('v1.1.0');
    expect(d.Sum).toMatch(/^h1:/);
    expect((await readFile(d.Zip!)).equals(zip11)).toBe(true);
    expect(await readFile(d.GoMod!, 'utf8')).toBe(hello11.files['go.mod']);
    expect(await versions(proxy, 'example.com/hello')).toBe('example.com/hello v1.0.0 v1.1.0');

    // Case-encoded module path end to end: the URL says !upper/!hello, the zip and go.mod say Upper/Hello.
    const u = await download(proxy, 'example.com/Upper/Hello@v1.0.0');
    expect(u.Path).toBe('example.com/Upper/Hello');
    expect(u.Zip).toContain('!upper/!hello');
    expect(await versions(proxy, 'example.com/Upper/Hello')).toBe('example.com/Upper/Hello v1.0.0');

    const latest = await raw(t.url, 'GET', '/go-local/example.com/hello/@latest');
    expect(latest.status).toBe(200);
    expect(latest.json()).toMatchObject({ Version: 'v1.1.0' });
    const info = await raw(t.url, 'GET', '/go-local/example.com/!upper/!hello/@v/v1.0.0.info');
    expect(info.json()).toMatchObject({ Version: 'v1.0.0' });
    expect(new Date(info.json().Time).getTime()).toBeGreaterThan(Date.now() - 600_000);

    const env = await goWith(proxy);
    const out = await buildAndRun(work, env, { 'example.com/hello': 'v1.1.0', 'example.com/Upper/Hello': 'v1.0.0', 'example.com/hello/v2': 'v2.0.0' }, [
      'example.com/hello',
      'example.com/Upper/Hello',
      'example.com/hello/v2',
    ]);
    expect(out).toBe('hello v1.1.0\nUpper says hi\nhello v2\n');

    // Deleting the zip removes the version: .info, .mod and the list entry are derived from it.
    expect((await raw(t.url, 'DELETE', '/go-local/example.com/hello/@v/v1.0.0.mod', { headers: t.auth })).status).toBe(405);
    expect((await raw(t.url, 'DELETE', '/go-local/example.com/hello/@v/v1.0.0.zip', { headers: t.auth })).status).toBe(204);
    expect((await raw(t.url, 'GET', '/go-local/example.com/hello/@v/v1.0.0.info')).status).toBe(404);
    expect((await raw(t.url, 'GET', '/go-local/example.com/hello/@v/list')).body.toString()).toBe('v1.1.0\n');
    expect((await put('go-local', hello10)).status).toBe(201);
  }, 180_000);

  it.skipIf(skip)('local: invalid module zips are refused with 400 and nothing is stored', async () => {
    const mod = 'example.com/bad';
    const p = `${mod}@v1.0.0/`;
    const goMod = `module ${mod}\n`;
    const cases: Array<[string, Buffer, number]> = [
      ['go.mod module line names another module', await moduleZip(work, { module: mod, version: 'v1.0.0', files: { 'go.mod': 'module example.com/other\n', 'a.go': 'package a\n' } }), 400],
      ['traversal entry', storedZip([[`${p}go.mod`, goMod], [`${p}../../evil.go`, 'package evil\n']]), 400],
      ['absolute entry', storedZip([[`${p}go.mod`, goMod], ['/etc/evil.go', 'x']]), 400],
      ['entry outside the module prefix', storedZip([[`${p}go.mod`, goMod], ['example.com/other@v1.0.0/a.go', 'x']]), 400],
      ['backslash in a name', storedZip([[`${p}go.mod`, goMod], [`${p}a\\..\\b.go`, 'x']]), 400],
      ['duplicate file', storedZip([[`${p}go.mod`, goMod], [`${p}a.go`, 'x'], [`${p}a.go`, 'y']]), 400],
      ['case-folding collision', storedZip([[`${p}go.mod`, goMod], [`${p}A.go`, 'x'], [`${p}a.go`, 'y']]), 400],
      ['go.mod not at the root', storedZip([[`${p}go.mod`, goMod], [`${p}sub/go.mod`, 'module example.com/bad/sub\n']]), 400],
      ['no go.mod', storedZip([[`${p}a.go`, 'package a\n']]), 400],
      ['go.mod over 16 MiB', storedZip([[`${p}go.mod`, goMod + '//' + 'x'.repeat(16 << 20)]]), 400],
      ['not a zip', Buffer.from('this is not a zip archive at all'), 400],
    ];
    for (const [what, zip, status] of cases) {
      const r = await put('go-local', { module: mod, version: 'v1.0.0', zip });
      expect(r.status, what).toBe(status);
      expect(r.json().error?.code ?? r.json().code, what).toBeDefined();
    }
    expect((await raw(t.url, 'GET', '/go-local/example.com/bad/@v/v1.0.0.zip')).status).toBe(404);
    expect((await raw(t.url, 'GET', '/go-local/example.com/bad/@v/v1.0.0.info')).status).toBe(404);
    expect((await raw(t.url, 'GET', '/go-local/example.com/bad/@v/list')).status).toBe(404);

    // Major version suffix rules: v2 needs /v2 (or +incompatible without a go.mod), /v2 needs v2.
    const v2 = await put('go-local', { module: mod, version: 'v2.0.0', zip: storedZip([[`${mod}@v2.0.0/go.mod`, goMod]]) });
    expect(v2.status).toBe(400);
    const v2mod = 'example.com/bad/v2';
    expect((await put('go-local', { module: v2mod, version: 'v3.0.0', zip: storedZip([[`${v2mod}@v3.0.0/go.mod`, `module ${v2mod}\n`]]) })).status).toBe(400);
    expect((await put('go-local', { module: mod, version: 'v2.0.0+incompatible', zip: storedZip([[`${mod}@v2.0.0+incompatible/go.mod`, goMod]]) })).status).toBe(400);
    const incompatible = await put('go-local', { module: mod, version: 'v2.0.0+incompatible', zip: storedZip([[`${mod}@v2.0.0+incompatible/a.go`, 'package a\n']]) });
    expect(incompatible.status).toBe(201);
    expect((await raw(t.url, 'GET', '/go-local/example.com/bad/@v/v2.0.0+incompatible.mod')).body.toString()).toBe(`module ${mod}\n`);

    // Paths: case encoding is mandatory, versions canonical, only .zip is uploaded.
    const bad: Array<[string, string, number]> = [
      ['PUT', '/go-local/example.com/Upper/@v/v1.0.0.zip', 400],
      ['PUT', '/go-local/example.com/hello/@v/v1.0.zip', 400],
      ['PUT', '/go-local/example.com/hello/@v/v1.0.0.mod', 405],
      ['PUT', '/go-local/example.com/hello/@v/list', 405],
      ['GET', '/go-local/example.com/Upper/Hello/@v/list', 400],
      ['GET', '/go-local/example.com/!!x/@v/list', 400],
      ['GET', '/go-local/nodot/@v/list', 400],
      ['GET', '/go-local/example.com/hello/@v/v2.0.0.zip', 400],
      ['GET', '/go-local/example.com/hello/@v/v1.0.0.tar', 404],
      ['GET', '/go-local/example.com/hello', 404],
      ['GET', '/go-local/sumdb/sum.golang.org/tile/8/0/../x', 400],
    ];
    for (const [method, path, status] of bad) {
      const r = await raw(t.url, method, path, { headers: { ...t.auth, 'content-length': 0 }, body: '' });
      expect(r.status, `${method} ${path}`).toBe(status);
    }
  }, 120_000);

  it.skipIf(skip)('remote: go mod download, go list and go build through a caching proxy of a GOPROXY tree', async () => {
    const proxy = proxyOf('go-remote');
    const want = seeded.find((s) => s.Path === REMOTE_LIB && s.Version === 'v1.2.0')!;
    const d = await download(proxy, `${REMOTE_LIB}@v1.2.0`);
    expect(d.Sum).toBe(want.Sum);
    expect(d.GoModSum).toBe(want.GoModSum);
    expect(await versions(proxy, REMOTE_LIB)).toBe(`${REMOTE_LIB} v1.0.0 v1.2.0`);
    const out = await buildAndRun(work, await goWith(proxy), { [REMOTE_LIB]: 'v1.2.0' }, [REMOTE_LIB]);
    expect(out).toBe('remote lib v1.2.0\n');

    // .info/.mod/.zip are immutable: fetched from the upstream once however many module caches ask.
    await download(proxy, `${REMOTE_LIB}@v1.2.0`);
    const base = `/${esc(REMOTE_LIB)}/@v`;
    expect(await up.countRequests(`${base}/v1.2.0.zip`)).toBe(1);
    expect(await up.countRequests(`${base}/v1.2.0.info`)).toBe(1);
    const cached = await raw(t.url, 'GET', `/go-remote${base}/v1.2.0.zip`);
    expect(cached.headers['x-artifact-source']).toBe('cache');

    // @v/list is mutable: a version published upstream shows up (TTL 0 here).
    const v13 = library(REMOTE_LIB, 'v1.3.0', 'remote lib v1.3.0');
    const dir = join(up.root, esc(REMOTE_LIB), '@v');
    await writeFile(join(dir, 'v1.3.0.zip'), await moduleZip(work, v13));
    await writeFile(join(dir, 'v1.3.0.mod'), v13.files['go.mod']!);
    await writeFile(join(dir, 'v1.3.0.info'), JSON.stringify({ Version: 'v1.3.0', Time: '2024-02-01T00:00:00Z' }));
    await writeFile(join(dir, 'list'), 'v1.0.0\nv1.2.0\nv1.3.0\n');
    await run('chmod', ['-R', 'a+rX', dir]);
    expect(await versions(proxy, REMOTE_LIB)).toBe(`${REMOTE_LIB} v1.0.0 v1.2.0 v1.3.0`);
    expect((await download(proxy, `${REMOTE_LIB}@v1.3.0`)).Version).toBe('v1.3.0');

    expect(await versions(proxy, 'example.com/untagged')).toBe('example.com/untagged');

    // Upstream 404 reaches the go command as 404, so it tries the next proxy in the list.
    expect((await raw(t.url, 'GET', '/go-remote/example.com/hello/@v/list')).status).toBe(404);
    const fallthrough = await download(`${proxy},${proxyOf('go-local')}`, 'example.com/hello@v1.1.0');
    expect(fallthrough.Version).toBe('v1.1.0');
    // A module that exists nowhere: a clean "not found" from the go command, not a proxy error.
    const env = await goWith(proxy);
    const missing = await run('go', ['mod', 'download', '-json', 'example.com/nowhere@v1.0.0'], { cwd: env.HOME, env });
    expect(missing.code).not.toBe(0);
    expect(missing.stdout + missing.stderr).toMatch(/404 Not Found|not found/);
  }, 180_000);

  it.skipIf(skip)('remote: the checksum database is proxied under sumdb/{name}/ (supported, latest, lookup, tiles)', async () => {
    const s = await raw(t.url, 'GET', '/go-remote/sumdb/sum.golang.org/supported');
    expect(s.status).toBe(200);
    // A local repository proxies no checksum database: 404 tells the go command to go to it directly.
    expect((await raw(t.url, 'GET', '/go-local/sumdb/sum.golang.org/supported')).status).toBe(404);
    expect((await raw(t.url, 'GET', '/go-remote/sumdb/other.example/supported')).status).toBe(404);

    const lookupPath = '/go-remote/sumdb/sum.golang.org/lookup/example.com/!remote/!lib@v1.0.0';
    const tilePath = '/go-remote/sumdb/sum.golang.org/tile/8/0/000.p/3';
    expect((await raw(t.url, 'GET', '/go-remote/sumdb/sum.golang.org/latest')).body.toString()).toContain('\n100\n');
    expect((await raw(t.url, 'GET', lookupPath)).body.toString()).toBe('lookup record v1\n');
    expect((await raw(t.url, 'GET', tilePath)).body.equals(Buffer.alloc(96, 7))).toBe(true);

    // latest (the signed tree head) is mutable; lookups and tiles (partial ones too) are immutable.
    const sumdb = join(up.root, 'sumdb', 'sum.golang.org');
    await writeFile(join(sumdb, 'latest'), 'go.sum database tree\n101\nBBBB\n');
    await writeFile(join(sumdb, 'lookup', 'example.com', '!remote', '!lib@v1.0.0'), 'changed\n');
    await writeFile(join(sumdb, 'tile', '8', '0', '000.p', '3'), Buffer.alloc(96, 9));
    expect((await raw(t.url, 'GET', '/go-remote/sumdb/sum.golang.org/latest')).body.toString()).toContain('\n101\n');
    expect((await raw(t.url, 'GET', lookupPath)).body.toString()).toBe('lookup record v1\n');
    expect((await raw(t.url, 'GET', tilePath)).body.equals(Buffer.alloc(96, 7))).toBe(true);

    for (const bad of ['tile/8/0/12', 'tile/8/0/000.p/256', 'lookup/example.com/Remote@v1.0.0', 'lookup/example.com/x@v1.0', 'x/supported']) {
      const r = await raw(t.url, 'GET', `/go-remote/sumdb/sum.golang.org/${bad}`);
      expect(r.status, bad).toBeGreaterThanOrEqual(400);
      expect(r.status, bad).toBeLessThan(500);
    }
  });

  it.skipIf(skip)('remote: GOSUMDB verification works through the proxy (go mod download and go build check the database)', async () => {
    const proxy = proxyOf('go-remote');
    const env = goEnv(await mkdtemp(join(work, 'home-')), proxy, { GOCACHE: gocache, GOSUMDB: sumdbKey });
    const d = parseDownloads(ok(await run('go', ['mod', 'download', '-json', `${REMOTE_LIB}@v1.0.0`], { cwd: env.HOME, env })).stdout)[0]!;
    expect(d.Sum).toBe(seeded.find((s) => s.Path === REMOTE_LIB && s.Version === 'v1.0.0')!.Sum);
    // The go command asked the database through the proxy: supported, the lookup, and the tiles.
    expect(await up.countRequests(`/sumdb/${SUMDB}/supported`)).toBe(1);
    expect(await up.countRequests(`/sumdb/${SUMDB}/lookup/example.com/!remote/!lib@v1.0.0`)).toBe(1);
    expect(await up.countRequests(`/sumdb/${SUMDB}/tile/8/0/000.p/3`)).toBe(1);
    // The verified tree head the go command keeps: the database's 3 records.
    expect((await readFile(join(env.GOPATH!, 'pkg', 'sumdb', SUMDB, 'latest'), 'utf8')).split('\n')[1]).toBe('3');
    const out = await buildAndRun(work, { ...env, HOME: await mkdtemp(join(work, 'home-')) }, { [REMOTE_LIB]: 'v1.2.0' }, [REMOTE_LIB]);
    expect(out).toBe('remote lib v1.2.0\n');
    // Cached: a second module cache verifying the same version costs the upstream no lookup.
    const env2 = goEnv(await mkdtemp(join(work, 'home-')), proxy, { GOCACHE: gocache, GOSUMDB: sumdbKey });
    ok(await run('go', ['mod', 'download', '-json', `${REMOTE_LIB}@v1.0.0`], { cwd: env2.HOME, env: env2 }));
    expect(await up.countRequests(`/sumdb/${SUMDB}/lookup/example.com/!remote/!lib@v1.0.0`)).toBe(1);
  }, 120_000);

  it.skipIf(skip)('virtual: @v/list is the union, @latest the highest, the first member wins a version', async () => {
    // go-local also publishes REMOTE_LIB v1.1.0 (through the virtual: lands in deploy_to) and its own SHARED v1.0.0.
    const r = await put('go-virtual', library(REMOTE_LIB, 'v1.1.0', 'remote lib v1.1.0 (local)'));
    expect(r.status).toBe(201);
    expect(r.json().repo).toBe('go-local');
    const localShared = await moduleZip(work, library(SHARED, 'v1.0.0', 'shared from local', 'shared'));
    expect((await put('go-local', { module: SHARED, version: 'v1.0.0', zip: localShared })).status).toBe(201);

    const proxy = proxyOf('go-virtual');
    expect(await versions(proxy, REMOTE_LIB)).toBe(`${REMOTE_LIB} v1.0.0 v1.1.0 v1.2.0 v1.3.0`);
    const latest = await raw(t.url, 'GET', `/go-virtual/${esc(REMOTE_LIB)}/@latest`);
    expect(latest.json().Version).toBe('v1.2.0');
    expect((await raw(t.url, 'GET', '/go-virtual/example.com/hello/@latest')).json().Version).toBe('v1.1.0');

    const fromLocal = await download(proxy, `${REMOTE_LIB}@v1.1.0`);
    const fromRemote = await download(proxy, `${REMOTE_LIB}@v1.0.0`);
    expect(fromRemote.Sum).toBe(seeded.find((s) => s.Path === REMOTE_LIB && s.Version === 'v1.0.0')!.Sum);
    expect(fromLocal.Version).toBe('v1.1.0');
    const shared = await download(proxy, `${SHARED}@v1.0.0`);
    expect((await readFile(shared.Zip!)).equals(localShared)).toBe(true);
    // With the checksum database on, the go command notices that the local copy is not what was published.
    const checked = goEnv(await mkdtemp(join(work, 'home-')), proxy, { GOCACHE: gocache, GOSUMDB: sumdbKey });
    const mismatch = await run('go', ['mod', 'download', '-json', `${SHARED}@v1.0.0`], { cwd: checked.HOME, env: checked });
    expect(mismatch.code).not.toBe(0);
    expect(mismatch.stdout + mismatch.stderr).toMatch(/SECURITY ERROR|checksum mismatch/);

    const out = await buildAndRun(work, await goWith(proxy), { [REMOTE_LIB]: 'v1.1.0', 'example.com/hello': 'v1.1.0', [SHARED]: 'v1.0.0' }, [
      REMOTE_LIB,
      'example.com/hello',
      SHARED,
    ]);
    expect(out).toBe('remote lib v1.1.0 (local)\nhello v1.1.0\nshared from local\n');
    expect((await raw(t.url, 'GET', '/go-virtual/sumdb/sum.golang.org/supported')).status).toBe(200);
    expect((await raw(t.url, 'GET', '/go-virtual/example.com/nowhere/@v/list')).status).toBe(404);
  }, 180_000);
});

describe('go module paths, versions and case encoding (golang.org/x/mod rules)', () => {
  it('case-encodes and decodes module paths, refusing ambiguous encodings', () => {
    expect(escapeCase('github.com/Azure/azure-sdk-for-go')).toBe('github.com/!azure/azure-sdk-for-go');
    expect(unescapeModulePath('github.com/!azure/azure-sdk-for-go')).toEqual({ path: 'github.com/Azure/azure-sdk-for-go' });
    for (const bad of ['github.com/Azure/x', 'github.com/!!x', 'github.com/x!', 'github.com/!1x']) expect(unescapeModulePath(bad)).toHaveProperty('error');
  });

  it('checks module paths like module.CheckPath', () => {
    for (const good of ['example.com/m', 'example.com/m/v2', 'gopkg.in/yaml.v2', 'gopkg.in/check.v1', 'example.com/a_b~c.d-e']) expect(checkModulePath(good), good).toBeNull();
    const bad = ['nodot/m', 'Example.com/m', 'example.com/m/v1', 'example.com/m/v0', 'example.com/m/v2.1', 'example.com/.hidden', 'example.com/m.', 'example.com//m', 'example.com/m/', '-example.com/m', 'example.com/con', 'example.com/PROGRA~1', 'example.com/a+b', 'example.com/a b', 'gopkg.in/yaml', 'example.com/ä'];
    for (const b of bad) expect(checkModulePath(b), b).not.toBeNull();
    expect(splitPathVersion('example.com/m/v3')).toEqual({ prefix: 'example.com/m', pathMajor: '/v3', ok: true });
    expect(matchPathMajor('v2.0.0+incompatible', '')).toBe(true);
    expect(matchPathMajor('v2.0.0', '')).toBe(false);
    expect(matchPathMajor('v3.1.0', '/v3')).toBe(true);
    expect(matchPathMajor('v0.0.0-20160102150405-abcdefabcdef', '.v1')).toBe(true);
    expect(unescapeVersion('v1.0.0-!r!c1')).toEqual({ version: 'v1.0.0-RC1' });
  });

  it('parses, compares and picks versions like the go command', () => {
    expect(canonicalVersion('v1.2')).toBe('v1.2.0');
    expect(canonicalVersion('v1.2.3+meta')).toBe('v1.2.3');
    expect(canonicalVersion('v2.0.0+incompatible')).toBe('v2.0.0+incompatible');
    for (const bad of ['1.0.0', 'v01.0.0', 'v1.0.0-01', 'v1.0.0-', 'v1.2-pre', 'v1.0.0+']) expect(canonicalVersion(bad), bad).toBeNull();
    const sorted = sortSemver(['v1.10.0', 'v1.2.0', 'v1.2.0-rc.1', 'v1.2.0-beta.11', 'v1.2.0-beta.2', 'v0.9.0']);
    expect(sorted).toEqual(['v0.9.0', 'v1.2.0-beta.2', 'v1.2.0-beta.11', 'v1.2.0-rc.1', 'v1.2.0', 'v1.10.0']);
    expect(isPseudoVersion('v0.0.0-20191109021931-daa7c04131f5')).toBe(true);
    expect(isPseudoVersion('v1.2.4-0.20191109021931-daa7c04131f5')).toBe(true);
    expect(isPseudoVersion('v1.2.3-pre.0.20191109021931-daa7c04131f5')).toBe(true);
    expect(isPseudoVersion('v1.2.3-rc.1')).toBe(false);
    expect(latestOf(['v1.0.0', 'v2.0.0-rc.1', 'v1.1.0'])).toBe('v1.1.0');
    expect(latestOf(['v0.0.0-20191109021931-daa7c04131f5', 'v1.0.0-rc.1'])).toBe('v1.0.0-rc.1');
  });

  it('parses request paths: 400 for malformed, 404 outside the protocol, queries only for .info', () => {
    expect(parseGoPath('example.com/!m/@v/v1.0.0.zip')).toMatchObject({ kind: 'zip', module: 'example.com/M', version: 'v1.0.0', canonical: true });
    expect(parseGoPath('example.com/m/@v/master.info')).toMatchObject({ kind: 'info', canonical: false });
    expect(parseGoPath('example.com/m/@v/v2.0.0.info')).toMatchObject({ kind: 'info', canonical: false });
    expect(parseGoPath('sumdb/sum.golang.org/tile/8/1/x001/x234/567.p/12')).toMatchObject({ kind: 'sumdb', op: 'tile' });
    expect(parseGoPath('sumdb/sum.golang.org/tile/8/data/000')).toMatchObject({ kind: 'sumdb', op: 'tile' });
    const status = (p: string) => {
      try {
        parseGoPath(p);
        return 200;
      } catch (e) {
        return (e as { status: number }).status;
      }
    };
    expect(status('example.com/m/@v/master.zip')).toBe(400);
    expect(status('example.com/m/@v/v1.0.0+meta.mod')).toBe(400);
    expect(status('example.com/M/@v/list')).toBe(400);
    expect(status('example.com/m/@v/x/v1.0.0.zip')).toBe(404);
    expect(status('example.com/m')).toBe(404);
    expect(status('sumdb/Sum.golang.org/latest')).toBe(400);
    expect(status('sumdb/sum.golang.org/lookup/example.com/m@master')).toBe(400);
  });

  it('reads the module line of a go.mod', () => {
    expect(goModModulePath('// comment\nmodule example.com/m // trailing\n\ngo 1.19\n')).toBe('example.com/m');
    expect(goModModulePath('module "example.com/m"\n')).toBe('example.com/m');
    expect(goModModulePath('module `example.com/m`\n')).toBe('example.com/m');
    expect(goModModulePath('go 1.19\n')).toBeNull();
  });
});
