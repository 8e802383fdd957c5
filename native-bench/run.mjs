#!/usr/bin/env node
// `make bench` (and `make bench-quick`): artifactapi side by side with CNCF distribution and against this
// machine's own limits, in one run. Every figure alternates the servers (in an order rotated every repetition),
// repeats, and reports median (min).
// Writes native-bench/results/latest.md and latest.json and prints the table. Binds only to 127.0.0.1, bounds
// every load in time, stops every process it started. Build first (`make bench` does).
//   node native-bench/run.mjs [--quick]
import { spawnSync } from 'node:child_process';
import { mkdirSync, statfsSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { diskCeiling, loopbackCeiling, memoryReclaim, pageCacheCeilings, sha256Ceilings, smallRequestCeilings } from './lib/ceilings.mjs';
import { blob, MiB, req, serverTiming } from './lib/http.mjs';
import { push } from './lib/push.mjs';
import { loadInProcess } from './lib/load.mjs';
import { cpuSeconds, median, rssMiB, settle, watched } from './lib/proc.mjs';
import { startArtifactapi, startDistribution, TOKEN } from './lib/servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const SIZE = quick ? 64 : 1024; // MiB, push and pull
const REPS = quick ? 1 : 3;
// The figures this host moves most between repetitions (±15–30 %: 16 concurrent pulls, remote cold pulls) take more,
// so that their median says more than one good or bad moment of the machine.
const NOISY_REPS = quick ? 1 : 5;
const PULL16 = quick ? 8 : 64; // MiB each, 16 distinct blobs
const REMOTE = quick ? 64 : 512;
// An image pulled cold through each proxy the way docker pulls one: its layers 3 at a time (dockerd's
// max-concurrent-downloads), each next layer as soon as one is done.
const LAYERS = 6;
const LAYER = quick ? 16 : 128; // MiB
const LAYERS_AT_ONCE = 3;
const GENERIC = quick ? 256 : 2048;
const SMALL_TTFB = quick ? 1 : 3; // samples per proxy and repetition
const LOAD_SECONDS = quick ? 2 : 4;
const log = (...a) => console.error('[bench]', ...a);

/** figure → { unit, better: 'higher'|'lower'|'none' (no ratio), values: server → number[], ceiling?: number, ceilingName?: string } */
const rows = new Map();
function add(figure, unit, better, server, v, ceiling) {
  if (!rows.has(figure)) rows.set(figure, { unit, better, values: new Map(), ...ceiling });
  const r = rows.get(figure);
  r.values.set(server, [...(r.values.get(server) ?? []), v]);
}
function addProc(figure, server, w) {
  add(`${figure}: peak RSS`, 'MiB', 'lower', server, w.peakRss);
  add(`${figure}: CPU`, 's', 'lower', server, w.cpu);
  // Neither better nor worse: says whether the figure above it is bound by the machine's CPU or by waits.
  add(`${figure}: machine busy (all cores, every process)`, '%', 'none', server, w.machineBusy);
  if (w.ioWaitMs !== undefined) add(`${figure}: time some task waited for I/O`, 'ms', 'none', server, w.ioWaitMs);
}

// Every server keeps its data in the temporary directory. Each workload's data is freed once measured (see freeBlobs),
// so the run holds at most: one round of pushes and the 16 concurrent pulls' blobs on each of the four servers, the
// remote pulls on the upstream and the four proxies, and (a margin: they are freed one by one) a generic upload for
// each of the three artifactapi servers.
{
  const fs = statfsSync(tmpdir());
  const free = (fs.bavail * fs.bsize) / MiB;
  const need = 4 * (16 * PULL16 + 3 * SIZE) + 5 * (2 * NOISY_REPS * REMOTE + REPS * LAYERS * LAYER) + 3 * GENERIC;
  if (free < need * 1.2) throw new Error(`${tmpdir()} has ${(free / 1024).toFixed(0)} GiB free; this run needs about ${(need / 1024).toFixed(0)} GiB (and some room)`);
}

// ---- the machine ----
const block = blob(1).block;
const sha = await sha256Ceilings(quick ? 256 : 1024, block);
const loop = await loopbackCeiling(quick ? 512 : 2048, block);
const disk = await diskCeiling(quick ? 256 : 1024, block);
const cache = await pageCacheCeilings(quick ? 256 : 1024, block);
const reclaim = memoryReclaim();
const small = await smallRequestCeilings(LOAD_SECONDS);
log('ceilings', { sha, loop, disk, cache, reclaim, small });
const ceilings = {
  'SHA-256 one core, node:crypto (MiB/s)': sha.nodeCrypto,
  'SHA-256 one core, hash-wasm (MiB/s)': sha.hashWasm,
  'loopback HTTP upload, bare uWS (MiB/s)': loop.upload,
  'loopback HTTP download, bare uWS (MiB/s)': loop.download,
  'disk write + fdatasync (MiB/s)': disk.write,
  [`disk read, ${disk.readFrom} (MiB/s)`]: disk.read,
  'buffered write, page cache growing into new memory (MiB/s)': cache.fresh,
  'buffered write, page cache reusing memory just freed (MiB/s)': cache.reused,
  'O_DIRECT write + fdatasync (MiB/s)': cache.direct,
  'HEAD, bare uWS, 64 connections (req/s)': small['HEAD uws'],
  'GET, bare uWS, 64 connections (req/s)': small['GET uws'],
  'HEAD, bare node:http, 64 connections (req/s)': small['HEAD node'],
  'GET, bare node:http, 64 connections (req/s)': small['GET node'],
};
// A durable upload is bounded by the slowest of: receiving, hashing, writing.
const pushCeiling = { ceiling: Math.min(loop.upload, sha.nodeCrypto, disk.write), ceilingName: 'min(loopback up, SHA-256, disk write)' };
const pullCeiling = { ceiling: loop.download, ceilingName: 'loopback download' };

// ---- the servers ----
const pgUp = spawnSync('pg_isready', ['-q', '-h', '127.0.0.1']).status === 0 && spawnSync('redis-cli', ['-h', '127.0.0.1', 'ping']).status === 0;
const dist = await startDistribution();
const servers = [dist, await startArtifactapi({ engine: 'uws' }), await startArtifactapi({ engine: 'node' })];
if (pgUp) servers.push(await startArtifactapi({ engine: 'uws', mode: 'server' }));
else log('PostgreSQL/Redis not reachable: server-mode column skipped');
const others = [];
/**
 * Every server process and its helpers (the S3 server of server mode): the harness waits for all of them to be idle
 * before each measurement (see settle).
 */
const quiet = servers.flatMap((s) => [s.pid, ...(s.helperPids ?? [])]);
await settle(quiet);
/** Each server's RSS once started and idle (an artifactapi has created its database and its one repository). */
const startRss = new Map(servers.map((s) => [s.name, rssMiB(s.pid)]));
/** Waits for every server to be idle (see settle), saying so when that took long: it is time the run spends. */
async function quietly() {
  const ms = await settle(quiet);
  if (ms > 3000) log(`waited ${(ms / 1000).toFixed(1)} s for the servers to be idle`);
}

/**
 * Deletes blobs once their workload is measured, and has the server free their space (artifactapi's garbage
 * collector, distribution's offline one): the run would otherwise hold every byte every server stored, more than
 * this machine's disk (an S3 server died of ENOSPC, 75 GB free at the start).
 */
async function freeBlobs(s, blobs, bytes) {
  for (const [image, digest] of blobs) {
    const r = await fetch(`http://127.0.0.1:${s.port}${s.prefix}/${image}/blobs/${digest}`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    await r.arrayBuffer();
    if (r.status !== 202) throw new Error(`${s.name} DELETE blob ${image} ${digest}: ${r.status}`);
  }
  await collect(s, bytes);
}
/** Has `s` collect its garbage; artifactapi says how much it freed, which must be at least `bytes`. */
async function collect(s, bytes) {
  const freed = await s.collectGarbage();
  if (freed !== undefined && freed < bytes) throw new Error(`${s.name} freed ${freed} bytes, not the ${bytes} deleted`);
}

/**
 * The servers in the order repetition `rep` visits them: rotated every repetition, so that none always runs
 * right after another's writes (the page cache and the disk's writeback carry over from one to the next).
 */
const turn = (list, rep) => list.map((_, i) => list[(i + rep) % list.length]);

/** Waits for the servers to be idle, and records what a proxy still spent once its client was done (storing, say). */
async function deferred(figure, name, p) {
  const cpu0 = cpuSeconds(p.pid);
  await quietly();
  add(`${figure}: CPU after the client's last byte, until idle`, 's', 'none', name, cpuSeconds(p.pid) - cpu0);
}

/** artifactapi's event-loop delay histogram (its /metrics): cumulative sample counts by upper bound in seconds. */
async function loopDelays(p) {
  if (p.kind === 'distribution') return undefined;
  const text = await (await fetch(`http://127.0.0.1:${p.port}/metrics`)).text();
  return new Map([...text.matchAll(/^nodejs_eventloop_delay_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)].map((m) => [m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]));
}

/** From two readings of loopDelays: the stalls over 100 ms between them, and the bucket bound of the longest delay. */
function addLoopStalls(figure, name, before, after) {
  if (!before || !after) return;
  const over = (m) => m.get(Infinity) - m.get(0.1);
  add(`${figure}: event-loop stalls over 100 ms`, 'count', 'none', name, over(after) - over(before));
  const all = after.get(Infinity) - before.get(Infinity);
  const longest = [...after.keys()].sort((a, b) => a - b).find((le) => after.get(le) - before.get(le) === all);
  add(`${figure}: the longest event-loop delay, at most`, 'ms', 'none', name, longest * 1000);
}

/** Pulls the blobs through a proxy, `atOnce` at a time, each next one as soon as one is done; resolves to the ms. */
async function pullAll(p, blobs, atOnce) {
  const queue = [...blobs];
  const t0 = performance.now();
  const pullNext = async () => {
    for (let b = queue.shift(); b; b = queue.shift()) {
      const r = await req(p.port, 'GET', `${p.prefix}/blobs/${b.digest}`);
      if (r.bytes !== b.mib * MiB) throw new Error(`${p.name} layer pull: ${r.status} ${r.bytes}`);
    }
  };
  await Promise.all(Array.from({ length: atOnce }, pullNext));
  return performance.now() - t0;
}

function load(port, path, method) {
  return loadInProcess({ url: `http://127.0.0.1:${port}${path}`, method, connections: 64, seconds: LOAD_SECONDS, headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
}

async function putManifest(s, image, tag, cfg, layer) {
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfg.digest, size: cfg.size }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.mib * MiB }] }));
  const res = await fetch(`http://127.0.0.1:${s.port}${s.prefix}/${image}/manifests/${tag}`, { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body });
  if (res.status !== 201) throw new Error(`${s.name} manifest: ${res.status} ${await res.text()}`);
}

