#!/usr/bin/env node
// Real clients through remote repositories, cold and warm, against the same static tree served directly by nginx
// (the ceiling: no proxy at all). `pip download` of N distributions, `go mod download` of N modules.
// Writes native-bench/results/formats.md. Needs nginx, /usr/bin/python3 with venv, go (make test installs them).
//   node native-bench/formats.mjs [N=100]
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';

import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, median } from './lib/proc.mjs';
import { startArtifactapi } from './lib/servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const N = Number(process.argv[2] ?? 100);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const work = mkdtempSync(join(tmpdir(), 'aa-bench-fmt-'));
chmodSync(work, 0o755);
const www = join(work, 'www');
const log = (...a) => console.error('[formats]', ...a);

// ---- fixtures: N wheels in a PEP 503 tree, N modules in a GOPROXY tree (made offline by python's zipfile) ----
execFileSync('/usr/bin/python3', ['-c', `
import hashlib, os, sys, zipfile
www, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    name = f"benchpkg{i}"; ver = "1.0"
    d = os.path.join(www, "files"); os.makedirs(d, exist_ok=True)
    whl = f"{name}-{ver}-py3-none-any.whl"; path = os.path.join(d, whl)
    info = f"{name}-{ver}.dist-info"
    files = {f"{name}/__init__.py": f"VERSION = '{ver}'\\n" + "#" * 2000 + "\\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {ver}\\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\\nGenerator: bench\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
    record = "".join(f"{k},,\\n" for k in files) + f"{info}/RECORD,,\\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for k, v in files.items(): z.writestr(k, v)
        z.writestr(f"{info}/RECORD", record)
    sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
    p = os.path.join(www, "simple", name); os.makedirs(p, exist_ok=True)
    open(os.path.join(p, "index.html"), "w").write(f'<a href="../../files/{whl}#sha256={sha}">{whl}</a>\\n')
    mod = f"example.com/bench/m{i}"; v = os.path.join(www, "go", mod, "@v"); os.makedirs(v, exist_ok=True)
    gomod = f"module {mod}\\n\\ngo 1.19\\n"
    open(os.path.join(v, "list"), "w").write("v1.0.0\\n")
    open(os.path.join(v, "v1.0.0.info"), "w").write('{"Version":"v1.0.0","Time":"2020-01-01T00:00:00Z"}\\n')
    open(os.path.join(v, "v1.0.0.mod"), "w").write(gomod)
    with zipfile.ZipFile(os.path.join(v, "v1.0.0.zip"), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{mod}@v1.0.0/go.mod", gomod)
        z.writestr(f"{mod}@v1.0.0/m.go", f"package m{i}\\n\\nconst X = {i}\\n" + "// padding\\n" * 100)
`, www, String(N)]);
execFileSync('chmod', ['-R', 'a+rX', work]);

// ---- the static tree, served directly ----
const upPort = await freePort();
writeFileSync(join(work, 'nginx.conf'), `daemon off; master_process off; pid ${work}/nginx.pid; error_log ${work}/nginx.err warn;
events {} http { access_log off; client_body_temp_path ${work}/b; proxy_temp_path ${work}/p; fastcgi_temp_path ${work}/f;
uwsgi_temp_path ${work}/u; scgi_temp_path ${work}/s; types { text/html html; } default_type application/octet-stream;
server { listen 127.0.0.1:${upPort}; root ${www}; } }`);
const nginx = spawn('/usr/sbin/nginx', ['-c', join(work, 'nginx.conf'), '-p', work], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 300));
const upstream = `http://127.0.0.1:${upPort}`;

execFileSync('/usr/bin/python3', ['-m', 'venv', join(work, 'venv')]);
const pipEnv = { ...process.env, PIP_CONFIG_FILE: '/dev/null', PIP_NO_CACHE_DIR: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' };
const pkgs = Array.from({ length: N }, (_, i) => `benchpkg${i}==1.0`);
const mods = Array.from({ length: N }, (_, i) => `example.com/bench/m${i}@v1.0.0`);

function timed(cmd, args, env) {
  const t0 = performance.now();
  execFileSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  return (performance.now() - t0) / 1000;
}
const pipDownload = (index) => {
  const dest = mkdtempSync(join(work, 'dl-'));
  const s = timed(join(work, 'venv', 'bin', 'pip'), ['download', '--no-deps', '--index-url', index, '-d', dest, ...pkgs], pipEnv);
  rmSync(dest, { recursive: true, force: true });
  return s;
};
const goDownload = (proxy) => {
  const cache = mkdtempSync(join(work, 'gomod-'));
  const env = { ...process.env, GOPROXY: proxy, GOSUMDB: 'off', GOFLAGS: '-modcacherw', GOPATH: join(cache, 'gopath'), GOMODCACHE: join(cache, 'mod'), GOCACHE: join(work, 'gocache'), GOTOOLCHAIN: 'local', GO111MODULE: 'on' };
  const s = timed('go', ['mod', 'download', '-json', ...mods], env);
  rmSync(cache, { recursive: true, force: true });
  return s;
};

const results = {};
const add = (k, v) => (results[k] ??= []).push(v);
const servers = [await startArtifactapi({ engine: 'uws' }), await startArtifactapi({ engine: 'node' })];
try {
  for (let rep = 0; rep < REPS; rep++) {
    add(`pip download ${N} wheels: nginx directly`, pipDownload(`${upstream}/simple/`));
    add(`go mod download ${N} modules: nginx directly`, goDownload(`${upstream}/go`));
    for (const s of servers) {
      // A fresh remote each repetition: the first download is cold, the second warm.
      await s.createRepo({ name: `py${rep}`, package_type: 'pypi', repo_type: 'remote', upstream: { url: `${upstream}/simple` } });
      await s.createRepo({ name: `go${rep}`, package_type: 'go', repo_type: 'remote', upstream: { url: `${upstream}/go` } });
      const base = `http://127.0.0.1:${s.port}`;
      add(`pip download ${N} wheels: ${s.name}, cold`, pipDownload(`${base}/py${rep}/simple/`));
      add(`pip download ${N} wheels: ${s.name}, warm`, pipDownload(`${base}/py${rep}/simple/`));
      add(`go mod download ${N} modules: ${s.name}, cold`, goDownload(`${base}/go${rep}`));
      add(`go mod download ${N} modules: ${s.name}, warm`, goDownload(`${base}/go${rep}`));
    }
    log(`repetition ${rep + 1} done`);
  }
} finally {
  for (const s of servers) await s.stop();
  nginx.kill();
}
const lines = [`# Real clients through remote repositories (${new Date().toISOString()})`, '', `${N} packages per command, ${REPS} repetitions, median (min) seconds; lower is better. "nginx directly" is the same static tree without any proxy.`, '', '| run | seconds | × nginx directly |', '|---|---|---|'];
for (const [k, v] of Object.entries(results)) {
  const base = results[k.startsWith('pip') ? `pip download ${N} wheels: nginx directly` : `go mod download ${N} modules: nginx directly`];
  lines.push(`| ${k} | ${median(v).toFixed(2)} (${Math.min(...v).toFixed(2)}) | ${(median(v) / median(base)).toFixed(2)} |`);
}
const md = lines.join('\n') + '\n';
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'formats.md'), md);
console.log(md);
rmSync(work, { recursive: true, force: true });

