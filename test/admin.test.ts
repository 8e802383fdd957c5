import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIVER_SETS, ENGINES, startTestApp, type TestApp } from './helpers/app.js';
import { raw } from './helpers/http.js';

const json = (t: TestApp, method: string, path: string, body?: unknown, headers: Record<string, string> = t.auth) =>
  raw(t.url, method, path, { headers: { ...headers, 'content-type': 'application/json' }, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });

describe.each(ENGINES)('admin API [%s]', (engine) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ engine, drivers: DRIVER_SETS[0]! });
  });
  afterAll(async () => t?.stop());

  it('creates, reads, lists, patches and deletes repositories', async () => {
    const c = await json(t, 'POST', '/api/v2/repositories', {
      name: 'up1',
      package_type: 'generic',
      repo_type: 'remote',
      upstream: { url: 'http://127.0.0.1:1/files', username: 'u', password: 'secret' },
      settings: { mutable_ttl_seconds: 60 },
    });
    expect(c.status).toBe(201);
    expect(c.headers.location).toBe('/api/v2/repositories/up1');
    expect(c.json()).toMatchObject({ name: 'up1', repo_type: 'remote', upstream: { url: 'http://127.0.0.1:1/files', username: 'u', has_credentials: true } });
    expect(c.body.toString()).not.toContain('secret');
    await json(t, 'POST', '/api/v2/repositories', { name: 'loc1', package_type: 'generic', repo_type: 'local' });
    const v = await json(t, 'POST', '/api/v2/repositories', { name: 'virt1', package_type: 'generic', repo_type: 'virtual', members: ['loc1', 'up1'], settings: { deploy_to: 'loc1' } });
    expect(v.status).toBe(201);
    const list = await raw(t.url, 'GET', '/api/v2/repositories');
    expect(list.json().repositories.map((r: { name: string }) => r.name)).toEqual(expect.arrayContaining(['up1', 'loc1', 'virt1']));
    const p = await json(t, 'PATCH', '/api/v2/repositories/up1', { upstream: { url: 'http://127.0.0.1:2/' }, settings: { blocklist: ['*.exe'] } });
    expect(p.status).toBe(200);
    expect(p.json()).toMatchObject({ upstream: { url: 'http://127.0.0.1:2', has_credentials: true }, settings: { mutable_ttl_seconds: 60, blocklist: ['*.exe'] } });
    expect((await raw(t.url, 'GET', '/api/v2/repositories/up1')).json().settings.blocklist).toEqual(['*.exe']);
    // A member cannot be deleted while a virtual repository uses it.
    const inUse = await raw(t.url, 'DELETE', '/api/v2/repositories/loc1', { headers: t.auth });
    expect(inUse.status).toBe(409);
    expect(inUse.json().error.code).toBe('REPO_IN_USE');
    expect((await raw(t.url, 'DELETE', '/api/v2/repositories/virt1', { headers: t.auth })).status).toBe(204);
    expect((await raw(t.url, 'DELETE', '/api/v2/repositories/loc1', { headers: t.auth })).status).toBe(204);
    expect((await raw(t.url, 'GET', '/api/v2/repositories/loc1')).status).toBe(404);
    const dup = await json(t, 'POST', '/api/v2/repositories', { name: 'up1', package_type: 'generic', repo_type: 'local' });
    expect(dup.status).toBe(409);
  });

  it('rejects invalid definitions with 400 and a field', async () => {
    const cases: Array<[unknown, string]> = [
      [{ name: 'x', package_type: 'nosuch', repo_type: 'local' }, 'package_type'],
      [{ name: 'x', package_type: 'generic', repo_type: 'weird' }, 'repo_type'],
      [{ name: 'Bad Name', package_type: 'generic', repo_type: 'local' }, 'name'],
      [{ name: 'api', package_type: 'generic', repo_type: 'local' }, 'name'],
      [{ name: 'v2', package_type: 'generic', repo_type: 'local' }, 'name'],
      [{ name: 'x', package_type: 'generic', repo_type: 'remote' }, 'upstream'],
      [{ name: 'x', package_type: 'generic', repo_type: 'remote', upstream: { url: 'ftp://a' } }, 'upstream.url'],
      [{ name: 'x', package_type: 'generic', repo_type: 'remote', upstream: { url: 'not a url' } }, 'upstream.url'],
      [{ name: 'x', package_type: 'generic', repo_type: 'virtual', members: ['missing'] }, 'members'],
      [{ name: 'x', package_type: 'generic', repo_type: 'local', settings: { nosuch: 1 } }, 'settings.nosuch'],
      [{ name: 'x', package_type: 'generic', repo_type: 'local', settings: { mutable_ttl_seconds: -1 } }, 'settings.mutable_ttl_seconds'],
      [{ name: 'x', package_type: 'generic', repo_type: 'local', extra: true }, 'extra'],
      [[1, 2], ''],
    ];
    for (const [def, field] of cases) {
      const r = await json(t, 'POST', '/api/v2/repositories', def);
      expect(r.status, JSON.stringify(def)).toBe(400);
      expect(r.json().error.code).toBe('INVALID_REPOSITORY');
      if (field) expect(r.json().error.message).toContain(field);
    }
  });

  it('a virtual repository cannot contain itself', async () => {
    const r = await json(t, 'POST', '/api/v2/repositories', { name: 'selfish', package_type: 'generic', repo_type: 'virtual', members: ['selfish'] });
    expect(r.status).toBe(400);
  });

  it('malformed JSON is 400 MALFORMED_JSON; writes without a token are 401', async () => {
    const bad = await json(t, 'POST', '/api/v2/repositories', '{"name": ');
    expect(bad.status).toBe(400);
    expect(bad.json().error.code).toBe('MALFORMED_JSON');
    const noauth = await json(t, 'POST', '/api/v2/repositories', { name: 'z', package_type: 'generic', repo_type: 'local' }, {});
    expect(noauth.status).toBe(401);
    const wrong = await json(t, 'DELETE', '/api/v2/repositories/up1', undefined, { authorization: 'Bearer wrong' });
    expect(wrong.status).toBe(401);
  });

  it('health and metrics', async () => {
    const h = await raw(t.url, 'GET', '/health');
    expect(h.status).toBe(200);
    expect(h.json()).toMatchObject({ status: 'ok', checks: { database: { ok: true }, storage: { ok: true }, cache: { ok: true } } });
    const m = await raw(t.url, 'GET', '/metrics');
    expect(m.status).toBe(200);
    expect(m.body.toString()).toContain('artifactapi_http_requests_total{');
  });

  it('metrics: the event loop\'s delays, a stall counted in its bucket', async () => {
    const count = (text: string, le: string) => Number(new RegExp(`^nodejs_eventloop_delay_seconds_bucket\\{le="${le.replace('+', '\\+')}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
    const before = (await raw(t.url, 'GET', '/metrics')).body.toString();
    // The test app runs in this process: blocking this thread blocks the server's event loop.
    const until = performance.now() + 150;
    while (performance.now() < until);
    await new Promise((r) => setTimeout(r, 50));
    const after = (await raw(t.url, 'GET', '/metrics')).body.toString();
    expect(count(after, '+Inf')).toBeGreaterThan(count(before, '+Inf'));
    // Samples over 100 ms: those not in the 0.1 bucket (the vitest worker may add a stall of its own).
    const over = (text: string) => count(text, '+Inf') - count(text, '0.1');
    expect(over(after) - over(before)).toBeGreaterThanOrEqual(1);
  });

  it('unknown API paths are 404 JSON', async () => {
    const r = await raw(t.url, 'GET', '/api/v2/nothing');
    expect(r.status).toBe(404);
    expect(r.json().error.code).toBe('NOT_FOUND');
  });
});

describe('repositories declared in a YAML file', () => {
  let t: TestApp;
  afterAll(async () => t?.stop());

  it('are created at start, with ${VAR} expansion, and marked origin=config', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'aa-yaml-'));
    const file = join(dir, 'repos.yaml');
    await writeFile(
      file,
      `repositories:
  - name: yaml-local
    package_type: generic
    repo_type: local
  - name: yaml-virtual
    package_type: generic
    repo_type: virtual
    members: [yaml-local, yaml-remote]
    settings: { deploy_to: yaml-local }
  - name: yaml-remote
    package_type: generic
    repo_type: remote
    upstream: { url: "http://127.0.0.1:9/", password: "\${AA_TEST_SECRET}" }
`,
    );
    process.env.AA_TEST_SECRET = 's3cr3t';
    t = await startTestApp({ engine: 'uws', drivers: DRIVER_SETS[0]!, env: { ARTIFACTAPI_CONFIG: file } });
    const list = (await raw(t.url, 'GET', '/api/v2/repositories')).json().repositories as Array<Record<string, unknown>>;
    const names = list.map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining(['yaml-local', 'yaml-remote', 'yaml-virtual']));
    expect(list.find((r) => r.name === 'yaml-remote')).toMatchObject({ origin: 'config', upstream: { has_credentials: true } });
    const put = await raw(t.url, 'PUT', '/yaml-virtual/hello.txt', { headers: t.auth, body: 'hi' });
    expect(put.status).toBe(201);
    expect(put.json().repo).toBe('yaml-local');
  });
});

describe('generated admin token', () => {
  it('is created on first start (0600 file, stored hashed), works, and survives a restart', async () => {
    const { startApp } = await import('../src/app.js');
    const { loadConfig } = await import('../src/config.js');
    const { createLogger } = await import('../src/log.js');
    const { readFile, stat } = await import('node:fs/promises');
    const dataDir = await mkdtemp(join(tmpdir(), 'aa-token-'));
    const env = { PORT: '0', HOST: '127.0.0.1', ARTIFACTAPI_DATA_DIR: dataDir, ARTIFACTAPI_HASH_THREADS: '1' };
    const write = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    let app = await startApp(loadConfig(env), { log: createLogger('silent') });
    process.stderr.write = write;
    const file = join(dataDir, 'admin.token');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const token = (await readFile(file, 'utf8')).trim();
    expect(token.length).toBeGreaterThanOrEqual(40);
    const create = (tok: string, name: string) =>
      raw(app.url, 'POST', '/api/v2/repositories', { headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify({ name, package_type: 'generic', repo_type: 'local' }) });
    expect((await create(token, 'tok1')).status).toBe(201);
    expect((await create('x' + token, 'tok2')).status).toBe(401);
    // The database holds only a hash of it.
    const rows = await app.db.query<{ value: string }>('SELECT value FROM settings');
    expect(rows.some((r) => r.value.includes(token))).toBe(false);
    await app.stop(100);
    app = await startApp(loadConfig(env), { log: createLogger('silent') });
    expect((await create(token, 'tok3')).status).toBe(201);
    await app.stop(100);
  });
});
