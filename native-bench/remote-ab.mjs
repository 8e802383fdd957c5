#!/usr/bin/env node
// Remote cold pulls, A/B: distribution's proxy and one or more artifactapi builds side by side, each a remote in
// front of the same upstream distribution, pulling fresh blobs in turn (the order reversed every repetition). For
// trying a change to the remote path against the build before it: this host's cold pulls move ±15–30 % between
// repetitions, so only alternating runs say anything. Per pull: throughput, time to first byte, the server's CPU
// seconds (and its two busiest threads: the event loop and the hashing worker), how busy the machine was, and the
// server's minor page faults. The disk's direct-write speed is measured before and after the series: on this VM it
// has slow phases (≈ 0.6–0.8 GiB/s) in which it, and not the CPU, bounds a proxy that writes the blob durably as
// it passes.
//   node native-bench/remote-ab.mjs [build dir...]   (default: dist; e.g. a copy of dist/ made before a change)
//   env: REPS (default 6), MIB (default 512), ENGINE (uws | node, default uws), MODE (embedded | server, default
//   embedded: server mode runs each build on the machine's PostgreSQL and Redis with an S3 server), DIRECT=1 (the
//   upstream's own answer to the same pulls, as a row of its own)
import { basename, resolve } from 'node:path';
import { directWriteCeiling } from './lib/ceilings.mjs';
import { blob, MiB, req, serverTiming } from './lib/http.mjs';
import { cpuSeconds, median, minorFaults, settle, threadCpuSeconds, watched } from './lib/proc.mjs';
import { push } from './lib/push.mjs';
import { startArtifactapi, startDistribution } from './lib/servers.mjs';

const REPS = Number(process.env.REPS ?? 6);
const SIZE = Number(process.env.MIB ?? 512);
const engine = process.env.ENGINE ?? 'uws';
const mode = process.env.MODE ?? 'embedded';
const builds = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['dist'];

const diskRate = async () => {
  const r = await directWriteCeiling(512, blob(1).block);
  return r === undefined ? 'no O_DIRECT here' : `${r.toFixed(0)} MiB/s`;
};
const diskBefore = await diskRate();
const upstream = await startDistribution({ label: 'upstream' });
const upUrl = `http://127.0.0.1:${upstream.port}`;
const servers = [upstream];
try {
  const proxy = await startDistribution({ proxyOf: upUrl });
  servers.push(proxy);
  const proxies = [{ ...proxy, name: 'distribution (proxy)', prefix: '/v2/b/up' }, ...(process.env.DIRECT ? [{ ...upstream, name: 'upstream itself', prefix: '/v2/b/up' }] : [])];
  for (const [i, build] of builds.entries()) {
    const s = await startArtifactapi({ engine, mode, label: `${i + 1}: ${basename(resolve(build))}`, build: resolve(build) });
    servers.push(s);
    await s.createRepo({ name: 'hub', package_type: 'docker', repo_type: 'remote', upstream: { url: upUrl } });
    proxies.push({ ...s, prefix: '/v2/hub/b/up' });
  }
  // One blob per proxy to warm it up (cold, then warm), then one per pull.
  const blobs = Array.from({ length: proxies.length * (REPS + 1) }, (_, i) => blob(SIZE, 700 + i));
  for (const b of blobs) await push({ ...upstream, prefix: '/v2/b' }, 'monolithic PUT', 'up', b);
  const get = async (p, b) => {
    const r = await req(p.port, 'GET', `${p.prefix}/blobs/${b.digest}`);
    if (r.bytes !== SIZE * MiB) throw new Error(`${p.name}: ${r.status}, ${r.bytes} bytes`);
    return r;
  };
  let next = 0;
  const pull = (p) => get(p, blobs[next++]);
  for (const p of proxies) {
    const b = blobs[next++];
    await get(p, b);
    await get(p, b);
  }
  const pids = servers.flatMap((s) => [s.pid, ...(s.helperPids ?? [])]);
  const results = new Map(proxies.map((p) => [p.name, []]));
  console.log('rep | server | MiB/s | first byte ms (the upstream\'s answer) | CPU s | busiest threads s | machine busy % | minor faults | upstream CPU s | CPU s after the pull | upstream CPU s after | ms some task waited for I/O');
  // Every pull starts on idle servers: the warm-up's are here, each pull's own after it (see below).
  await settle(pids);
  for (let rep = 0; rep < REPS; rep++) {
    for (const p of rep % 2 ? [...proxies].reverse() : proxies) {
      const threads0 = threadCpuSeconds(p.pid);
      const faults0 = minorFaults(p.pid);
      const up0 = cpuSeconds(upstream.pid);
      const w = await watched(p.pid, () => pull(p));
      const threads1 = threadCpuSeconds(p.pid);
      const busiest = [...threads1].map(([tid, s]) => s - (threads0.get(tid) ?? 0)).sort((a, b) => b - a).slice(0, 2);
      const up1 = cpuSeconds(upstream.pid);
      const after0 = cpuSeconds(p.pid);
      // What the proxy (and the upstream for it) still does once its client has the last byte: storing the blob, for
      // a proxy that defers it.
      await settle(pids);
      const r = { mibs: SIZE / (w.value.ms / 1000), ttfb: w.value.ttfb, upstreamMs: serverTiming(w.value.headers['server-timing']).upstream, cpu: w.cpu, busiest, busy: w.machineBusy, faults: minorFaults(p.pid) - faults0, up: up1 - up0, after: cpuSeconds(p.pid) - after0, upAfter: cpuSeconds(upstream.pid) - up1, io: w.ioWaitMs ?? NaN };
      results.get(p.name).push(r);
      console.log(`${rep} | ${p.name} | ${r.mibs.toFixed(0)} | ${r.ttfb.toFixed(1)}${r.upstreamMs === undefined ? '' : ` (${r.upstreamMs.toFixed(1)})`} | ${r.cpu.toFixed(2)} | ${busiest.map((x) => x.toFixed(2)).join(', ')} | ${r.busy.toFixed(1)} | ${r.faults} | ${r.up.toFixed(2)} | ${r.after.toFixed(2)} | ${r.upAfter.toFixed(2)} | ${r.io.toFixed(0)}`);
    }
  }
  const diskAfter = await diskRate();
  console.log(`\n${SIZE} MiB cold pulls, ${REPS} each, ${engine} engine: median (min–max); the disk's direct write + fdatasync: ${diskBefore} before, ${diskAfter} after`);
  console.log('server | MiB/s | first byte ms | CPU s | machine busy % | CPU s after the pull | upstream CPU s during / after');
  const span = (xs, d) => `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`;
  for (const [name, rs] of results) {
    console.log(`${name} | ${span(rs.map((r) => r.mibs), 0)} | ${span(rs.map((r) => r.ttfb), 1)} | ${span(rs.map((r) => r.cpu), 2)} | ${span(rs.map((r) => r.busy), 1)} | ${span(rs.map((r) => r.after), 2)} | ${span(rs.map((r) => r.up), 2)} / ${span(rs.map((r) => r.upAfter), 2)}`);
  }
} finally {
  for (const s of servers.reverse()) await s.stop();
}
