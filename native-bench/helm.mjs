#!/usr/bin/env node
// A Helm virtual repository over two members of N entries each: a remote whose upstream is a static index.yaml
// (nginx), and a local filled by N real chart uploads. Measures the merged index.yaml cold (first GET after a
// change) and warm (unchanged: one client, then a few concurrent ones), the server's RSS around the cold merge, and
// for reference the same GET from nginx directly (the ceiling) and from each member alone.
// Writes native-bench/results/helm.md.   node native-bench/helm.mjs [entries per member = 10000]
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import YAML from 'yaml';
import { writeTar } from '../dist/formats/alpine/tar-writer.js';
import { req } from './lib/http.mjs';
import { cpuSeconds, freePort, median, rssMiB, watched } from './lib/proc.mjs';
import { startArtifactapi, TOKEN } from './lib/servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const ENTRIES = Number(process.argv[2] ?? 10_000);
const VERSIONS = 20; // per chart: ENTRIES / VERSIONS charts per member
const CHARTS = Math.ceil(ENTRIES / VERSIONS);
const REPS = 3;
const UPLOAD_CLIENTS = 8;
const WARM_GETS = 10;
const LOAD_CLIENTS = 4;
const LOAD_SECONDS = 5;
const MB = 1e6;
const work = mkdtempSync(join(tmpdir(), 'aa-bench-helm-'));
chmodSync(work, 0o755);
const log = (...a) => console.error('[helm]', ...a);

// ---- fixtures: chart metadata shaped like a large public repository's (Bitnami's index: ~1.5 KB an entry) ----

/** Chart.yaml fields of chart `i` version `v` (newest is v = VERSIONS - 1). */
function chartMeta(prefix, i, v) {
  const name = `${prefix}${i}`;
  return {
    annotations: { category: ['Database', 'Infrastructure', 'Analytics', 'CMS'][i % 4], licenses: 'Apache-2.0', 'artifacthub.io/changes': `- kind: changed\n  description: Update dependencies of ${name}\n` },
    apiVersion: 'v2',
    appVersion: `${2 + (i % 5)}.${v}.${i % 7}`,
    dependencies: [
      { name: 'common', repository: 'oci://registry-1.docker.io/examplecharts', tags: ['example-common'], version: '2.x.x' },
      { condition: 'redis.enabled', name: 'redis', repository: 'oci://registry-1.docker.io/examplecharts', version: '18.x.x' },
    ],
    description: `${name} is a chart for an application that does many things; this description is as long as the ones public repositories carry, so that the index has a realistic size (chart ${i}, version ${v}).`,
    home: `https://example.com/charts/${name}`,
    icon: `https://example.com/charts/${name}/icon.svg`,
    keywords: [name, 'database', 'cluster', 'http'],
    maintainers: [{ name: 'Example, Inc.', url: 'https://github.com/example/charts' }, { email: 'ops@example.com', name: 'Ops Team' }],
    name,
    sources: [`https://github.com/example/charts/tree/main/${name}`, `https://github.com/example/${name}`],
    type: 'application',
    version: `${1 + (v >> 2)}.${v % 4}.${i % 3}`,
  };
}

/** The upstream index.yaml as `helm repo index` writes it: entries by name, newest first, absolute chart URLs. */
function upstreamIndex() {
  const entries = {};
  for (let i = 0; i < CHARTS; i++) {
    const list = [];
    for (let v = VERSIONS - 1; v >= 0; v--) {
      const m = chartMeta('upstream-chart', i, v);
      const created = new Date(Date.UTC(2024, 0, 1) + (i * VERSIONS + v) * 60_000).toISOString();
      list.push({ ...m, created, digest: createHash('sha256').update(`${m.name}-${m.version}`).digest('hex'), urls: [`https://charts.example.com/${m.name}-${m.version}.tgz`] });
    }
    entries[`upstream-chart${i}`] = list;
  }
  return YAML.stringify({ apiVersion: 'v1', entries, generated: '2024-06-01T00:00:00Z' }, { indentSeq: false, lineWidth: 80 });
}

