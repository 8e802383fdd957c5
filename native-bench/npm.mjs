#!/usr/bin/env node
// npm through a remote repository, against Verdaccio's own proxy (an uplink) in front of the same upstream
// Verdaccio: `npm install` of a project with N dependencies, cold and warm; and the server's RSS growth while it
// serves a large packument. Writes native-bench/results/npm.md.   node native-bench/npm.mjs [N=200] [packumentMiB=20]
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { req } from './lib/http.mjs';
import { freePort, median, watched } from './lib/proc.mjs';
import { startArtifactapi } from './lib/servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const N = Number(process.argv[2] ?? 200);
const BIG_MIB = Number(process.argv[3] ?? 20);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const work = mkdtempSync(join(tmpdir(), 'aa-bench-npm-'));
const log = (...a) => console.error('[npm]', ...a);

/** A one-file npm tarball (`package/package.json`), made here: tar header + content, gzipped. */
function tarball(name, version) {
  const json = Buffer.from(JSON.stringify({ name, version, main: 'index.js' }));
  const header = Buffer.alloc(512);
  header.write('package/package.json', 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(json.length.toString(8).padStart(11, '0') + '\0', 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const pad = Buffer.alloc((512 - (json.length % 512)) % 512);
  return gzipSync(Buffer.concat([header, json, pad, Buffer.alloc(1024)]));
}

async function verdaccio(name, uplink) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  writeFileSync(
    join(dir, 'config.yaml'),
    `storage: ${dir}/storage\nauth:\n  htpasswd:\n    file: ${dir}/htpasswd\n    max_users: 100\nuplinks:\n${uplink ? `  up:\n    url: ${uplink}/\n    cache: true\n` : '  {}\n'}packages:\n  '**':\n    access: $all\n    publish: $authenticated\n${uplink ? '    proxy: up\n' : ''}log: { type: stdout, format: pretty, level: error }\nmax_body_size: 200mb\n`,
  );
  const p = spawn(join(root, 'node_modules', '.bin', 'verdaccio'), ['--config', join(dir, 'config.yaml'), '--listen', `127.0.0.1:${port}`], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 400; i++) {
    try {
      if ((await fetch(`${url}/-/ping`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  const user = await fetch(`${url}/-/user/org.couchdb.user:bench`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench', password: 'bench-password-1' }) });
  const { token } = await user.json();
  return { url, pid: p.pid, token, storage: join(dir, 'storage'), stop: () => p.kill('SIGTERM') };
}

async function publish(reg, name, version) {
  const tgz = tarball(name, version);
  const integrity = `sha512-${createHash('sha512').update(tgz).digest('base64')}`;
  const manifest = { name, version, main: 'index.js', dist: { integrity, shasum: createHash('sha1').update(tgz).digest('hex'), tarball: `${reg.url}/${name}/-/${name}-${version}.tgz` } };
  const body = { _id: name, name, 'dist-tags': { latest: version }, versions: { [version]: manifest }, _attachments: { [`${name}-${version}.tgz`]: { content_type: 'application/octet-stream', data: tgz.toString('base64'), length: tgz.length } } };
  // A fresh connection per publish (a kept-alive one may be closed by Verdaccio under us).
  const payload = Buffer.from(JSON.stringify(body));
  const r = await req(Number(new URL(reg.url).port), 'PUT', `/${name}`, { headers: { authorization: `Bearer ${reg.token}`, 'content-type': 'application/json', 'content-length': payload.length }, block: payload, blocks: 1 });
  if (r.status >= 300) throw new Error(`publish ${name}: ${r.status}`);
}

function npmInstall(registry, deps) {
  const dir = mkdtempSync(join(work, 'proj-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'bench-app', version: '1.0.0', private: true, dependencies: deps }));
  writeFileSync(join(dir, '.npmrc'), `registry=${registry}\naudit=false\nfund=false\nupdate-notifier=false\n`);
  const cache = mkdtempSync(join(work, 'cache-'));
  const t0 = performance.now();
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--cache', cache, '--registry', registry, '--userconfig', join(dir, '.npmrc')], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const s = (performance.now() - t0) / 1000;
  rmSync(dir, { recursive: true, force: true });
  rmSync(cache, { recursive: true, force: true });
  return s;
}

const upstream = await verdaccio('upstream');
log(`publishing ${N} packages to the upstream`);
const deps = {};
for (let i = 0; i < N; i++) {
  await publish(upstream, `bench-dep-${i}`, '1.0.0');
  deps[`bench-dep-${i}`] = '1.0.0';
}
// A large packument: many versions with long descriptions (real ones reach tens of MB).
const versions = {};
const filler = 'x'.repeat(2000);
let k = 0;
// The size is summed per entry: stringifying the whole growing object each time is quadratic (minutes at 20 MiB).
for (let size = 0; size < BIG_MIB * 1024 * 1024; ) {
  const v = `0.0.${k++}`;
  versions[v] = { name: 'bench-big', version: v, description: filler, dist: { integrity: 'sha512-AAAA', shasum: '0'.repeat(40), tarball: `${upstream.url}/bench-big/-/bench-big-${v}.tgz` } };
  size += JSON.stringify(versions[v]).length + v.length + 4;
}
// Verdaccio takes one version per publish: publish one, then grow its stored document in place.
await publish(upstream, 'bench-big', '1.0.0');
const bigFile = join(upstream.storage, 'bench-big', 'package.json');
const big = JSON.parse(readFileSync(bigFile, 'utf8'));
Object.assign(big.versions, versions);
writeFileSync(bigFile, JSON.stringify(big));
log(`big packument: ${k} versions, ${(JSON.stringify(big).length / 1048576).toFixed(1)} MiB`);

// The ceiling: the same packages as a static tree (abbreviated packuments and tarballs) served by nginx, which
// is as fast as a registry can answer; what npm takes there is npm's own work.
const www = join(work, 'www');
const nginxPort = await freePort();
const staticUrl = `http://127.0.0.1:${nginxPort}`;
mkdirSync(join(www, 'packuments'), { recursive: true });
for (const name of Object.keys(deps)) {
  const tgz = tarball(name, '1.0.0');
  mkdirSync(join(www, name, '-'), { recursive: true });
  writeFileSync(join(www, name, '-', `${name}-1.0.0.tgz`), tgz);
  const dist = { integrity: `sha512-${createHash('sha512').update(tgz).digest('base64')}`, shasum: createHash('sha1').update(tgz).digest('hex'), tarball: `${staticUrl}/${name}/-/${name}-1.0.0.tgz` };
  writeFileSync(join(www, 'packuments', name), JSON.stringify({ name, 'dist-tags': { latest: '1.0.0' }, versions: { '1.0.0': { name, version: '1.0.0', dist } } }));
}
writeFileSync(join(work, 'nginx.conf'), `daemon off; master_process off; pid ${work}/nginx.pid; error_log ${work}/nginx.err warn;
events {} http { access_log off; client_body_temp_path ${work}/b; proxy_temp_path ${work}/p; fastcgi_temp_path ${work}/f;
uwsgi_temp_path ${work}/u; scgi_temp_path ${work}/s; default_type application/octet-stream;
server { listen 127.0.0.1:${nginxPort}; root ${www}; location ~ ^/([^/]+)$ { default_type application/json; try_files /packuments/$1 =404; } } }`);
const nginx = spawn('/usr/sbin/nginx', ['-c', join(work, 'nginx.conf'), '-p', work], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 300));

const results = {};
const add = (key, v) => (results[key] ??= []).push(v);
const aa = await startArtifactapi({ engine: 'uws' });
try {
  for (let rep = 0; rep < REPS; rep++) {
    const proxy = await verdaccio(`proxy${rep}`, upstream.url);
    await aa.createRepo({ name: `npm${rep}`, package_type: 'npm', repo_type: 'remote', upstream: { url: upstream.url } });
    const mine = `http://127.0.0.1:${aa.port}/npm${rep}/`;
    add(`npm install, ${N} dependencies: Verdaccio proxy, cold`, npmInstall(`${proxy.url}/`, deps));
    add(`npm install, ${N} dependencies: Verdaccio proxy, warm`, npmInstall(`${proxy.url}/`, deps));
    add(`npm install, ${N} dependencies: artifactapi remote, cold`, npmInstall(mine, deps));
    add(`npm install, ${N} dependencies: artifactapi remote, warm`, npmInstall(mine, deps));
    add(`npm install, ${N} dependencies: static tree on nginx (the ceiling)`, npmInstall(`${staticUrl}/`, deps));
    const path = `/npm${rep}/bench-big`;
    const w = await watched(aa.pid, () => req(aa.port, 'GET', path, { headers: { accept: 'application/vnd.npm.install-v1+json' } }));
    add(`${BIG_MIB} MiB packument through the remote (cold): RSS growth, MiB`, w.rssGrowth);
    const w2 = await watched(aa.pid, () => req(aa.port, 'GET', path));
    add(`${BIG_MIB} MiB packument, full, warm: RSS growth, MiB`, w2.rssGrowth);
    proxy.stop();
    log(`repetition ${rep + 1} done`);
  }
} finally {
  await aa.stop();
  upstream.stop();
  nginx.kill();
}
const lines = [`# npm through a remote vs Verdaccio's proxy (${new Date().toISOString()})`, '', `Same upstream (Verdaccio), ${REPS} repetitions, median (min); lower is better. Each install starts with an empty npm cache.`, '', '| run | value |', '|---|---|'];
for (const [key, v] of Object.entries(results)) lines.push(`| ${key} | ${median(v).toFixed(2)} (${Math.min(...v).toFixed(2)}) |`);
const warm = (who) => median(results[`npm install, ${N} dependencies: ${who}, warm`]);
const ceiling = median(results[`npm install, ${N} dependencies: static tree on nginx (the ceiling)`]);
lines.push(
  '',
  `Warm install: Verdaccio's proxy takes ${(warm('Verdaccio proxy') / warm('artifactapi remote')).toFixed(2)}× the time artifactapi takes (>1: artifactapi is faster).`,
  `Time above the static-tree ceiling (the part a registry can influence): Verdaccio ${(warm('Verdaccio proxy') - ceiling).toFixed(2)} s, artifactapi ${(warm('artifactapi remote') - ceiling).toFixed(2)} s.`,
);
const md = lines.join('\n') + '\n';
writeFileSync(join(here, 'results', 'npm.md'), md);
console.log(md);
rmSync(work, { recursive: true, force: true });

