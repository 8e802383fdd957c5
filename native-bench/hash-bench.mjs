#!/usr/bin/env node
// Hashing throughput on this machine: SHA-256 engines on the main thread, and the worker-pool stream the
// server uses (node:crypto on the hot path, hash-wasm when the state must be saved for another replica),
// with how busy the main thread (the event loop) was meanwhile.
//
// Usage: npx tsc -p . (or `make build`), then  node native-bench/hash-bench.mjs [MiB=1024]
// It imports the built module from dist/; the table goes to stdout and native-bench/results/hash.md.
//
// Every row hashes the same bytes (a 1 MiB block repeated) and must find the same SHA-256, so a row
// that is fast because it is wrong fails the run. Pool rows feed the stream without allocating: owned chunks
// are recycled from its output (as the HTTP engines hand over fresh owned buffers), sliced chunks are views
// into the block (as sockets and undici hand them over, which the stream must copy).
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { createSHA256 } from 'hash-wasm';
import { createHasher } from '../dist/hashing/pool.js';

const here = dirname(fileURLToPath(import.meta.url));
const MiB = 1024 * 1024;
const mib = Number(process.argv[2] ?? 1024);
// 16 KiB of random bytes repeated: a chunk of any size used here has the same bytes at any offset, so recycled
// owned chunks keep the stream equal to the main-thread rows' input (hashing speed does not depend on the data).
const block = Buffer.concat(Array(64).fill(randomBytes(16 * 1024)));

/** @param {() => unknown} fn @returns {Promise<{ sec: number, busy: number }>} */
async function measure(fn) {
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  await fn();
  const sec = (performance.now() - t0) / 1000;
  return { sec, busy: performance.eventLoopUtilization(elu0).utilization };
}

/** @type {string[][]} */
const rows = [];
let expected = '';
/** @param {string} name @param {number} bytes @param {{ sec: number, busy: number }} m @param {string | undefined} digest */
function record(name, bytes, m, digest) {
  if (digest !== expected) throw new Error(`${name}: wrong digest ${digest}`);
  rows.push([name, `${(bytes / MiB / m.sec).toFixed(0)} MiB/s`, `${(m.busy * 100).toFixed(0)} %`]);
}

{
  const h = createHash('sha256');
  const m = await measure(() => { for (let i = 0; i < mib; i++) h.update(block); });
  expected = h.digest('hex');
  record('node:crypto, main thread', mib * MiB, m, expected);
}
{
  // The same bytes spread over 256 MiB, so that each read comes from memory (or another core's cache), as a chunk
  // from the event loop does in the hashing worker; staged: copied into one 1 MiB buffer first, as the worker does.
  const spread = Buffer.allocUnsafe(256 * MiB);
  for (let i = 0; i < 256; i++) block.copy(spread, i * MiB);
  const at = (i) => spread.subarray((i % 256) * MiB, ((i % 256) + 1) * MiB);
  const direct = createHash('sha256');
  record('node:crypto, main thread, bytes outside this core\'s cache', mib * MiB, await measure(() => { for (let i = 0; i < mib; i++) direct.update(at(i)); }), direct.digest('hex'));
  const stage = Buffer.allocUnsafeSlow(MiB);
  const staged = createHash('sha256');
  record('  the same, staged through a 1 MiB buffer', mib * MiB, await measure(() => { for (let i = 0; i < mib; i++) { stage.set(at(i)); staged.update(stage); } }), staged.digest('hex'));
}
{
  const w = await createSHA256();
  w.init();
  const m = await measure(() => { for (let i = 0; i < mib; i++) w.update(block); });
  record('hash-wasm, main thread', mib * MiB, m, w.digest('hex'));
}

/** `mib` MiB of `block` as `chunk`-byte chunks: owned Buffers recycled from `free`, or views into `block`. */
function source(chunk, owned, free) {
  let sent = 0;
  return new Readable({
    highWaterMark: MiB,
    read() {
      while (sent < mib * MiB) {
        const off = sent % MiB;
        let b = block.subarray(off, off + chunk);
        if (owned) {
          b = free.pop() ?? Buffer.from(b); // a fresh Buffer of ≥ 4 KiB owns its ArrayBuffer
          if (b.length !== chunk) throw new Error('recycled chunk of the wrong size');
        }
        sent += chunk;
        if (!this.push(b)) return;
      }
      this.push(null);
    },
  });
}

/** @param {import('../dist/hashing/types.js').Hasher} pool */
async function poolRun(pool, opts, chunk, owned) {
  /** @type {Buffer[]} */
  const free = [];
  const s = pool.stream(opts);
  const sink = new Writable({ highWaterMark: 8 * MiB, write(c, _e, cb) { if (owned) free.push(c); cb(); } });
  await pipeline(source(chunk, owned, free), s, sink);
  return (await s.result).digests.sha256;
}

const pool = createHasher({ threads: 1 });
const stream = async (name, opts, chunk, owned) => {
  let digest;
  const m = await measure(async () => { digest = await poolRun(pool, opts, chunk, owned); });
  record(name, mib * MiB, m, digest);
};
await stream('pool stream, node:crypto, 1 MiB owned chunks', { algorithms: ['sha256'] }, MiB, true);
await stream('pool stream, node:crypto, 64 KiB owned chunks', { algorithms: ['sha256'] }, 64 * 1024, true);
await stream('pool stream, node:crypto, 16 KiB sliced chunks (batched)', { algorithms: ['sha256'] }, 16 * 1024, false);
await stream('pool stream, hash-wasm (resumable state), 1 MiB owned', { algorithms: ['sha256'], resumable: true }, MiB, true);
await stream('pool stream, sha256+sha512+sha1+md5, 1 MiB owned', { algorithms: ['sha256', 'sha512', 'sha1', 'md5'] }, MiB, true);
await pool.close();

{
  const two = createHasher({ threads: 2 });
  /** @type {(string | undefined)[]} */
  let digests = [];
  const m = await measure(async () => {
    digests = await Promise.all([0, 1].map(() => poolRun(two, { algorithms: ['sha256'] }, MiB, true)));
  });
  await two.close();
  for (const d of digests) if (d !== expected) throw new Error(`2 streams: wrong digest ${d}`);
  record('2 concurrent pool streams on 2 threads, node:crypto (total)', 2 * mib * MiB, m, expected);
}

const md = [
  `# Hashing throughput, ${mib} MiB per stream, ${new Date().toISOString()}`,
  '',
  '| engine | throughput | main thread busy |',
  '|---|---|---|',
  ...rows.map((r) => `| ${r.join(' | ')} |`),
  '',
].join('\n');
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'hash.md'), md);
console.log(md);