/** A packaged chart as `helm package` lays it out: `{name}/Chart.yaml`, values.yaml and a template, gzipped tar. */
function packageChart(meta) {
  const dir = meta.name;
  const files = [
    { name: `${dir}/Chart.yaml`, body: Buffer.from(YAML.stringify(meta)) },
    { name: `${dir}/values.yaml`, body: Buffer.from(`replicaCount: 1\nimage:\n  repository: example/${dir}\n  tag: "${meta.appVersion}"\n`) },
    { name: `${dir}/templates/deployment.yaml`, body: Buffer.from('apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n') },
  ];
  return gzipSync(writeTar(files.map((f) => ({ ...f, mtime: 1_700_000_000 })), true));
}

// ---- HTTP ----

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: UPLOAD_CLIENTS });

/** PUT one chart (over a kept-alive connection by default); resolves with the status. */
function putChart(port, repo, meta, agent = keepAlive) {
  const body = packageChart(meta);
  return new Promise((resolve, reject) => {
    const r = http.request(
      { host: '127.0.0.1', port, method: 'PUT', path: `/${repo}/charts/${meta.name}-${meta.version}.tgz`, agent, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/gzip', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    r.end(body);
  });
}

/** Upload every chart of `metas`, `clients` at a time; throws on the first refusal. */
async function uploadAll(port, repo, metas, clients) {
  let next = 0;
  const worker = async () => {
    while (next < metas.length) {
      const m = metas[next++];
      const status = await putChart(port, repo, m);
      if (status !== 201) throw new Error(`upload ${m.name}-${m.version}: HTTP ${status}`);
    }
  };
  await Promise.all(Array.from({ length: clients }, worker));
}

async function get(port, path) {
  const t0 = performance.now();
  const r = await req(port, 'GET', path).catch((err) => {
    throw new Error(`GET ${path} on port ${port}: ${err.message} after ${(performance.now() - t0).toFixed(0)} ms`);
  });
  if (r.status !== 200) throw new Error(`GET ${path}: HTTP ${r.status}`);
  return r;
}

/** Entries in an index.yaml, read by an independent parser (the `yaml` package). */
async function countEntries(url) {
  const doc = YAML.parse(await (await fetch(url)).text(), { maxAliasCount: -1 });
  return { charts: Object.keys(doc.entries).length, versions: Object.values(doc.entries).reduce((n, l) => n + l.length, 0) };
}

/** `clients` loops of GET for `seconds`: requests/s, and the peak RSS of process `pid` meanwhile. */
async function concurrentGets(port, path, pid, clients, seconds) {
  let n = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  const w = await watched(pid, () =>
    Promise.all(
      Array.from({ length: clients }, async () => {
        while (performance.now() < end) {
          await get(port, path);
          n++;
        }
      }),
    ),
  );
  return { rps: n / ((performance.now() - t0) / 1000), peakRss: w.peakRss };
}

// ---- run ----

const results = new Map(); // figure → { unit, values: number[] }
const add = (figure, unit, v) => {
  if (!results.has(figure)) results.set(figure, { unit, values: [] });
  results.get(figure).values.push(v);
};

log(`generating the upstream index (${CHARTS} charts × ${VERSIONS} versions)`);
const www = join(work, 'www');
mkdirSync(join(www, 'upstream'), { recursive: true });
const upstreamYaml = upstreamIndex();
writeFileSync(join(www, 'upstream', 'index.yaml'), upstreamYaml);
chmodSync(www, 0o755);

const ngPort = await freePort();
writeFileSync(
  join(work, 'nginx.conf'),
  `daemon off; master_process off; worker_processes 1; pid ${work}/nginx.pid; error_log ${work}/nginx.err warn;
events {} http { access_log off; client_body_temp_path ${work}/b; proxy_temp_path ${work}/p; fastcgi_temp_path ${work}/f;
uwsgi_temp_path ${work}/u; scgi_temp_path ${work}/s; types { application/x-yaml yaml; } default_type application/octet-stream;
server { listen 127.0.0.1:${ngPort}; root ${www}; } }`,
);
const nginx = spawn('/usr/sbin/nginx', ['-c', join(work, 'nginx.conf'), '-p', work], { stdio: 'ignore' });
for (let i = 0; i < 100 && (await req(ngPort, 'GET', '/upstream/index.yaml').catch(() => null))?.status !== 200; i++) await new Promise((r) => setTimeout(r, 50));

const load0 = loadavg()[0];
const aa = await startArtifactapi({ engine: 'uws' });
const port = aa.port;
const facts = [];
try {
  for (const r of [
    { name: 'helm-local', package_type: 'helm', repo_type: 'local' },
    { name: 'helm-remote', package_type: 'helm', repo_type: 'remote', upstream: { url: `http://127.0.0.1:${ngPort}/upstream` } },
    { name: 'helm', package_type: 'helm', repo_type: 'virtual', members: ['helm-local', 'helm-remote'], settings: { deploy_to: 'helm-local' } },
  ]) {
    const res = await aa.createRepo(r);
    if (res.status !== 201) throw new Error(`create ${r.name}: ${res.status} ${await res.text()}`);
  }

  // The local member: N real uploads, generated here and sent over kept-alive connections.
  const metas = [];
  for (let i = 0; i < CHARTS; i++) for (let v = 0; v < VERSIONS; v++) metas.push(chartMeta('team-app', i, v));
  metas.length = ENTRIES;
  log(`uploading ${ENTRIES} charts to the local member, ${UPLOAD_CLIENTS} at a time`);
  const up = await watched(aa.pid, async () => {
    const t0 = performance.now();
    await uploadAll(port, 'helm-local', metas, UPLOAD_CLIENTS);
    return (performance.now() - t0) / 1000;
  });
  // The server closes connections idle for 10 s: a later upload on one of these could race that close.
  keepAlive.destroy();
  facts.push(`Filling the local member: ${ENTRIES} chart uploads (PUT charts/{file}, ${UPLOAD_CLIENTS} concurrent kept-alive clients) took ${up.value.toFixed(1)} s = ${(ENTRIES / up.value).toFixed(0)} uploads/s; server CPU ${up.cpu.toFixed(1)} s, peak RSS ${up.peakRss.toFixed(0)} MiB.`);
  log(facts.at(-1));

  // First GETs: the remote fetches and rewrites the upstream index, the local builds its own, the virtual merges them.
  const first = [];
  for (const [what, p] of [
    ['remote member (upstream fetch + rewrite)', '/helm-remote/index.yaml'],
    ['local member (built from the stored charts)', '/helm-local/index.yaml'],
    ['virtual (merge of the two ready members)', '/helm/index.yaml'],
  ]) {
    const w = await watched(aa.pid, () => get(port, p));
    first.push(`${what} ${w.value.ms.toFixed(0)} ms (server CPU ${w.cpu.toFixed(2)} s, RSS growth ${w.rssGrowth.toFixed(0)} MiB)`);
  }
  facts.push(`First GET of each index.yaml: ${first.join('; ')}.`);
  let w;
  const sizes = {
    upstream: Buffer.byteLength(upstreamYaml),
    remote: (await get(port, '/helm-remote/index.yaml')).bytes,
    local: (await get(port, '/helm-local/index.yaml')).bytes,
  };
  const counts = { remote: await countEntries(`http://127.0.0.1:${port}/helm-remote/index.yaml`), local: await countEntries(`http://127.0.0.1:${port}/helm-local/index.yaml`) };
  for (const [k, c] of Object.entries(counts)) if (c.versions !== ENTRIES) throw new Error(`${k} member lists ${c.versions} entries, expected ${ENTRIES}`);

  const path = '/helm/index.yaml';
  for (let rep = 0; rep < REPS; rep++) {
    // Cold, local member alone: one more chart, then its index is rebuilt from the stored rows.
    if ((await putChart(port, 'helm-local', chartMeta('bench-new-local', rep, 0), false)) !== 201) throw new Error('upload refused');
    w = await watched(aa.pid, () => get(port, '/helm-local/index.yaml'));
    add('local member alone, cold (rebuild after one upload)', 'ms', w.value.ms);

    // Cold, virtual: one more chart in the local member, then the first GET rebuilds the local index and merges.
    if ((await putChart(port, 'helm-local', chartMeta('bench-new-virtual', rep, 0), false)) !== 201) throw new Error('upload refused');
    const before = rssMiB(aa.pid);
    w = await watched(aa.pid, () => get(port, path));
    const mergedMB = w.value.bytes / MB;
    add('virtual, cold (first GET after one upload to the local member)', 'ms', w.value.ms);
    add('virtual, cold: server CPU', 's', w.cpu);
    add('RSS before the cold GET', 'MiB', before);
    add('RSS peak during the cold GET', 'MiB', w.peakRss);
    add('RSS growth during the cold GET ÷ merged index size', '×', (w.peakRss - before) / (mergedMB / 1.048576));
    await new Promise((r) => setTimeout(r, 2000));
    add('RSS 2 s after the cold GET', 'MiB', rssMiB(aa.pid));

    // Warm: the same bytes again, one client.
    const seq = async (label, p, target = port) => {
      const ms = [];
      const cpu0 = cpuSeconds(aa.pid);
      for (let i = 0; i < WARM_GETS; i++) ms.push((await get(target, p)).ms);
      add(`${label}, warm, one client`, 'ms', median(ms));
      if (target === port) add(`${label}, warm: server CPU per request`, 'ms', ((cpuSeconds(aa.pid) - cpu0) * 1000) / WARM_GETS);
    };
    await seq('virtual', path);
    await seq('local member alone', '/helm-local/index.yaml');
    await seq('remote member alone', '/helm-remote/index.yaml');
    // The ceiling: the very bytes of the merged index as a static file.
    const merged = Buffer.from(await (await fetch(`http://127.0.0.1:${port}${path}`)).arrayBuffer());
    writeFileSync(join(www, 'merged.yaml'), merged);
    await seq('nginx directly (same merged bytes)', '/merged.yaml', ngPort);
    await seq('nginx directly (upstream index)', '/upstream/index.yaml', ngPort);

    // Warm, a few concurrent clients.
    const c = await concurrentGets(port, path, aa.pid, LOAD_CLIENTS, LOAD_SECONDS);
    add(`virtual, warm, ${LOAD_CLIENTS} concurrent clients`, 'req/s', c.rps);
    add(`virtual, warm, ${LOAD_CLIENTS} concurrent clients: server peak RSS`, 'MiB', c.peakRss);
    const n = await concurrentGets(ngPort, '/merged.yaml', nginx.pid, LOAD_CLIENTS, LOAD_SECONDS);
    add(`nginx directly (same merged bytes), ${LOAD_CLIENTS} concurrent clients`, 'req/s', n.rps);
    sizes.merged = merged.length;
    log(`repetition ${rep + 1} done`);
  }
  const mergedCount = await countEntries(`http://127.0.0.1:${port}${path}`);
  const expected = 2 * ENTRIES + 2 * REPS;
  if (mergedCount.versions !== expected) throw new Error(`the merged index lists ${mergedCount.versions} entries, expected ${expected}`);
  facts.push(
    `Index sizes: upstream ${(sizes.upstream / MB).toFixed(1)} MB (as nginx serves it), remote member ${(sizes.remote / MB).toFixed(1)} MB (rewritten), local member ${(sizes.local / MB).toFixed(1)} MB, merged ${(sizes.merged / MB).toFixed(1)} MB: ${mergedCount.charts} charts, ${mergedCount.versions} versions (checked with the \`yaml\` package).`,
  );
} finally {
  await aa.stop();
  nginx.kill();
  rmSync(work, { recursive: true, force: true });
}

const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));
const lines = [
  `# Helm: a virtual repository over two members of ${ENTRIES} entries each`,
  '',
  `${new Date().toISOString()} · ${cpus().length} cores, load average ${load0.toFixed(1)} at the start and ${loadavg()[0].toFixed(1)} at the end (other work on the machine slows every figure alike) · artifactapi embedded mode (uWS) · ${REPS} repetitions. Members: a remote whose upstream is a static index.yaml on nginx (${CHARTS} charts × ${VERSIONS} versions, descriptions, digests, dependencies, maintainers, annotations) and a local filled by as many real chart uploads. "Cold" is the first GET after one new chart in the local member; "warm" is the unchanged merged index (median of ${WARM_GETS} sequential GETs per repetition); times are to the last byte, over loopback, with a fresh connection per request.`,
  '',
  ...facts.map((f) => `- ${f}`),
  '',
  '| figure | unit | median | min | max |',
  '|---|---|---|---|---|',
  ...[...results].map(([k, r]) => `| ${k} | ${r.unit} | ${fmt(median(r.values))} | ${fmt(Math.min(...r.values))} | ${fmt(Math.max(...r.values))} |`),
];
const md = lines.join('\n') + '\n';
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'helm.md'), md);
console.log(md);
