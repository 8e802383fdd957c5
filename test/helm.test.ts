import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { parseYaml } from '../src/formats/helm/yaml.js';
import { DRIVER_SETS, startTestApp, type TestApp } from './helpers/app.js';
import { chartYamlOf, helmPull, loadIndex, packageChart } from './helpers/helm-charts.js';
import { hashGet, raw } from './helpers/http.js';
import { startNginx, type StaticUpstream } from './helpers/nginx.js';
import { serverModeAvailable } from './helpers/services.js';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
type Chart = Awaited<ReturnType<typeof packageChart>>;

describe.each(DRIVER_SETS)('helm chart repositories [$name]', (drivers) => {
  const skip = drivers.db === 'postgres' && !serverModeAvailable();
  let t: TestApp;
  let up: StaticUpstream;
  let work: string;
  const c: Record<string, Chart> = {};

  const put = (repo: string, file: string, body: Buffer, auth = true) => raw(t.url, 'PUT', `/${repo}/charts/${file}`, { headers: auth ? t.auth : {}, body });
  const cmPost = async (repo: string, chart: Buffer, query = '') => {
    const form = new FormData();
    form.set('chart', new Blob([chart]), 'upload.tgz');
    const r = await fetch(`${t.url}/${repo}/api/charts${query}`, { method: 'POST', headers: t.auth, body: form });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const index = async (repo: string) => {
    const r = await raw(t.url, 'GET', `/${repo}/index.yaml`);
    expect(r.status, r.body.toString()).toBe(200);
    return { text: r.body.toString(), doc: loadIndex(r.body.toString()) };
  };

  beforeAll(async () => {
    if (skip) return;
    work = await mkdtemp(join(tmpdir(), 'aa-helm-'));
    c.web1 = await packageChart(work, 'web', '1.9.0', {
      keywords: ['http', 'nginx'],
      home: 'https://example.com/web',
      sources: ['https://github.com/example/web'],
      maintainers: [{ name: 'Ops Team', email: 'ops@example.com' }],
      icon: 'https://example.com/icon.png',
      kubeVersion: '>=1.19.0-0',
      dependencies: [{ name: 'common', version: '2.x.x', repository: 'https://charts.example.com', condition: 'common.enabled', tags: ['base'] }],
      annotations: { category: 'Web', 'example.com/images': '- image: nginx:1.25\n' },
    });
    c.web2 = await packageChart(work, 'web', '1.10.0');
    c.webrc = await packageChart(work, 'web', '1.10.0-rc.1');
    c.lib = await packageChart(work, 'libchart', '0.1.0', { type: 'library', deprecated: true, appVersion: 1.1 });
    c.api = await packageChart(work, 'apichart', '3.0.0');
    c.api2 = await packageChart(work, 'apichart', '3.1.0');
    c.badver = await packageChart(work, 'badver', 'one.two');
    c.remote1 = await packageChart(work, 'remotechart', '1.0.0');
    c.remote2 = await packageChart(work, 'remotechart', '2.0.0');
    c.remote3 = await packageChart(work, 'remotechart', '3.0.0');
    c.bad = await packageChart(work, 'badchart', '1.0.0');
    // The same name and version as a remote chart, different bytes: the virtual shows the local one.
    c.shadow = await packageChart(work, 'remotechart', '1.0.0', { description: 'local shadow' });

    // The upstream: a static chart repository as `helm repo index` writes it (Go YAML style), one chart on an
    // absolute URL, one relative to the repository URL, one whose digest is wrong.
    up = await startNginx();
    await mkdir(join(up.root, 'stable', 'charts'), { recursive: true });
    await mkdir(join(up.root, 'dl'), { recursive: true });
    await copyFile(c.remote1.file, join(up.root, 'dl', 'remotechart-1.0.0.tgz'));
    await copyFile(c.remote2.file, join(up.root, 'stable', 'charts', 'remotechart-2.0.0.tgz'));
    await copyFile(c.remote3.file, join(up.root, 'stable', 'charts', 'remotechart-3.0.0.tgz'));
    await copyFile(c.bad.file, join(up.root, 'stable', 'charts', 'badchart-1.0.0.tgz'));
    await writeUpstreamIndex(false);

    t = await startTestApp({ engine: 'node', drivers });
    await t.createRepo({ name: 'charts', package_type: 'helm', repo_type: 'local' });
    await t.createRepo({ name: 'charts-remote', package_type: 'helm', repo_type: 'remote', upstream: { url: `${up.url}/stable` }, settings: { mutable_ttl_seconds: 1 } });
    await t.createRepo({ name: 'charts-all', package_type: 'helm', repo_type: 'virtual', members: ['charts', 'charts-remote'], settings: { deploy_to: 'charts' } });
  }, 120_000);

  async function writeUpstreamIndex(withV3: boolean) {
    const v3 = withV3
      ? `  - apiVersion: v2
    created: "2024-03-01T10:00:00.123456789Z"
    description: Third
    digest: ${c.remote3!.sha256}
    name: remotechart
    urls:
    - charts/remotechart-3.0.0.tgz
    version: 3.0.0
`
      : '';
    await writeFile(
      join(up.root, 'stable', 'index.yaml'),
      `apiVersion: v1
entries:
  badchart:
  - apiVersion: v2
    created: "2024-01-01T00:00:00Z"
    digest: ${'0'.repeat(64)}
    name: badchart
    urls:
    - charts/badchart-1.0.0.tgz
    version: 1.0.0
  remotechart:
${v3}  - annotations:
      images: |
        - name: app
          image: example/app:2
    apiVersion: v2
    appVersion: "2.0"
    created: "2024-02-01T10:00:00.123456789+01:00"
    description: A chart whose long description was folded by the Go YAML emitter onto
      a second line
    digest: ${c.remote2!.sha256}
    name: remotechart
    urls:
    - charts/remotechart-2.0.0.tgz
    version: 2.0.0
  - apiVersion: v2
    created: "2024-01-01T10:00:00Z"
    description: First
    digest: ${c.remote1!.sha256}
    name: remotechart
    urls:
    - ${up.url}/dl/remotechart-1.0.0.tgz
    version: 1.0.0
generated: "2024-02-01T10:00:00.5Z"
`,
    );
  }

  afterAll(async () => {
    await t?.stop();
    await up?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it.skipIf(skip)('an empty local repository serves a valid empty index (helm repo add works)', async () => {
    const { doc } = await index('charts');
    expect(doc.apiVersion).toBe('v1');
    expect(doc.entries).toEqual({});
  });

  it.skipIf(skip)('PUT uploads real chart archives; the index lists them newest first with their Chart.yaml fields; helm pull gets the bytes', async () => {
    for (const k of ['web1', 'web2', 'webrc', 'lib'] as const) {
      const r = await put('charts', `${k === 'lib' ? 'libchart-0.1.0' : `web-${k === 'web1' ? '1.9.0' : k === 'web2' ? '1.10.0' : '1.10.0-rc.1'}`}.tgz`, c[k]!.bytes);
      expect(r.status, r.body.toString()).toBe(201);
    }
    const { text, doc } = await index('charts');
    // Semver order, not string order: 1.10.0 > 1.10.0-rc.1 > 1.9.0.
    expect(doc.entries.web!.map((v) => v.version)).toEqual(['1.10.0', '1.10.0-rc.1', '1.9.0']);
    const web = doc.entries.web!.find((v) => v.version === '1.9.0')!;
    expect(web).toMatchObject({
      name: 'web',
      apiVersion: 'v2',
      appVersion: '1.0',
      type: 'application',
      description: 'The web chart',
      keywords: ['http', 'nginx'],
      home: 'https://example.com/web',
      sources: ['https://github.com/example/web'],
      maintainers: [{ name: 'Ops Team', email: 'ops@example.com' }],
      icon: 'https://example.com/icon.png',
      kubeVersion: '>=1.19.0-0',
      dependencies: [{ name: 'common', version: '2.x.x', repository: 'https://charts.example.com', condition: 'common.enabled', tags: ['base'] }],
      annotations: { category: 'Web', 'example.com/images': '- image: nginx:1.25\n' },
      digest: c.web1!.sha256,
      urls: ['charts/web-1.9.0.tgz'],
    });
    expect(doc.entries.libchart![0]).toMatchObject({ type: 'library', deprecated: true, appVersion: '1.1' });
    // Generated from upload times: the same bytes on every read (and every replica).
    expect((await index('charts')).text).toBe(text);
    // Our own fast parser reads it exactly like the yaml package does.
    expect(JSON.stringify(parseYaml(text))).toBe(JSON.stringify(YAML.parse(text, { schema: 'core', customTags: (tags) => tags.filter((x) => typeof x === 'string' || (x.tag !== 'tag:yaml.org,2002:int' && x.tag !== 'tag:yaml.org,2002:float')) })));

    const pulled = await helmPull(`${t.url}/charts`, 'web', '1.9.0');
    expect(pulled.url).toBe(`${t.url}/charts/charts/web-1.9.0.tgz`);
    expect(sha256(pulled.bytes)).toBe(c.web1!.sha256);
    // Without a trailing slash or with one, the repository URL resolves the same way.
    expect((await helmPull(`${t.url}/charts/`, 'web', '1.10.0')).url).toBe(`${t.url}/charts/charts/web-1.10.0.tgz`);
    const out = join(work, 'pulled-web.tgz');
    await writeFile(out, pulled.bytes);
    expect(chartYamlOf(out)).toMatchObject({ name: 'web', version: '1.9.0' });
  });

  it.skipIf(skip)('uploads are validated: version conflict, name mismatch, bad version, not a chart, auth', async () => {
    const again = await put('charts', 'web-1.9.0.tgz', c.web1!.bytes);
    expect(again.status).toBe(409);
    // The archive is web 1.10.0 but the file claims 2.0.0 / another name.
    expect((await put('charts', 'web-2.0.0.tgz', c.web2!.bytes)).status).toBe(400);
    expect((await put('charts', 'other-1.10.0.tgz', c.web2!.bytes)).status).toBe(400);
    const badVer = await put('charts', 'badver-one.two.tgz', c.badver!.bytes);
    expect(badVer.status).toBe(400);
    expect(badVer.json().error.message).toMatch(/not a semantic version/);
    const notGzip = await put('charts', 'junk-1.0.0.tgz', Buffer.from('not a tarball'));
    expect(notGzip.status).toBe(400);
    expect((await put('charts', 'web-1.9.0.zip', c.web1!.bytes)).status).toBe(400);
    expect((await raw(t.url, 'PUT', '/charts/web-1.9.0.tgz', { headers: t.auth, body: c.web1!.bytes })).status).toBe(400);
    expect((await put('charts', 'apichart-3.0.0.tgz', c.api!.bytes, false)).status).toBe(401);
    const { doc } = await index('charts');
    expect(Object.keys(doc.entries).sort()).toEqual(['libchart', 'web']);
  });

  it.skipIf(skip)('the ChartMuseum API: POST multipart and raw, list, show, delete', async () => {
    const r = await cmPost('charts', c.api!.bytes);
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ saved: true });
    const rawPost = await raw(t.url, 'POST', '/charts/api/charts', { headers: { ...t.auth, 'content-type': 'application/gzip' }, body: c.api2!.bytes });
    expect(rawPost.status).toBe(201);
    expect(rawPost.json()).toEqual({ saved: true });
    expect((await cmPost('charts', c.api!.bytes)).status).toBe(409);
    expect((await cmPost('charts', c.api!.bytes, '?force')).status).toBe(201);
    expect((await cmPost('charts', Buffer.from('garbage'))).status).toBe(400);

    const list = (await raw(t.url, 'GET', '/charts/api/charts')).json() as Record<string, Array<{ version: string; urls: string[] }>>;
    expect(Object.keys(list).sort()).toEqual(['apichart', 'libchart', 'web']);
    expect(list.apichart!.map((v) => v.version)).toEqual(['3.1.0', '3.0.0']);
    const one = await raw(t.url, 'GET', '/charts/api/charts/apichart');
    expect(one.json().map((v: { version: string }) => v.version)).toEqual(['3.1.0', '3.0.0']);
    const ver = await raw(t.url, 'GET', '/charts/api/charts/apichart/3.0.0');
    expect(ver.json()).toMatchObject({ name: 'apichart', version: '3.0.0', digest: c.api!.sha256, urls: ['charts/apichart-3.0.0.tgz'] });
    expect((await raw(t.url, 'GET', '/charts/api/charts/nothere')).status).toBe(404);

    const del = await raw(t.url, 'DELETE', '/charts/api/charts/apichart/3.0.0', { headers: t.auth });
    expect(del.status).toBe(200);
    expect(del.json()).toEqual({ deleted: true });
    expect((await raw(t.url, 'DELETE', '/charts/api/charts/apichart/3.0.0', { headers: t.auth })).status).toBe(404);
    expect((await raw(t.url, 'DELETE', '/charts/api/charts/apichart/3.1.0')).status).toBe(401);
    expect((await index('charts')).doc.entries.apichart!.map((v) => v.version)).toEqual(['3.1.0']);
    expect((await raw(t.url, 'GET', '/charts/charts/apichart-3.0.0.tgz')).status).toBe(404);
  });

  it.skipIf(skip)('remote: index rewritten through the repository, absolute and relative chart URLs, charts verified and cached', async () => {
    const { text, doc } = await index('charts-remote');
    expect(text).not.toContain(up.url);
    expect(doc.entries.remotechart!.map((v) => v.urls[0])).toEqual(['charts/remotechart-2.0.0.tgz', 'charts/remotechart-1.0.0.tgz']);
    // Everything else of the upstream entry is kept (multi-line strings included).
    expect(doc.entries.remotechart![0]).toMatchObject({
      appVersion: '2.0',
      description: 'A chart whose long description was folded by the Go YAML emitter onto a second line',
      annotations: { images: '- name: app\n  image: example/app:2\n' },
      created: '2024-02-01T10:00:00.123456789+01:00',
    });
    for (const [v, chart, upstreamPath] of [
      ['1.0.0', c.remote1!, '/dl/remotechart-1.0.0.tgz'],
      ['2.0.0', c.remote2!, '/stable/charts/remotechart-2.0.0.tgz'],
    ] as const) {
      const a = await helmPull(`${t.url}/charts-remote`, 'remotechart', v);
      expect(sha256(a.bytes)).toBe(chart.sha256);
      const b = await raw(t.url, 'GET', `/charts-remote/charts/remotechart-${v}.tgz`);
      expect(b.headers['x-artifact-source']).toBe('cache');
      expect(await up.countRequests(upstreamPath)).toBe(1);
    }
    // Only what the index names is ever fetched.
    expect((await raw(t.url, 'GET', '/charts-remote/charts/remotechart-9.9.9.tgz')).status).toBe(404);
    expect((await raw(t.url, 'PUT', '/charts-remote/charts/x-1.0.0.tgz', { headers: t.auth, body: c.api!.bytes })).status).toBe(405);
  });

  it.skipIf(skip)('remote: a chart whose bytes differ from the index digest is a 502 and is not cached', async () => {
    // Refused up front (502) or cut off before the last byte: never a complete 200, and never cached.
    for (let i = 0; i < 2; i++) {
      const r = await hashGet(t.url, '/charts-remote/charts/badchart-1.0.0.tgz');
      expect(r.status === 502 || !r.complete).toBe(true);
      expect(r.headers['x-artifact-source']).not.toBe('cache');
    }
    await expect(helmPull(`${t.url}/charts-remote`, 'badchart', '1.0.0')).rejects.toThrow();
    expect(await up.countRequests('/stable/charts/badchart-1.0.0.tgz')).toBe(3);
  });

  it.skipIf(skip)('virtual: merged index (first member wins per name+version), charts from the right member, uploads to the deploy target', async () => {
    expect((await put('charts', 'remotechart-1.0.0.tgz', c.shadow!.bytes)).status).toBe(201);
    const { doc } = await index('charts-all');
    expect(Object.keys(doc.entries).sort()).toEqual(['apichart', 'badchart', 'libchart', 'remotechart', 'web']);
    expect(doc.entries.remotechart!.map((v) => v.version)).toEqual(['2.0.0', '1.0.0']);
    expect(doc.entries.remotechart![1]!.digest).toBe(c.shadow!.sha256);
    expect(sha256((await helmPull(`${t.url}/charts-all`, 'remotechart', '1.0.0')).bytes)).toBe(c.shadow!.sha256);
    expect(sha256((await helmPull(`${t.url}/charts-all`, 'remotechart', '2.0.0')).bytes)).toBe(c.remote2!.sha256);
    expect(sha256((await helmPull(`${t.url}/charts-all`, 'web', '1.10.0')).bytes)).toBe(c.web2!.sha256);
    // Publishing through the virtual lands in its deploy target and shows at once.
    const fresh = await packageChart(work, 'viachart', '0.0.1');
    expect((await cmPost('charts-all', fresh.bytes)).status).toBe(201);
    expect((await index('charts')).doc.entries.viachart).toHaveLength(1);
    expect((await index('charts-all')).doc.entries.viachart![0]!.digest).toBe(fresh.sha256);
    const api = (await raw(t.url, 'GET', '/charts-all/api/charts')).json() as Record<string, unknown[]>;
    expect(Object.keys(api)).toContain('viachart');
  });

  it.skipIf(skip)('remote: a new upstream version appears after the TTL; the index is served stale while the upstream is down', async () => {
    await writeUpstreamIndex(true);
    await new Promise((r) => setTimeout(r, 1200));
    const { doc } = await index('charts-remote');
    expect(doc.entries.remotechart!.map((v) => v.version)).toEqual(['3.0.0', '2.0.0', '1.0.0']);
    // Through the virtual too (its merge is keyed by the members' bytes).
    expect((await index('charts-all')).doc.entries.remotechart!.map((v) => v.version)).toEqual(['3.0.0', '2.0.0', '1.0.0']);
    expect(sha256((await helmPull(`${t.url}/charts-all`, 'remotechart', '3.0.0')).bytes)).toBe(c.remote3!.sha256);
    await up.halt();
    try {
      await new Promise((r) => setTimeout(r, 1200));
      const stale = await index('charts-remote');
      expect(stale.doc.entries.remotechart).toHaveLength(3);
      // Cached charts keep working without the upstream.
      expect(sha256((await helmPull(`${t.url}/charts-remote`, 'remotechart', '2.0.0')).bytes)).toBe(c.remote2!.sha256);
    } finally {
      await up.restart();
    }
  });
});

describe('helm: large indexes', () => {
  let t: TestApp;
  let up: StaticUpstream;

  beforeAll(async () => {
    up = await startNginx();
    await mkdir(join(up.root, 'big'), { recursive: true });
    // ~10 MB, in the shape of a big public index (Go YAML style, folded descriptions, literal annotations).
    const parts = ['apiVersion: v1\nentries:\n'];
    for (let n = 0; n < 250; n++) {
      parts.push(`  chart${n}:\n`);
      for (let v = 80; v > 0; v--) {
        parts.push(`  - annotations:
      category: Infrastructure
      images: |
        - name: chart${n}
          image: docker.io/example/chart${n}:1.${v}.0-debian-12-r0
    apiVersion: v2
    appVersion: 1.${v}.0
    created: "2024-01-01T00:00:${String(v % 60).padStart(2, '0')}.000000000Z"
    dependencies:
    - name: common
      repository: oci://registry-1.docker.io/examplecharts
      tags:
      - example-common
      version: 2.x.x
    description: Chart number ${n} is a long description of what the chart does, long enough
      to be folded by the emitter.
    digest: ${sha256(`${n}-${v}`)}
    home: https://example.com/chart${n}
    maintainers:
    - name: Example, Inc.
      url: https://github.com/example/charts
    name: chart${n}
    urls:
    - https://charts.example.com/example/chart${n}-1.${v}.0.tgz
    version: 1.${v}.0
`);
      }
    }
    parts.push('generated: "2024-01-02T00:00:00Z"\n');
    await writeFile(join(up.root, 'big', 'index.yaml'), parts.join(''));
    t = await startTestApp({ engine: 'uws', drivers: DRIVER_SETS[0]! });
    await t.createRepo({ name: 'big-remote', package_type: 'helm', repo_type: 'remote', upstream: { url: `${up.url}/big` } });
    await t.createRepo({ name: 'big-local', package_type: 'helm', repo_type: 'local' });
    await t.createRepo({ name: 'big', package_type: 'helm', repo_type: 'virtual', members: ['big-local', 'big-remote'] });
  }, 60_000);

  afterAll(async () => {
    await t?.stop();
    await up?.stop();
  });

  it('a 10 MB upstream index is rewritten once; the virtual merge is built once and then served from cache', async () => {
    let t0 = Date.now();
    const first = await raw(t.url, 'GET', '/big-remote/index.yaml');
    const rewriteMs = Date.now() - t0;
    expect(first.status).toBe(200);
    expect(first.body.length).toBeGreaterThan(5_000_000);
    const doc = loadIndex(first.body.toString());
    expect(Object.keys(doc.entries)).toHaveLength(250);
    expect(doc.entries.chart7![0]!.urls).toEqual(['charts/chart7-1.80.0.tgz']);
    expect(first.body.toString()).not.toContain('charts.example.com');

    t0 = Date.now();
    const merged = await raw(t.url, 'GET', '/big/index.yaml');
    const mergeMs = Date.now() - t0;
    expect(merged.status).toBe(200);
    t0 = Date.now();
    const again = await raw(t.url, 'GET', '/big/index.yaml');
    const cachedMs = Date.now() - t0;
    expect(again.body.equals(merged.body)).toBe(true);
    expect((parseYaml(merged.body.toString()) as { entries: Record<string, unknown[]> }).entries.chart249).toHaveLength(80);
    console.log(`helm large index: rewrite ${rewriteMs} ms, first merge ${mergeMs} ms, cached merge ${cachedMs} ms (${(merged.body.length / 1e6).toFixed(1)} MB)`);
    expect(cachedMs).toBeLessThan(mergeMs);
  }, 120_000);
});
