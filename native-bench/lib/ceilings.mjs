// The machine's own limits, measured in the same run as the servers: SHA-256 on one core (node:crypto and
// hash-wasm), loopback HTTP streaming through a uWS server with no logic, sequential disk write with fdatasync
// and read back.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSHA256 } from 'hash-wasm';
import { MiB, req } from './http.mjs';

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
