#!/usr/bin/env node
// Small files through a generic remote repository, one request at a time and 8 at once: the latency of a cold
// fetch, of the first read after it (the path package managers take right after a cold install) and of later
// reads, against nginx serving the same files directly. Package installs are hundreds of such requests, so this
// is where per-request costs (database queries, allocations, collector pauses) show.
// Writes native-bench/results/small-files.md.   node native-bench/small-files.mjs [files=300]
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { freePort, median } from './lib/proc.mjs';
import { startArtifactapi } from './lib/servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const N = Number(process.argv[2] ?? 300);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const work = mkdtempSync(join(tmpdir(), 'aa-bench-small-'));
const www = join(work, 'www');
mkdirSync(www, { recursive: true });
const port = await freePort();
writeFileSync(
  join(work, 'nginx.conf'),
  `daemon off; master_process off; pid ${work}/nginx.pid; error_log ${work}/nginx.err warn;
events {} http { access_log off; client_body_temp_path ${work}/b; proxy_temp_path ${work}/p; fastcgi_temp_path ${work}/f;
uwsgi_temp_path ${work}/u; scgi_temp_path ${work}/s; server { listen 127.0.0.1:${port}; root ${www}; } }`,
);
const nginx = spawn('/usr/sbin/nginx', ['-c', join(work, 'nginx.conf'), '-p', work], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 300));
const agent = new Agent({ connections: 8 });

async function get(p, path) {
  const r = await request(`http://127.0.0.1:${p}${path}`, { dispatcher: agent });
  await r.body.arrayBuffer();
  if (r.statusCode !== 200) throw new Error(`${path}: ${r.statusCode}`);
}

/** Mean ms per request over `files`, `concurrency` requests in flight. */
async function pass(p, prefix, files, concurrency) {
  const t0 = performance.now();
  let i = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (i < files.length) await get(p, `${prefix}/${files[i++]}`);
    }),
  );
  return (performance.now() - t0) / files.length;
}

const results = {};
const add = (k, v) => (results[k] ??= []).push(v);
for (const engine of ['uws', 'node']) {
  const aa = await startArtifactapi({ engine });
  try {
    for (let rep = 0; rep < REPS; rep++) {
      // New files each repetition (3–4 KB each), so every cold pass is cold.
      const files = Array.from({ length: N }, (_, i) => `r${engine}${rep}-${i}.bin`);
      files.forEach((f, i) => writeFileSync(join(www, f), Buffer.alloc(3000 + i, i)));
      await aa.createRepo({ name: `g${rep}`, package_type: 'generic', repo_type: 'remote', upstream: { url: `http://127.0.0.1:${port}` } });
      add('nginx directly, 1 at a time', await pass(port, '', files, 1));
      add(`artifactapi ${engine}: cold, 1 at a time`, await pass(aa.port, `/g${rep}`, files, 1));
      add(`artifactapi ${engine}: first read after the cold pass, 1 at a time`, await pass(aa.port, `/g${rep}`, files, 1));
      add(`artifactapi ${engine}: warm, 1 at a time`, await pass(aa.port, `/g${rep}`, files, 1));
      add('nginx directly, 8 at a time', await pass(port, '', files, 8));
      add(`artifactapi ${engine}: warm, 8 at a time`, await pass(aa.port, `/g${rep}`, files, 8));
    }
  } finally {
    await aa.stop();
  }
}
nginx.kill();
await agent.close();
rmSync(work, { recursive: true, force: true });

const lines = [
  `# Small files through a remote repository (${new Date().toISOString()})`,
  '',
  `${N} files of 3–4 KB per pass, embedded mode, ${REPS} repetitions: median (min) milliseconds per request; lower is better.`,
  '',
  '| pass | ms per request |',
  '|---|---|',
];
for (const [k, v] of Object.entries(results)) lines.push(`| ${k} | ${median(v).toFixed(2)} (${Math.min(...v).toFixed(2)}) |`);
const md = lines.join('\n') + '\n';
writeFileSync(join(here, 'results', 'small-files.md'), md);
console.log(md);
