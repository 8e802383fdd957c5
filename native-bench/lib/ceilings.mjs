// The machine's own limits, measured in the same run as the servers: SHA-256 on one core (node:crypto and
// hash-wasm), loopback HTTP streaming through a uWS server with no logic, sequential disk write with fdatasync
// and read back; what filling the page cache costs, and how the VM takes memory back.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSHA256 } from 'hash-wasm';
import { MiB, req } from './http.mjs';
import { loadInProcess } from './load.mjs';

const here = dirname(fileURLToPath(import.meta.url));

function rate(mib, t0) {
  return mib / ((performance.now() - t0) / 1000);
}

export async function sha256Ceilings(mib, block) {
  let t0 = performance.now();
  const h = createHash('sha256');
  for (let i = 0; i < mib; i++) h.update(block);
  h.digest();
  const node = rate(mib, t0);
  const w = await createSHA256();
  t0 = performance.now();
  w.init();
  for (let i = 0; i < mib; i++) w.update(block);
  w.digest();
  return { nodeCrypto: node, hashWasm: rate(mib, t0) };
}

export async function loopbackCeiling(mib, block) {
  const p = spawn(process.execPath, [join(here, 'bare-uws.cjs')], { stdio: ['ignore', 'pipe', 'inherit'], cwd: join(here, '..', '..') });
  const port = await new Promise((r) => p.stdout.once('data', (d) => r(Number(String(d).trim()))));
  try {
    let t0 = performance.now();
    await req(port, 'PUT', '/x', { block, blocks: mib, headers: { 'transfer-encoding': 'chunked' } });
    const up = rate(mib, t0);
    t0 = performance.now();
    const g = await req(port, 'GET', `/x?mib=${mib}`);
    if (g.bytes !== mib * MiB) throw new Error(`bare uWS sent ${g.bytes} bytes`);
    return { upload: up, download: rate(mib, t0) };
  } finally {
    p.kill();
  }
}

/**
 * Small requests against servers with no logic (uWS and node:http answering a manifest-sized document), with the
 * load generator the server rows use: the most either engine can answer on this machine, client included.
 */
export async function smallRequestCeilings(seconds) {
  const out = {};
  for (const engine of ['uws', 'node']) {
    const p = spawn(process.execPath, [join(here, 'bare-small.cjs'), engine], { stdio: ['ignore', 'pipe', 'inherit'], cwd: join(here, '..', '..') });
    const port = await new Promise((r) => p.stdout.once('data', (d) => r(Number(String(d).trim()))));
    try {
      for (const method of ['HEAD', 'GET']) {
        const r = await loadInProcess({ url: `http://127.0.0.1:${port}/v2/x/manifests/latest`, method, connections: 64, seconds });
        out[`${method} ${engine}`] = r.rps;
      }
    } finally {
      p.kill();
    }
  }
  return out;
}

