import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIVER_SETS, createTrio, startTestApp, stopAll, type TestApp } from './helpers/app.js';
import { hashGet, raw } from './helpers/http.js';
import { serverModeAvailable } from './helpers/services.js';
import { startVerdaccio, type Verdaccio } from './helpers/verdaccio.js';

const run = promisify(execFile);
const NPM = process.env.NPM_BIN ?? 'npm';

interface Result {
  code: number;
  /** stdout and stderr */
  out: string;
  stdout: string;
}

describe.each(DRIVER_SETS)('npm repositories with the npm client [$name]', (drivers) => {
  const skip = drivers.db === 'postgres' && !serverModeAvailable();
  let t: TestApp;
  let up: Verdaccio;
  let work: string;

  /** npm with its own config, cache and token for `registry` (never the user's ~/.npmrc). */
  async function npm(registry: string, token: string | undefined, args: string[], cwd = work): Promise<Result> {
    const rc = join(work, `npmrc-${Math.random().toString(36).slice(2)}`);
    const host = registry.replace(/^https?:/, '');
    await writeFile(rc, `registry=${registry}\n${token ? `${host}:_authToken=${token}\n` : ''}audit=false\nfund=false\nupdate-notifier=false\n`);
    try {
      const r = await run(NPM, [...args, '--userconfig', rc, '--cache', join(work, 'cache'), '--registry', registry], { cwd, env: { ...process.env, npm_config_loglevel: 'warn' }, maxBuffer: 32 * 1024 * 1024 });
      return { code: 0, out: r.stdout + r.stderr, stdout: r.stdout };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}`, stdout: e.stdout ?? '' };
    }
  }
  const ok = (r: Result) => {
    if (r.code !== 0) throw new Error(`npm failed:\n${r.out}`);
    return r;
  };

  async function pkgDir(name: string, version: string, extra: Record<string, unknown> = {}): Promise<string> {
    const dir = await mkdtemp(join(work, 'pkg-'));
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name, version, main: 'index.js', ...extra }));
    await writeFile(join(dir, 'index.js'), `module.exports = ${JSON.stringify(`${name}@${version}`)};\n`);
    return dir;
  }
  const reg = (repo: string) => `${t.url}/${repo}/`;

  beforeAll(async () => {
    if (skip) return;
    work = await mkdtemp(join(tmpdir(), 'aa-npm-'));
    await mkdir(join(work, 'cache'));
    up = await startVerdaccio();
    for (const [name, v] of [['up-lib', '1.0.0'], ['up-lib', '1.1.0'], ['@up/scoped', '2.0.0'], ['corrupt-me', '1.0.0']] as const) {
      ok(await npm(`${up.url}/`, up.token, ['publish', await pkgDir(name, v)]));
    }
    t = await startTestApp({ engine: 'node', drivers });
    await createTrio(t, 'npm', 'npm', 'npm', up.url);
  }, 120_000);

  afterAll(() => stopAll(t, up, work));

  it.skipIf(skip)('npm publish to a local repository (scoped and unscoped); a republish is refused; whoami', async () => {
    ok(await npm(reg('npm-local'), t.token, ['publish', await pkgDir('my-lib', '1.0.0')]));
    ok(await npm(reg('npm-local'), t.token, ['publish', await pkgDir('my-lib', '1.1.0')]));
    ok(await npm(reg('npm-local'), t.token, ['publish', await pkgDir('@team/tool', '0.1.0')]));
    const again = await npm(reg('npm-local'), t.token, ['publish', await pkgDir('my-lib', '1.0.0')]);
    expect(again.code).not.toBe(0);
    // npm checks the packument first and refuses itself; the server's own answer would be a 409.
    expect(again.out).toMatch(/cannot publish over the previously published versions|409/i);
    expect(ok(await npm(reg('npm-local'), t.token, ['whoami'])).stdout.trim()).toBe('admin');
    expect((await npm(reg('npm-local'), 'wrong', ['publish', await pkgDir('my-lib', '9.0.0')])).code).not.toBe(0);
    const view = JSON.parse(ok(await npm(reg('npm-local'), undefined, ['view', 'my-lib', '--json'])).stdout) as { version: string; 'dist-tags': Record<string, string>; dist: { tarball: string } };
    expect(view['dist-tags'].latest).toBe('1.1.0');
    expect(view.dist.tarball).toBe(`${t.url}/npm-local/my-lib/-/my-lib-1.1.0.tgz`);
    const scoped = JSON.parse(ok(await npm(reg('npm-local'), undefined, ['view', '@team/tool', '--json'])).stdout) as { dist: { tarball: string } };
    expect(scoped.dist.tarball).toBe(`${t.url}/npm-local/@team/tool/-/tool-0.1.0.tgz`);
  });

  it.skipIf(skip)('the server itself refuses a republish (409, npm-readable) and an update without versions; legacy login takes the token', async () => {
    const tgz = Buffer.from('same version again');
    const put = (path: string, body: unknown) => raw(t.url, 'PUT', path, { headers: { ...t.auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const again = await put('/npm-local/my-lib', {
      name: 'my-lib',
      versions: { '1.0.0': { name: 'my-lib', version: '1.0.0', dist: { shasum: createHash('sha1').update(tgz).digest('hex'), tarball: 'x' } } },
      _attachments: { 'my-lib-1.0.0.tgz': { data: tgz.toString('base64'), length: tgz.length } },
    });
    expect(again.status).toBe(409);
    expect(again.json()).toMatchObject({ code: 'VERSION_EXISTS' });
    expect(again.json().error).toMatch(/my-lib@1\.0\.0 is already published/);
    const noVersions = await put('/npm-local/my-lib/-rev/1-x', { name: 'my-lib', 'dist-tags': {} });
    expect(noVersions.status).toBe(400);
    expect((await raw(t.url, 'GET', '/npm-local/my-lib')).json().versions['1.0.0']).toBeDefined();
    expect((await put('/npm-local/my-lib', 'not an object')).status).toBe(400);
    const login = (password: string) => raw(t.url, 'PUT', '/npm-local/-/user/org.couchdb.user:someone', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'someone', password }) });
    expect((await login('wrong')).status).toBe(401);
    const good = await login(t.token);
    expect(good.status).toBe(201);
    expect(good.json().token).toBe(t.token);
    expect((await raw(t.url, 'PUT', '/npm-local/-/user/org.couchdb.user:x', { body: '{' })).status).toBe(400);
  });

  it.skipIf(skip)('dist-tag add / ls / rm, deprecate, unpublish a version', async () => {
    ok(await npm(reg('npm-local'), t.token, ['dist-tag', 'add', 'my-lib@1.0.0', 'stable']));
    expect(ok(await npm(reg('npm-local'), t.token, ['dist-tag', 'ls', 'my-lib'])).out).toMatch(/stable: 1\.0\.0/);
    ok(await npm(reg('npm-local'), t.token, ['dist-tag', 'rm', 'my-lib', 'stable']));
    expect(ok(await npm(reg('npm-local'), t.token, ['dist-tag', 'ls', 'my-lib'])).out).not.toMatch(/stable/);
    ok(await npm(reg('npm-local'), t.token, ['deprecate', 'my-lib@1.0.0', 'use 1.1']));
    const doc = JSON.parse((await raw(t.url, 'GET', '/npm-local/my-lib')).body.toString()) as { versions: Record<string, { deprecated?: string }> };
    expect(doc.versions['1.0.0']!.deprecated).toBe('use 1.1');
    ok(await npm(reg('npm-local'), t.token, ['publish', await pkgDir('my-lib', '1.2.0-beta.1'), '--tag', 'next']));
    ok(await npm(reg('npm-local'), t.token, ['unpublish', 'my-lib@1.2.0-beta.1']));
    const after = JSON.parse((await raw(t.url, 'GET', '/npm-local/my-lib')).body.toString()) as { versions: Record<string, unknown>; 'dist-tags': Record<string, string> };
    expect(Object.keys(after.versions).sort()).toEqual(['1.0.0', '1.1.0']);
    expect(after['dist-tags'].next).toBeUndefined();
    expect((await raw(t.url, 'GET', '/npm-local/my-lib/-/my-lib-1.2.0-beta.1.tgz')).status).toBe(404);
    // The whole package.
    ok(await npm(reg('npm-local'), t.token, ['publish', await pkgDir('gone-lib', '1.0.0')]));
    ok(await npm(reg('npm-local'), t.token, ['publish', await pkgDir('gone-lib', '1.0.1')]));
    ok(await npm(reg('npm-local'), t.token, ['unpublish', 'gone-lib', '--force']));
    expect((await raw(t.url, 'GET', '/npm-local/gone-lib')).status).toBe(404);
    expect((await raw(t.url, 'GET', '/npm-local/gone-lib/-/gone-lib-1.0.0.tgz')).status).toBe(404);
    expect((await npm(reg('npm-local'), undefined, ['view', 'gone-lib'])).code).not.toBe(0);
  });

  it.skipIf(skip)('dist-tags and view through the virtual (writes land in deploy_to) and the remote', async () => {
    ok(await npm(reg('npm'), t.token, ['dist-tag', 'add', '@team/tool@0.1.0', 'beta']));
    expect(ok(await npm(reg('npm'), t.token, ['dist-tag', 'ls', '@team/tool'])).out).toMatch(/beta: 0\.1\.0/);
    expect(ok(await npm(reg('npm-local'), t.token, ['dist-tag', 'ls', '@team/tool'])).out).toMatch(/beta: 0\.1\.0/);
    ok(await npm(reg('npm'), t.token, ['dist-tag', 'rm', '@team/tool', 'beta']));
    expect(ok(await npm(reg('npm'), t.token, ['dist-tag', 'ls', '@team/tool'])).out).not.toMatch(/beta/);
    expect(ok(await npm(reg('npm-remote'), undefined, ['dist-tag', 'ls', 'up-lib'])).out).toMatch(/latest: 1\.1\.0/);
    expect(ok(await npm(reg('npm'), undefined, ['dist-tag', 'ls', '@up/scoped'])).out).toMatch(/latest: 2\.0\.0/);
    const dt = await raw(t.url, 'PUT', '/npm-remote/-/package/up-lib/dist-tags/x', { headers: { ...t.auth, 'content-type': 'application/json' }, body: '"1.0.0"' });
    expect(dt.status).toBe(405);
    const view = JSON.parse(ok(await npm(reg('npm'), undefined, ['view', 'up-lib', '--json'])).stdout) as { versions: string[]; dist: { tarball: string } };
    expect(view.versions).toEqual(['1.0.0', '1.1.0']);
    expect(view.dist.tarball).toBe(`${t.url}/npm/up-lib/-/up-lib-1.1.0.tgz`);
  });

  it.skipIf(skip)('bad publishes are a clear 400 and store nothing', async () => {
    const tgz = Buffer.from('not really a tarball');
    const doc = (name: string, integrityOf: Buffer) => ({
      _id: name,
      name,
      'dist-tags': { latest: '3.0.0' },
      versions: { '3.0.0': { name, version: '3.0.0', dist: { integrity: `sha512-${createHash('sha512').update(integrityOf).digest('base64')}`, tarball: 'x' } } },
      _attachments: { [`${name}-3.0.0.tgz`]: { content_type: 'application/octet-stream', data: tgz.toString('base64'), length: tgz.length } },
    });
    const put = (path: string, body: unknown) => raw(t.url, 'PUT', path, { headers: { ...t.auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const mismatch = await put('/npm-local/bad-lib', doc('bad-lib', Buffer.from('other bytes')));
    expect(mismatch.status).toBe(400);
    expect(mismatch.json().code).toBe('INTEGRITY_MISMATCH');
    const wrongName = await put('/npm-local/bad-lib', doc('other-lib', tgz));
    expect(wrongName.status).toBe(400);
    expect(wrongName.json().code).toBe('NAME_MISMATCH');
    expect((await raw(t.url, 'GET', '/npm-local/bad-lib')).status).toBe(404);
  });

  it.skipIf(skip)('the remote rewrites tarball URLs, verifies tarballs against the upstream integrity, caches them', async () => {
    const doc = JSON.parse((await raw(t.url, 'GET', '/npm-remote/up-lib')).body.toString()) as { versions: Record<string, { dist: { tarball: string } }> };
    expect(doc.versions['1.1.0']!.dist.tarball).toBe(`${t.url}/npm-remote/up-lib/-/up-lib-1.1.0.tgz`);
    const abbreviated = await raw(t.url, 'GET', '/npm-remote/@up%2fscoped', { headers: { accept: 'application/vnd.npm.install-v1+json' } });
    expect(abbreviated.headers['content-type']).toContain('application/vnd.npm.install-v1+json');
    expect(JSON.parse(abbreviated.body.toString()).versions['2.0.0'].dist.tarball).toBe(`${t.url}/npm-remote/@up/scoped/-/scoped-2.0.0.tgz`);
    const plain = await raw(t.url, 'GET', '/npm-remote/@up/scoped');
    expect(plain.status).toBe(200);
    expect(plain.json().versions['2.0.0'].dist.tarball).toBe(`${t.url}/npm-remote/@up/scoped/-/scoped-2.0.0.tgz`);
    // Only tarballs a packument lists are fetched.
    expect((await raw(t.url, 'GET', '/npm-remote/up-lib/-/up-lib-9.9.9.tgz')).status).toBe(404);
    const tgz = await hashGet(t.url, '/npm-remote/up-lib/-/up-lib-1.0.0.tgz');
    expect(tgz.status).toBe(200);
    expect(tgz.complete).toBe(true);
    // Corrupt a tarball in Verdaccio's storage after its packument recorded the integrity.
    expect((await raw(t.url, 'GET', '/npm-remote/corrupt-me')).status).toBe(200);
    const dir = join(up.storage, 'corrupt-me');
    const file = (await readdir(dir)).find((f) => f.endsWith('.tgz'))!;
    await writeFile(join(dir, file), Buffer.concat([await readFile(join(dir, file)), Buffer.from('tampered')]));
    for (let i = 0; i < 2; i++) {
      const r = await hashGet(t.url, '/npm-remote/corrupt-me/-/corrupt-me-1.0.0.tgz');
      expect(r.status === 502 || !r.complete).toBe(true);
      expect(r.headers['x-artifact-source']).not.toBe('cache');
    }
  });

  it.skipIf(skip)('npm install from local, remote and a virtual over both (scoped included), and publish through the virtual', async () => {
    const project = await mkdtemp(join(work, 'proj-'));
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, dependencies: { 'my-lib': '^1.0.0', 'up-lib': '^1.0.0', '@up/scoped': '2.0.0', '@team/tool': '0.1.0' } }));
    ok(await npm(reg('npm'), t.token, ['install', '--no-audit', '--no-fund'], project));
    const req = async (m: string) => (await run(process.execPath, ['-e', `console.log(require(${JSON.stringify(m)}))`], { cwd: project })).stdout.trim();
    expect(await req('my-lib')).toBe('my-lib@1.1.0');
    expect(await req('up-lib')).toBe('up-lib@1.1.0');
    expect(await req('@up/scoped')).toBe('@up/scoped@2.0.0');
    const lock = JSON.parse(await readFile(join(project, 'package-lock.json'), 'utf8')) as { packages: Record<string, { integrity?: string }> };
    expect(lock.packages['node_modules/up-lib']!.integrity).toMatch(/^sha512-/);
    // The virtual's merged packument sends clients back through the virtual.
    const merged = JSON.parse((await raw(t.url, 'GET', '/npm/up-lib')).body.toString()) as { versions: Record<string, { dist: { tarball: string } }> };
    expect(merged.versions['1.1.0']!.dist.tarball).toBe(`${t.url}/npm/up-lib/-/up-lib-1.1.0.tgz`);
    // Remote alone, a fresh project.
    const p2 = await mkdtemp(join(work, 'proj-'));
    await writeFile(join(p2, 'package.json'), JSON.stringify({ name: 'app2', version: '1.0.0', private: true, dependencies: { 'up-lib': '1.0.0' } }));
    // With audit on: the advisory endpoints answer 404 and npm only warns.
    const audited = ok(await npm(reg('npm-remote'), undefined, ['install', '--audit', '--no-fund', '--loglevel', 'http'], p2));
    expect(audited.out).toMatch(/POST 404 \S+\/npm-remote\/-\/npm\/v1\/security\/advisories\/bulk/);
    expect(await (async () => (await run(process.execPath, ['-e', 'console.log(require("up-lib"))'], { cwd: p2 })).stdout.trim())()).toBe('up-lib@1.0.0');
    // Publishing to the virtual lands in its deploy target.
    ok(await npm(reg('npm'), t.token, ['publish', await pkgDir('via-virtual', '1.0.0')]));
    expect((await raw(t.url, 'GET', '/npm-local/via-virtual')).status).toBe(200);
  });
});
