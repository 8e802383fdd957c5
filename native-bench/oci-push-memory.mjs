#!/usr/bin/env node
// RSS growth and throughput of 1 GiB OCI blob pushes against artifactapi (embedded mode, both HTTP engines):
// one streamed PATCH + PUT, 10 MiB chunked PATCHes + PUT, and the time of the closing PUT on its own.
// Usage: npm run build && node native-bench/oci-push-memory.mjs [MiB=1024]  → native-bench/results/oci-push.md
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const MiB = 1024 * 1024;
const total = Number(process.argv[2] ?? 1024) * MiB;
const block = randomBytes(MiB);
const TOKEN = 'bench';
const digest = (() => {
  const h = createHash('sha256');
  for (let i = 0; i < total / MiB; i++) h.update(block);
  return `sha256:${h.digest('hex')}`;
})();

const freePort = () => new Promise((r) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });
const rss = (pid) => { try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024; } catch { return 0; } };

function request(port, method, path, { headers = {}, chunks = 0 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { authorization: `Bearer ${TOKEN}`, ...headers }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res));
    });
    req.on('error', reject);
    let i = 0;
    const pump = () => {
      while (i < chunks) {
        i++;
        if (!req.write(block)) return req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

async function run(engine) {
  const port = await freePort();
  const data = mkdtempSync(join(tmpdir(), 'aa-ocibench-'));
  const p = spawn(process.execPath, [join(here, '..', 'dist', 'main.js'), 'serve'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ARTIFACTAPI_DATA_DIR: data, ARTIFACTAPI_ADMIN_TOKEN: TOKEN, ARTIFACTAPI_HTTP_ENGINE: engine, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  for (let i = 0; i < 300; i++) { try { const r = await fetch(`http://127.0.0.1:${port}/health`); if (r.ok) break; } catch {} await new Promise((r) => setTimeout(r, 50)); }
  await fetch(`http://127.0.0.1:${port}/api/v2/repositories`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'b', package_type: 'docker', repo_type: 'local' }) });
  const rows = [];
  for (const [label, chunkMiB] of [['one streamed PATCH + PUT', total / MiB], ['10 MiB PATCHes + PUT', 10]]) {
    const base = rss(p.pid);
    let peak = base;
    const timer = setInterval(() => (peak = Math.max(peak, rss(p.pid))), 20);
    const t0 = performance.now();
    const post = await request(port, 'POST', `/v2/b/img${rows.length}/blobs/uploads/`);
    const loc = post.headers.location;
    for (let off = 0; off < total / MiB; off += chunkMiB) {
      const n = Math.min(chunkMiB, total / MiB - off);
      // uWS resets bodies with a Content-Length ≥ 1e9 (README): stream those chunked, as clients should be told.
      const sized = n * MiB < 1e9 ? { 'content-length': n * MiB, 'content-range': `${off * MiB}-${(off + n) * MiB - 1}` } : {};
      const r = await request(port, 'PATCH', loc, { headers: sized, chunks: n });
      if (r.statusCode !== 202) throw new Error(`PATCH → ${r.statusCode}`);
    }
    const t1 = performance.now();
    const put = await request(port, 'PUT', `${loc}?digest=${digest}`, { headers: { 'content-length': 0 } });
    const t2 = performance.now();
    clearInterval(timer);
    if (put.statusCode !== 201) throw new Error(`PUT → ${put.statusCode}`);
    rows.push([`${engine}: ${label}`, `${((total / MiB) / ((t2 - t0) / 1000)).toFixed(0)} MiB/s`, `${(t2 - t1).toFixed(1)} ms`, `${(peak - base).toFixed(1)} MiB`]);
  }
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
  rmSync(data, { recursive: true, force: true });
  return rows;
}

const rows = [...(await run('uws')), ...(await run('node'))];
const md = [`# OCI blob push, ${total / MiB} MiB (${new Date().toISOString()})`, '', '| engine: flow | throughput | closing PUT | server RSS growth |', '|---|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`), ''].join('\n');
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'oci-push.md'), md);
console.log(md);