/** Write `mib` MiB and fdatasync (what a durable commit costs), then read it back (page cache, or disk if dropped). */
export async function diskCeiling(mib, block, dir = tmpdir()) {
  const d = mkdtempSync(join(dir, 'aa-disk-'));
  const file = join(d, 'f');
  try {
    const fh = await open(file, 'w');
    let t0 = performance.now();
    for (let i = 0; i < mib; i++) await fh.write(block);
    await fh.datasync();
    await fh.close();
    const write = rate(mib, t0);
    let dropped = false;
    try {
      writeFileSync('/proc/sys/vm/drop_caches', '1');
      dropped = true;
    } catch {
      /* not allowed here: the read is from the page cache */
    }
    const rh = await open(file, 'r');
    const buf = Buffer.allocUnsafe(MiB);
    t0 = performance.now();
    while ((await rh.read(buf, 0, MiB)).bytesRead > 0);
    await rh.close();
    return { write, read: rate(mib, t0), readFrom: dropped ? 'disk' : 'page cache' };
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}

/**
 * What filling the page cache costs here, which bounds every buffered write (distribution's and ours): `mib` MiB
 * written without sync into a new file (the cache grows into memory the guest may have given back to the host),
 * then, right after deleting it, into another (memory just freed); and the same bytes with O_DIRECT.
 */
export async function pageCacheCeilings(mib, block, dir = tmpdir()) {
  const d = mkdtempSync(join(dir, 'aa-cache-'));
  const buffered = async (name) => {
    const fh = await open(join(d, name), 'w');
    const t0 = performance.now();
    for (let i = 0; i < mib; i++) await fh.write(block);
    const r = rate(mib, t0);
    await fh.close();
    return r;
  };
  try {
    // Free page reporting hands memory freed a moment ago (by the runs before) back to the host after ≈ 2 s.
    await new Promise((r) => setTimeout(r, 4000));
    const fresh = await buffered('a');
    rmSync(join(d, 'a'));
    const reused = await buffered('b');
    rmSync(join(d, 'b'));
    const direct = await directWriteCeiling(mib, block, d);
    return { fresh, reused, direct };
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}

/**
 * `mib` MiB written around the page cache (O_DIRECT, 2 MiB writes, as the spool and uploads do) and fdatasync'd into
 * a new file under `dir`: what a durable store can take here. This disk moves between phases (≈ 0.6–0.8 GiB/s and
 * 1.5–2.4) from one hour to the next. Undefined where the filesystem refuses O_DIRECT.
 */
export async function directWriteCeiling(mib, block, dir = tmpdir()) {
  const { constants } = await import('node:fs');
  const d = mkdtempSync(join(dir, 'aa-direct-'));
  try {
    // O_DIRECT wants an aligned buffer: a WebAssembly memory starts on a page boundary.
    const slab = Buffer.from(new WebAssembly.Memory({ initial: 32 }).buffer, 0, 2 * MiB);
    for (let o = 0; o < slab.length; o += block.length) block.copy(slab, o);
    const fh = await open(join(d, 'f'), constants.O_WRONLY | constants.O_CREAT | (constants.O_DIRECT ?? 0)).catch(() => undefined);
    if (!fh) return undefined;
    try {
      const t0 = performance.now();
      for (let i = 0; i < mib; i += 2) await fh.write(slab, 0, slab.length, i * MiB);
      await fh.datasync();
      return rate(mib, t0);
    } catch {
      return undefined; // no O_DIRECT on this filesystem
    } finally {
      await fh.close();
    }
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}

/**
 * How this VM takes memory back, which makes buffered I/O figures move between runs: the virtio balloon's free
 * page reporting (freed guest pages go back to the host and are faulted in again on the next use) and DAMON
 * schemes that page out memory left idle.
 */
export function memoryReclaim() {
  const notes = [];
  try {
    for (const dev of readdirSync('/sys/bus/virtio/devices')) {
      const base = `/sys/bus/virtio/devices/${dev}`;
      if (readFileSync(`${base}/device`, 'utf8').trim() !== '0x0005') continue; // balloon
      const features = readFileSync(`${base}/features`, 'utf8').trim();
      notes.push(`virtio balloon present, free page reporting ${features[5] === '1' ? 'on' : 'off'}`);
    }
  } catch {
    /* not a virtio guest */
  }
  try {
    const k = '/sys/kernel/mm/damon/admin/kdamonds';
    for (let i = 0; i < Number(readFileSync(`${k}/nr_kdamonds`, 'utf8')); i++) {
      if (readFileSync(`${k}/${i}/state`, 'utf8').trim() !== 'on') continue;
      const s = `${k}/${i}/contexts/0/schemes`;
      for (let j = 0; j < Number(readFileSync(`${s}/nr_schemes`, 'utf8')); j++) {
        const action = readFileSync(`${s}/${j}/action`, 'utf8').trim();
        const age = Number(readFileSync(`${s}/${j}/access_pattern/age/min`, 'utf8'));
        const aggrUs = Number(readFileSync(`${k}/${i}/contexts/0/monitoring_attrs/intervals/aggr_us`, 'utf8'));
        notes.push(`DAMON scheme on: ${action} of memory idle for ${((age * aggrUs) / 1e6).toFixed(0)} s or more`);
      }
    }
  } catch {
    /* no DAMON sysfs */
  }
  return notes;
}
