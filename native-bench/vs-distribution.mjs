#!/usr/bin/env node
// Side by side, in one run: artifactapi (embedded mode, uWS and node:http engines) and CNCF distribution
// (Debian's docker-registry, filesystem storage), same machine, same client, alternating, N repetitions.
// Figures: blob push (monolithic PUT, one streamed PATCH + PUT, 10 MiB PATCHes + PUT) and the closing PUT alone,
// warm blob pull, HEAD blob / GET manifest requests per second at 64 connections (autocannon).
// Usage: npm run build && node native-bench/vs-distribution.mjs [MiB=256] [reps=3]  → results/vs-distribution.md
// Binds only to 127.0.0.1; every load is bounded in time; stops everything it started.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const here = dirname(fileURLToPath(import.meta.url));
const MiB = 1024 * 1024;
const sizeMiB = Number(process.argv[2] ?? 256);
const reps = Number(process.argv[3] ?? 3);
const TOKEN = 'bench';
const block = randomBytes(MiB);

const freePort = () => new Promise((r) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });
const rss = (pid) => { try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024; } catch { return 0; } };
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

function req(port, method, path, { headers = {}, blocks = 0, auth = true } = {}) {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, method, path, agent: false, headers: { ...(auth ? { authorization: `Bearer ${TOKEN}` } : {}), ...headers } }, (res) => {
      let n = 0;
      res.on('data', (c) => (n += c.length));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, bytes: n }));
    });
    r.on('error', reject);
    let i = 0;
    const pump = () => { while (i < blocks) { i++; if (!r.write(block)) return r.once('drain', pump); } r.end(); };
    pump();
  });
}

async function waitUp(url) {
  for (let i = 0; i < 300; i++) { try { const r = await fetch(url); await r.arrayBuffer(); return; } catch {} await new Promise((r) => setTimeout(r, 50)); }
  throw new Error(`${url} did not start`);
}

async function startArtifactapi(engine) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'aa-vs-'));
  const p = spawn(process.execPath, [join(here, '..', 'dist', 'main.js'), 'serve'], { env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ARTIFACTAPI_DATA_DIR: dir, ARTIFACTAPI_ADMIN_TOKEN: TOKEN, ARTIFACTAPI_HTTP_ENGINE: engine, LOG_LEVEL: 'warn' }, stdio: 'ignore' });
  await waitUp(`http://127.0.0.1:${port}/health`);
  await fetch(`http://127.0.0.1:${port}/api/v2/repositories`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'b', package_type: 'docker', repo_type: 'local' }) });
  return { name: `artifactapi (${engine})`, port, prefix: '/v2/b', pid: p.pid, stop: async () => { p.kill('SIGTERM'); await new Promise((r) => p.once('exit', r)); rmSync(dir, { recursive: true, force: true }); } };
}

async function startDistribution() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'aa-vs-dist-'));
  writeFileSync(join(dir, 'config.yml'), `version: 0.1\nlog: { level: error, accesslog: { disabled: true } }\nstorage: { filesystem: { rootdirectory: ${dir}/data }, delete: { enabled: true } }\nhttp: { addr: 127.0.0.1:${port} }\n`);
  const p = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  await waitUp(`http://127.0.0.1:${port}/v2/`);
  return { name: 'distribution 2.8', port, prefix: '/v2/b', pid: p.pid, stop: async () => { p.kill('SIGTERM'); await new Promise((r) => p.once('exit', r)); rmSync(dir, { recursive: true, force: true }); } };
}

/** One push flow; returns seconds for the whole push and for the closing PUT. */
async function push(s, flow, image, digest) {
  const t0 = performance.now();
  const post = await req(s.port, 'POST', `${s.prefix}/${image}/blobs/uploads/`, { headers: { 'content-length': 0 } });
  const loc = post.headers.location;
  const sep = loc.includes('?') ? '&' : '?';
  let t1;
  if (flow === 'monolithic PUT') {
    t1 = performance.now();
    const chunked = sizeMiB * MiB >= 1e9 ? { 'transfer-encoding': 'chunked' } : { 'content-length': sizeMiB * MiB };
    const r = await req(s.port, 'PUT', `${loc}${sep}digest=${digest}`, { headers: chunked, blocks: sizeMiB });
    if (r.status !== 201) throw new Error(`${s.name} ${flow}: ${r.status}`);
  } else {
    const step = flow === 'streamed PATCH + PUT' ? sizeMiB : 10;
    let cur = loc;
    for (let off = 0; off < sizeMiB; off += step) {
      const n = Math.min(step, sizeMiB - off);
      const r = await req(s.port, 'PATCH', cur, { headers: { 'content-length': n * MiB, 'content-range': `${off * MiB}-${(off + n) * MiB - 1}` }, blocks: n });
      if (r.status !== 202) throw new Error(`${s.name} ${flow} PATCH: ${r.status}`);
      cur = r.headers.location ?? cur;
    }
    t1 = performance.now();
    const csep = cur.includes('?') ? '&' : '?';
    const r = await req(s.port, 'PUT', `${cur}${csep}digest=${digest}`, { headers: { 'content-length': 0 } });
    if (r.status !== 201) throw new Error(`${s.name} ${flow} PUT: ${r.status}`);
  }
  const t2 = performance.now();
  return { secs: (t2 - t0) / 1000, closeMs: flow === 'monolithic PUT' ? NaN : t2 - t1 };
}