async function smallBlob(s, image, bytes) {
  const { createHash } = await import('node:crypto');
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const post = await fetch(`http://127.0.0.1:${s.port}${s.prefix}/${image}/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  const loc = post.headers.get('location');
  const put = await fetch(new URL(`${loc}${loc.includes('?') ? '&' : '?'}digest=${digest}`, `http://127.0.0.1:${s.port}`), { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}` }, body: bytes });
  if (put.status !== 201) throw new Error(`${s.name} small blob: ${put.status}`);
  return { digest, size: bytes.length };
}

try {
  // ---- push and pull ----
  const flows = ['monolithic PUT', 'streamed PATCH + PUT', '10 MiB PATCHes + PUT'];
  // Warm-up, not measured: every server pushes each flow once first. Without it, the first push of a fresh
  // artifactapi on uWS was its slowest sample in every run, on node:http in some (buffer pools and the heap growing
  // into new memory, which this VM faults in page by page: ≈ 16 500 page faults in a server's first 1 GiB push,
  // ≈ 2 000 in each after it; and code not compiled yet).
  const warm = flows.map((_, i) => blob(SIZE, 90 + i));
  for (const s of servers) {
    await quietly();
    for (const [i, flow] of flows.entries()) await push(s, flow, 'warm', warm[i]);
    await freeBlobs(s, warm.map((b) => ['warm', b.digest]), flows.length * SIZE * MiB);
  }
  for (let rep = 0; rep < REPS; rep++) {
    // A new digest for every push: pushing bytes a registry already has is another path (clients HEAD first).
    const blobs = flows.map((_, i) => blob(SIZE, 100 + rep * flows.length + i));
    const big = blobs[0]; // pulled below through the image its monolithic push named
    for (const s of turn(servers, rep)) {
      await quietly();
      for (const [i, flow] of flows.entries()) {
        const w = await watched(s.pid, () => push(s, flow, `img${rep}-${flow.length}`, blobs[i]));
        add(`push ${SIZE} MiB, ${flow}`, 'MiB/s', 'higher', s.name, w.value.mibs, pushCeiling);
        if (!Number.isNaN(w.value.closeMs)) {
          add(`closing PUT after ${flow}`, 'ms', 'lower', s.name, w.value.closeMs);
          // artifactapi names the parts of the closing PUT (Server-Timing): a slow one says whether the commit (the
          // store's writes and fsyncs, the blob row) or the link to the image took the time.
          for (const part of ['commit', 'link']) {
            const ms = w.value.closeTiming[part];
            if (ms !== undefined) add(`closing PUT after ${flow}: its ${part} (Server-Timing)`, 'ms', 'lower', s.name, ms);
          }
        }
        if (flow === 'streamed PATCH + PUT') addProc(`push ${SIZE} MiB streamed`, s.name, w);
      }
      // Right after the pushes, the first blob may still be on its way into the page cache (artifactapi writes large
      // uploads around it and reads them back when idle); after a pause, another blob pushed then is warm for all.
      const now = await req(s.port, 'GET', `${s.prefix}/img${rep}-14/blobs/${big.digest}`);
      if (now.bytes !== SIZE * MiB) throw new Error(`${s.name} pull: ${now.status} ${now.bytes}`);
      add(`pull ${SIZE} MiB right after the pushes`, 'MiB/s', 'higher', s.name, SIZE / (now.ms / 1000), pullCeiling);
      await quietly();
      const w = await watched(s.pid, () => req(s.port, 'GET', `${s.prefix}/img${rep}-20/blobs/${blobs[1].digest}`));
      if (w.value.bytes !== SIZE * MiB) throw new Error(`${s.name} pull: ${w.value.status} ${w.value.bytes}`);
      add(`pull ${SIZE} MiB warm`, 'MiB/s', 'higher', s.name, SIZE / (w.value.ms / 1000), pullCeiling);
      addProc(`pull ${SIZE} MiB warm`, s.name, w);
      await freeBlobs(s, flows.map((flow, i) => [`img${rep}-${flow.length}`, blobs[i].digest]), flows.length * SIZE * MiB);
    }
  }
  log('push/pull done');

  // ---- 16 concurrent pulls of distinct blobs ----
  const sixteen = Array.from({ length: 16 }, (_, i) => blob(PULL16, 100 + i));
  for (const s of servers) for (const b of sixteen) await push(s, 'monolithic PUT', 'many', b);
  const pullSixteen = async (s) => {
    const t0 = performance.now();
    const rs = await Promise.all(sixteen.map((b) => req(s.port, 'GET', `${s.prefix}/many/blobs/${b.digest}`)));
    if (rs.some((r) => r.bytes !== PULL16 * MiB)) throw new Error(`${s.name}: short concurrent pull`);
    return (16 * PULL16) / ((performance.now() - t0) / 1000);
  };
  // Warm-up, one round each. A fresh artifactapi's first rounds grow its heap (2 MiB at a time) into memory this VM's
  // host has to fault in again, ≈ 9–20 µs a page: 8.8–18.6 k page faults and 1 730–2 260 MiB/s in the first round,
  // none and 2 500–3 500 from the fourth or fifth on (scratch series); distribution's first rounds were slower too.
  // The figure is that of a server that has served such a burst before.
  for (const s of servers) {
    await quietly();
    await pullSixteen(s);
  }
  for (let rep = 0; rep < NOISY_REPS; rep++) {
    for (const s of turn(servers, rep)) {
      await quietly();
      const w = await watched(s.pid, () => pullSixteen(s));
      add(`16 concurrent pulls of distinct ${PULL16} MiB blobs (aggregate)`, 'MiB/s', 'higher', s.name, w.value, pullCeiling);
      addProc('16 concurrent pulls', s.name, w);
    }
  }
  log('concurrent pulls done');

  // ---- small requests ----
  for (const s of servers) {
    const cfg = await smallBlob(s, 'many', Buffer.from('{"architecture":"amd64","os":"linux"}'));
    await putManifest(s, 'many', 'latest', cfg, sixteen[0]);
  }
  for (let rep = 0; rep < REPS; rep++) {
    for (const s of turn(servers, rep)) {
      await quietly();
      for (const [fig, path, method] of [
        ['HEAD blob', `${s.prefix}/many/blobs/${sixteen[0].digest}`, 'HEAD'],
        ['HEAD manifest by tag', `${s.prefix}/many/manifests/latest`, 'HEAD'],
        ['GET manifest by tag', `${s.prefix}/many/manifests/latest`, 'GET'],
      ]) {
        const w = await watched(s.pid, () => load(s.port, path, method));
        if (w.value.errors > 0) log(`${s.name} ${fig}: ${w.value.errors} errors`);
        add(`${fig}, 64 connections`, 'req/s', 'higher', s.name, w.value.rps, { ceiling: small[`${method} uws`], ceilingName: 'bare uWS, same load generator' });
        add(`${fig}, 64 connections, p99`, 'ms', 'lower', s.name, w.value.p99);
      }
    }
  }
  log('small requests done');

  // ---- remote (pull-through) ----
  const upstream = await startDistribution({ label: 'upstream' });
  others.push(upstream);
  quiet.push(upstream.pid);
  const upUrl = `http://127.0.0.1:${upstream.port}`;
  const proxies = [await startDistribution({ proxyOf: upUrl })];
  others.push(proxies[0]);
  quiet.push(proxies[0].pid);
  for (const s of servers.filter((x) => x.kind === 'artifactapi')) {
    await s.createRepo({ name: 'hub', package_type: 'docker', repo_type: 'remote', upstream: { url: upUrl } });
    proxies.push({ ...s, prefix: '/v2/hub/b/up' });
  }
  proxies[0].prefix = '/v2/b/up';
  const upServer = { ...upstream, prefix: '/v2/b' };
  const cold = Array.from({ length: NOISY_REPS }, (_, i) => blob(REMOTE, 200 + i));
  const crowd = Array.from({ length: NOISY_REPS }, (_, i) => blob(REMOTE, 300 + i));
  // Small blobs for the time to first byte alone, SMALL_TTFB per proxy and repetition. That time is mostly the
  // upstream's answer to the GET (6-30 ms here, outliers past 80 ms, measured in the server), so the three samples of
  // the large pull below say little on their own.
  const smalls = Array.from({ length: REPS * SMALL_TTFB * proxies.length }, (_, i) => blob(4, 500 + i));
  // Warm-up, as every other figure has had: each proxy pulls one blob, cold then warm, large enough to take every
  // path a measured pull takes (released before the commit, written around the page cache). An artifactapi's first
  // remote pull otherwise pays for compiling that code: ≈ 30 ms more before its first byte, measured.
  const warmups = proxies.map((_, i) => blob(quick ? 16 : 96, 400 + i));
  const images = Array.from({ length: REPS }, (_, i) => Array.from({ length: LAYERS }, (_, k) => blob(LAYER, 600 + i * LAYERS + k)));
  for (const b of [...cold, ...crowd, ...smalls, ...warmups, ...images.flat()]) await push(upServer, 'monolithic PUT', 'up', b);
  for (const [i, p] of proxies.entries()) {
    for (let k = 0; k < 2; k++) {
      const r = await req(p.port, 'GET', `${p.prefix}/blobs/${warmups[i].digest}`);
      if (r.bytes !== warmups[i].mib * MiB) throw new Error(`${p.name} warm-up pull: ${r.status} ${r.bytes}`);
    }
  }
  const nameOf = (p) => (p.kind === 'distribution' ? 'distribution' : p.name);
  // artifactapi names the upstream's time to answer in Server-Timing: what is left of the time to first byte is the
  // proxy's own (distribution's proxy does not say, so those rows have no ratio).
  const upstreamShare = (figure, name, r) => {
    const dur = serverTiming(r.headers['server-timing']).upstream;
    if (dur === undefined) return;
    add(`${figure}, the upstream's answer (Server-Timing)`, 'ms', 'lower', name, dur);
    add(`${figure}, time to first byte less the upstream's answer`, 'ms', 'lower', name, r.ttfb - dur);
  };
  for (let rep = 0, next = 0; rep < REPS; rep++) {
    for (let k = 0; k < SMALL_TTFB; k++) {
      for (const p of turn(proxies, rep + k)) {
        await quietly();
        const b = smalls[next++];
        const r = await req(p.port, 'GET', `${p.prefix}/blobs/${b.digest}`);
        if (r.bytes !== b.mib * MiB) throw new Error(`${p.name} small cold pull: ${r.status} ${r.bytes}`);
        add('remote: cold pull of a 4 MiB blob, time to first byte', 'ms', 'lower', nameOf(p), r.ttfb);
        upstreamShare('remote: cold pull of a 4 MiB blob', nameOf(p), r);
      }
    }
  }
  for (let rep = 0; rep < NOISY_REPS; rep++) {
    for (const p of turn(proxies, rep)) {
      await quietly();
      const name = nameOf(p);
      const loop0 = await loopDelays(p);
      const w = await watched(p.pid, () => req(p.port, 'GET', `${p.prefix}/blobs/${cold[rep].digest}`));
      addLoopStalls(`remote: cold pull of ${REMOTE} MiB`, name, loop0, await loopDelays(p));
      if (w.value.bytes !== REMOTE * MiB) throw new Error(`${p.name} cold pull: ${w.value.status} ${w.value.bytes}`);
      add(`remote: cold pull of ${REMOTE} MiB`, 'MiB/s', 'higher', name, REMOTE / (w.value.ms / 1000), pullCeiling);
      add(`remote: cold pull of ${REMOTE} MiB, time to first byte`, 'ms', 'lower', name, w.value.ttfb);
      upstreamShare(`remote: cold pull of ${REMOTE} MiB`, name, w.value);
      addProc(`remote: cold pull of ${REMOTE} MiB`, name, w);
      // artifactapi's cold-pull clients finish before the commit's fsync (see README, remote downloads): the warm
      // pull is measured once that is done, like every figure here after the one before it.
      await deferred(`remote: cold pull of ${REMOTE} MiB`, name, p);
      const warm = await req(p.port, 'GET', `${p.prefix}/blobs/${cold[rep].digest}`);
      add(`remote: warm pull of ${REMOTE} MiB`, 'MiB/s', 'higher', name, REMOTE / (warm.ms / 1000), pullCeiling);
      const before = upstream.countBlobGets(crowd[rep].digest);
      const rs = await Promise.all(Array.from({ length: 16 }, () => req(p.port, 'GET', `${p.prefix}/blobs/${crowd[rep].digest}`)));
      if (rs.some((r) => r.bytes !== REMOTE * MiB)) throw new Error(`${p.name}: short crowd pull`);
      await new Promise((r) => setTimeout(r, 300)); // let the upstream's access log catch up
      add('remote: upstream GETs for 16 concurrent cold pulls', 'GETs', 'lower', name, upstream.countBlobGets(crowd[rep].digest) - before);
    }
  }
  // Each figure above starts on idle servers, so a proxy that stores a blob after its client is done (distribution's
  // proxy fetches it a second time for that) does that work between two measured pulls. An image's layers come one
  // after another, and there it is not.
  for (let rep = 0; rep < REPS; rep++) {
    for (const p of turn(proxies, rep)) {
      await quietly();
      const name = nameOf(p);
      const figure = `remote: cold pull of an image, ${LAYERS} layers of ${LAYER} MiB, ${LAYERS_AT_ONCE} at a time`;
      const loop0 = await loopDelays(p);
      const w = await watched(p.pid, () => pullAll(p, images[rep], LAYERS_AT_ONCE));
      add(figure, 'MiB/s', 'higher', name, (LAYERS * LAYER) / (w.value / 1000), pullCeiling);
      addProc(figure, name, w);
      addLoopStalls(figure, name, loop0, await loopDelays(p));
      await deferred(figure, name, p);
    }
  }
  log('remote done');

  // ---- generic repository ----
  for (let rep = 0; rep < REPS; rep++) {
    for (const s of servers.filter((x) => x.kind === 'artifactapi')) {
      if (rep === 0) await s.createRepo({ name: 'g', package_type: 'generic', repo_type: 'local' });
      await quietly();
      const up = await watched(s.pid, () => req(s.port, 'PUT', `/g/big-${rep}.bin`, { headers: { 'transfer-encoding': 'chunked' }, block, blocks: GENERIC, token: TOKEN }));
      if (up.value.status !== 201) throw new Error(`${s.name} generic upload: ${up.value.status}`);
      add(`generic: ${GENERIC} MiB upload`, 'MiB/s', 'higher', s.name, GENERIC / (up.value.ms / 1000), pushCeiling);
      add(`generic: ${GENERIC} MiB upload, RSS growth`, 'MiB', 'lower', s.name, up.rssGrowth);
      const down = await watched(s.pid, () => req(s.port, 'GET', `/g/big-${rep}.bin`));
      add(`generic: ${GENERIC} MiB download`, 'MiB/s', 'higher', s.name, GENERIC / (down.value.ms / 1000), pullCeiling);
      add(`generic: ${GENERIC} MiB download, RSS growth`, 'MiB', 'lower', s.name, down.rssGrowth);
      const del = await req(s.port, 'DELETE', `/g/big-${rep}.bin`, { token: TOKEN });
      if (del.status !== 204) throw new Error(`${s.name} generic DELETE: ${del.status}`);
      await collect(s, GENERIC * MiB);
    }
  }
  log('generic done');
  for (const s of servers) add('RSS once started, idle', 'MiB', 'lower', s.name, startRss.get(s.name));
  for (const s of servers) add('RSS at the end of the run', 'MiB', 'lower', s.name, rssMiB(s.pid));
} finally {
  for (const s of [...servers, ...others]) await s.stop().catch(() => {});
}

// ---- report ----
const names = [...new Set(['distribution', ...servers.map((s) => s.name)])];
const aaNames = names.filter((n) => n !== 'distribution');
const fmt = (v) => (v === undefined || Number.isNaN(v) ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
// The worst repetition in brackets: the lowest throughput, the highest latency or memory; for a figure that is
// neither better nor worse, the range.
const inBrackets = (vs, better) => (better === 'none' ? `${fmt(Math.min(...vs))}–${fmt(Math.max(...vs))}` : fmt(better === 'lower' ? Math.max(...vs) : Math.min(...vs)));
const cell = (vs, better) => (vs?.length ? `${fmt(median(vs))}${vs.length > 1 ? ` (${inBrackets(vs, better)})` : ''}` : '-');
const lines = [
  `# artifactapi vs CNCF distribution, and this machine's limits`,
  '',
  `${new Date().toISOString()} · ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB · ${quick ? 'quick mode' : 'full run'}: ${REPS} repetition(s) (${NOISY_REPS} for 16 concurrent pulls and remote cold pulls), servers alternating; cells are median (worst; the range for a figure that is neither better nor worse). "× dist" is how many times better than distribution (>1 is better, for throughput and for latency/memory alike).`,
  '',
  '## Machine ceilings',
  '',
  '| ceiling | value |',
  '|---|---|',
  ...Object.entries(ceilings).map(([k, v]) => {
    const [, name, unit] = /^(.*) \((.*)\)$/.exec(k);
    return `| ${name} | ${fmt(v)} ${unit} |`;
  }),
  '',
  // Where the cache's growth is slow, every buffered write (every server's) is bounded by it, and by how much
  // memory the host took back since the last run: the reason figures move between runs here.
  ...(reclaim.length ? [`How this machine takes memory back: ${reclaim.join('; ')}.`, ''] : []),
  '## Figures',
  '',
  `| figure | unit | ${names.join(' | ')} | ${aaNames.map((n) => `× dist (${n.replace('artifactapi ', '')})`).join(' | ')} | ceiling | best artifactapi % of ceiling |`,
  `|---|---|${names.map(() => '---').join('|')}|${aaNames.map(() => '---').join('|')}|---|---|`,
];
const json = { date: new Date().toISOString(), quick, reps: REPS, noisyReps: NOISY_REPS, machine: { cores: cpus().length, model: cpus()[0]?.model, memGiB: totalmem() / 2 ** 30, reclaim }, ceilings, rows: [] };
for (const [figure, r] of rows) {
  const med = (n) => (r.values.get(n)?.length ? median(r.values.get(n)) : undefined);
  const d = med('distribution');
  const times = aaNames.map((n) => {
    const v = med(n);
    if (r.better === 'none' || d === undefined || v === undefined || v === 0 || d === 0) return '-';
    return (r.better === 'higher' ? v / d : d / v).toFixed(2);
  });
  const best = r.better === 'none' ? NaN : aaNames.map(med).filter((v) => v !== undefined).reduce((a, b) => (r.better === 'higher' ? Math.max(a, b) : Math.min(a, b)), r.better === 'higher' ? -Infinity : Infinity);
  const pct = r.ceiling && Number.isFinite(best) ? `${((100 * best) / r.ceiling).toFixed(0)} % of ${r.ceilingName}` : '';
  lines.push(`| ${figure} | ${r.unit} | ${names.map((n) => cell(r.values.get(n), r.better)).join(' | ')} | ${times.join(' | ')} | ${r.ceiling ? fmt(r.ceiling) : ''} | ${pct} |`);
  json.rows.push({ figure, unit: r.unit, better: r.better, values: Object.fromEntries(r.values), ceiling: r.ceiling, ceilingName: r.ceilingName });
}
const md = lines.join('\n') + '\n';
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', quick ? 'latest-quick.md' : 'latest.md'), md);
writeFileSync(join(here, 'results', quick ? 'latest-quick.json' : 'latest.json'), JSON.stringify(json, null, 2));
console.log(md);
