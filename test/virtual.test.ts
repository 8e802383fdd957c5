import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIVER_SETS, ENGINES, startTestApp, type TestApp } from './helpers/app.js';
import { raw } from './helpers/http.js';
import { startNginx, type StaticUpstream } from './helpers/nginx.js';

describe.each(ENGINES)('virtual generic repository [%s]', (engine) => {
  let t: TestApp;
  let up: StaticUpstream;
  beforeAll(async () => {
    up = await startNginx();
    await writeFile(join(up.root, 'shared.txt'), 'from remote');
    await writeFile(join(up.root, 'remote-only.txt'), 'remote only');
    t = await startTestApp({ engine, drivers: DRIVER_SETS[0]! });
    await t.createRepo({ name: 'l1', package_type: 'generic', repo_type: 'local' });
    await t.createRepo({ name: 'l2', package_type: 'generic', repo_type: 'local' });
    await t.createRepo({ name: 'r1', package_type: 'generic', repo_type: 'remote', upstream: { url: up.url } });
    await t.createRepo({ name: 'v', package_type: 'generic', repo_type: 'virtual', members: ['l1', 'l2', 'r1'], settings: { deploy_to: 'l2' } });
    await t.createRepo({ name: 'v-nodeploy', package_type: 'generic', repo_type: 'virtual', members: ['l1'] });
    await raw(t.url, 'PUT', '/l1/shared.txt', { headers: t.auth, body: 'from l1' });
    await raw(t.url, 'PUT', '/l2/shared.txt', { headers: t.auth, body: 'from l2' });
    await raw(t.url, 'PUT', '/l2/dir/only-l2.txt', { headers: t.auth, body: 'l2' });
    await raw(t.url, 'PUT', '/l1/dir/only-l1.txt', { headers: t.auth, body: 'l1' });
  });
  afterAll(async () => {
    await t?.stop();
    await up?.stop();
  });

  it('the first member that has the path wins', async () => {
    expect((await raw(t.url, 'GET', '/v/shared.txt')).body.toString()).toBe('from l1');
    expect((await raw(t.url, 'GET', '/v/dir/only-l2.txt')).body.toString()).toBe('l2');
    const r = await raw(t.url, 'GET', '/v/remote-only.txt');
    expect(r.body.toString()).toBe('remote only');
    expect(r.headers['x-artifact-source']).toBe('remote');
    expect((await raw(t.url, 'GET', '/v/nowhere.txt')).status).toBe(404);
  });

  it('directory listings are merged across members', async () => {
    const l = await raw(t.url, 'GET', '/v/dir/');
    expect(l.status).toBe(200);
    expect(l.json().children.map((c: { name: string }) => c.name)).toEqual(['only-l1.txt', 'only-l2.txt']);
  });

  it('publishes go to the deploy target; without one they are refused clearly', async () => {
    const put = await raw(t.url, 'PUT', '/v/new.txt', { headers: t.auth, body: 'new' });
    expect(put.status).toBe(201);
    expect(put.json().repo).toBe('l2');
    expect((await raw(t.url, 'GET', '/l2/new.txt')).body.toString()).toBe('new');
    const refused = await raw(t.url, 'PUT', '/v-nodeploy/new.txt', { headers: t.auth, body: 'new' });
    expect(refused.status).toBe(405);
    expect(refused.json().error.code).toBe('NO_DEPLOY_TARGET');
  });

  it('a member whose upstream is down does not hide the others', async () => {
    await up.halt();
    try {
      expect((await raw(t.url, 'GET', '/v/dir/only-l2.txt')).status).toBe(200);
      expect((await raw(t.url, 'GET', '/v/never.txt')).status).toBe(404);
    } finally {
      await up.restart();
    }
  });
});