async function load(port, path, method) {
  const r = await autocannon({ url: `http://127.0.0.1:${port}${path}`, method, connections: 64, duration: 4, headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  return { rps: r.requests.average, p99: r.latency.p99, errors: r.non2xx + r.errors };
}

const digest = (() => { const h = createHash('sha256'); for (let i = 0; i < sizeMiB; i++) h.update(block); return `sha256:${h.digest('hex')}`; })();
const servers = [await startDistribution(), await startArtifactapi('uws'), await startArtifactapi('node')];
const results = new Map(); // figure -> server -> values
const add = (fig, s, v) => { if (!results.has(fig)) results.set(fig, new Map()); const m = results.get(fig); m.set(s.name, [...(m.get(s.name) ?? []), v]); };
try {
  for (let rep = 0; rep < reps; rep++) {
    for (const s of servers) {
      for (const flow of ['monolithic PUT', 'streamed PATCH + PUT', '10 MiB PATCHes + PUT']) {
        const r = await push(s, flow, `img${rep}${flow.length}`, digest);
        add(`push ${sizeMiB} MiB: ${flow} (MiB/s)`, s, sizeMiB / r.secs);
        if (!Number.isNaN(r.closeMs)) add(`closing PUT after ${flow} (ms)`, s, r.closeMs);
      }
      const t0 = performance.now();
      const g = await req(s.port, 'GET', `${s.prefix}/img${rep}14/blobs/${digest}`, { auth: false });
      if (g.bytes !== sizeMiB * MiB) throw new Error(`${s.name} pull: ${g.status} ${g.bytes}`);
      add(`pull ${sizeMiB} MiB warm (MiB/s)`, s, sizeMiB / ((performance.now() - t0) / 1000));
    }
  }
  // A manifest to HEAD/GET: config + the pushed blob.
  for (const s of servers) {
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const cd = `sha256:${createHash('sha256').update(config).digest('hex')}`;
    // POST then PUT with the body (distribution 2.8 does not take a monolithic POST ?digest=).
    const post = await req(s.port, 'POST', `${s.prefix}/m/blobs/uploads/`, { headers: { 'content-length': 0 } });
    const loc = post.headers.location;
    await new Promise((resolve, reject) => { const r = http.request({ host: '127.0.0.1', port: s.port, method: 'PUT', path: `${loc}${loc.includes('?') ? '&' : '?'}digest=${cd}`, headers: { authorization: `Bearer ${TOKEN}`, 'content-length': config.length } }, (res) => { res.resume(); res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`${s.name} config ${res.statusCode}`)))); }); r.on('error', reject); r.end(config); });
    // Mount the big blob into image m (both registries support mount).
    await req(s.port, 'POST', `${s.prefix}/m/blobs/uploads/?mount=${digest}&from=${s.prefix.slice(4)}/img014`, { headers: { 'content-length': 0 } });
    const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd, size: config.length }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: sizeMiB * MiB }] }));
    await new Promise((resolve, reject) => { const r = http.request({ host: '127.0.0.1', port: s.port, method: 'PUT', path: `${s.prefix}/m/manifests/latest`, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': m.length } }, (res) => { res.resume(); res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`${s.name} manifest ${res.statusCode}`)))); }); r.on('error', reject); r.end(m); });
  }
  for (const s of servers) {
    for (const [fig, path, method] of [['HEAD blob', `${s.prefix}/m/blobs/${digest}`, 'HEAD'], ['GET manifest by tag', `${s.prefix}/m/manifests/latest`, 'GET'], ['HEAD manifest by tag', `${s.prefix}/m/manifests/latest`, 'HEAD']]) {
      const base = rss(s.pid);
      const r = await load(s.port, path, method);
      add(`${fig} (req/s, 64 conns)`, s, r.rps);
      add(`${fig} p99 (ms)`, s, r.p99);
      void base;
    }
    add('RSS after the run (MiB)', s, rss(s.pid));
  }
} finally {
  for (const s of servers) await s.stop();
}

const names = servers.map((s) => s.name);
const lines = [`# artifactapi vs CNCF distribution (${new Date().toISOString()})`, '', `Blob ${sizeMiB} MiB, ${reps} repetitions alternating, median (min); loopback, filesystem storage, this 2-core machine.`, '', `| figure | ${names.join(' | ')} | ratio uws/distribution | ratio node/distribution |`, `|---|${names.map(() => '---').join('|')}|---|---|`];
for (const [fig, m] of results) {
  const vals = names.map((n) => m.get(n) ?? []);
  const cell = (v) => (v.length ? `${median(v).toFixed(1)}${v.length > 1 ? ` (${Math.min(...v).toFixed(1)})` : ''}` : '-');
  const ratio = (i) => (vals[0].length && vals[i].length ? (median(vals[i]) / median(vals[0])).toFixed(2) : '-');
  lines.push(`| ${fig} | ${vals.map(cell).join(' | ')} | ${ratio(1)} | ${ratio(2)} |`);
}
const md = lines.join('\n') + '\n';
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'vs-distribution.md'), md);
console.log(md);
