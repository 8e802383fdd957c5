#!/usr/bin/env node
// RSS growth and throughput of a 2 GiB upload and download through a generic local repository, next to what
// curl reaches against a plain file server (nginx with WebDAV PUT) on the same machine. Both HTTP engines.
// Usage: npm run build && node native-bench/generic-memory.mjs [sizeMiB=2048]
// Writes native-bench/results/generic-memory.md. Binds only to 127.0.0.1; stops everything it started.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync, rmSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const sizeMiB = Number(process.argv[2] ?? 2048);
const work = mkdtempSync(join(tmpdir(), 'aa-bench-'));
const src = join(work, 'payload.bin');
const TOKEN = 'bench-token';

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function waitHttp(url) {
  for (let i = 0; i < 300; i++) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status < 500) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not come up`);
}

/** Run curl, sampling the server's RSS meanwhile; returns seconds and the peak RSS growth. */
async function measure(pid, args) {
  const base = rssKiB(pid);
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, rssKiB(pid))), 20);
  const t0 = process.hrtime.bigint();
  const out = execFileSync('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', ...args], { maxBuffer: 1 << 20 }).toString();
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  clearInterval(timer);
  peak = Math.max(peak, rssKiB(pid));
  if (!/^2\d\d$/.test(out)) throw new Error(`curl ${args.join(' ')} → HTTP ${out}`);
  return { secs, baseMiB: base / 1024, growthMiB: (peak - base) / 1024 };
}

async function nginxBaseline() {
  const dir = join(work, 'nginx');
  mkdirSync(join(dir, 'www'), { recursive: true });
  const port = await freePort();
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off; master_process off; pid ${dir}/nginx.pid; error_log ${dir}/error.log warn;
events {} http { access_log off; client_body_temp_path ${dir}/body; client_max_body_size 0;
server { listen 127.0.0.1:${port}; root ${dir}/www; dav_methods PUT; } }`,
  );
  const p = spawn('/usr/sbin/nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
  await waitHttp(`http://127.0.0.1:${port}/`);
  const up = await measure(p.pid, ['-T', src, `http://127.0.0.1:${port}/payload.bin`]);
  execFileSync('sync');
  const down = await measure(p.pid, [`http://127.0.0.1:${port}/payload.bin`]);
  p.kill();
  return { up, down };
}

async function artifactapi(engine) {
  const port = await freePort();
  const dataDir = join(work, `data-${engine}`);
  const p = spawn(process.execPath, [join(root, 'dist/main.js'), 'serve'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ARTIFACTAPI_DATA_DIR: dataDir, ARTIFACTAPI_ADMIN_TOKEN: TOKEN, ARTIFACTAPI_HTTP_ENGINE: engine, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(`${base}/health`);
  const r = await fetch(`${base}/api/v2/repositories`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench', package_type: 'generic', repo_type: 'local' }),
  });
  if (r.status !== 201) throw new Error(`create repo: ${r.status} ${await r.text()}`);
  const idle = rssKiB(p.pid) / 1024;
  // uWS cannot take a Content-Length ≥ 1e9 (see README): send the upload chunked there, as a client would be told to.
  const chunked = engine === 'uws' && sizeMiB * 1024 * 1024 >= 1e9 ? ['-H', 'Transfer-Encoding: chunked'] : [];
  const up = await measure(p.pid, ['-T', src, ...chunked, '-H', `Authorization: Bearer ${TOKEN}`, `${base}/bench/payload.bin`]);
  execFileSync('sync');
  const down = await measure(p.pid, [`${base}/bench/payload.bin`]);
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
  rmSync(dataDir, { recursive: true, force: true });
  return { idle, up, down };
}

// Incompressible payload written in 1 MiB blocks (the page cache holds it; every run reads the same file).
{
  const fd = openSync(src, 'w');
  for (let i = 0; i < sizeMiB; i++) writeSync(fd, randomBytes(1024 * 1024));
  closeSync(fd);
}
const mib = sizeMiB;
const rate = (s) => `${(mib / s).toFixed(0)} MiB/s`;
const rows = [];
const ng = await nginxBaseline();
rows.push(['nginx (plain file server, curl)', '-', rate(ng.up.secs), rate(ng.down.secs), '-', '-']);
for (const engine of ['uws', 'node']) {
  const a = await artifactapi(engine);
  rows.push([`artifactapi generic local (${engine})`, `${a.idle.toFixed(0)} MiB`, rate(a.up.secs), rate(a.down.secs), `${a.up.growthMiB.toFixed(1)} MiB`, `${a.down.growthMiB.toFixed(1)} MiB`]);
}
const table = [
  `# Generic repository: ${sizeMiB} MiB upload and download (${new Date().toISOString()})`,
  '',
  `Machine: ${execFileSync('nproc').toString().trim()} cores; payload written once, served from page cache; curl on loopback.`,
  '',
  '| server | idle RSS | upload | download | RSS growth (upload) | RSS growth (download) |',
  '|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.join(' | ')} |`),
  '',
].join('\n');
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'generic-memory.md'), table);
console.log(table);
rmSync(work, { recursive: true, force: true });
