#!/usr/bin/env node
// SHA-256 throughput on this machine: the engines on one core, and the worker-pool stream the server uses
// (node:crypto for the hot path, hash-wasm when the state must be saved for another replica).
// Usage: npm run build && node native-bench/hash-bench.mjs [MiB=1024]   → native-bench/results/hash.md
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createSHA256 } from 'hash-wasm';
import { createHasher } from '../dist/hashing/pool.js';

const here = dirname(fileURLToPath(import.meta.url));
const mib = Number(process.argv[2] ?? 1024);
const block = randomBytes(4 * 1024 * 1024);
const blocks = (mib * 1024 * 1024) / block.length;

function time(fn) {
  const t0 = process.hrtime.bigint();
  return Promise.resolve(fn()).then(() => Number(process.hrtime.bigint() - t0) / 1e9);
}

const rows = [];
const rate = (s) => `${(mib / s).toFixed(0)} MiB/s`;

rows.push(['node:crypto, main thread', rate(await time(() => { const h = createHash('sha256'); for (let i = 0; i < blocks; i++) h.update(block); h.digest(); }))]);
const wasm = await createSHA256();
rows.push(['hash-wasm, main thread', rate(await time(() => { wasm.init(); for (let i = 0; i < blocks; i++) wasm.update(block); wasm.digest(); }))]);

const pool = createHasher({ threads: 1 });
async function poolRun(opts) {
  // Fresh owned buffers, as the HTTP engines hand them over (each chunk is transferred, not copied).
  const src = Readable.from((function* () { for (let i = 0; i < blocks * 4; i++) { const b = Buffer.allocUnsafeSlow(1024 * 1024); block.copy(b, 0, 0, b.length); yield b; } })());
  const s = pool.stream(opts);
  await pipeline(src, s, new Writable({ highWaterMark: 8 << 20, write(_c, _e, cb) { cb(); } }));
  await s.result;
}
rows.push(['worker pool stream (node:crypto, hot path)', rate(await time(() => poolRun({ algorithms: ['sha256'] })))]);
rows.push(['worker pool stream (hash-wasm, resumable state)', rate(await time(() => poolRun({ algorithms: ['sha256'], resumable: true })))]);
rows.push(['worker pool stream (sha256 + sha512 + sha1 + md5)', rate(await time(() => poolRun({ algorithms: ['sha256', 'sha512', 'sha1', 'md5'] })))]);
await pool.close();

const md = [`# SHA-256 throughput, ${mib} MiB (${new Date().toISOString()})`, '', '| engine | throughput |', '|---|---|', ...rows.map((r) => `| ${r[0]} | ${r[1]} |`), ''].join('\n');
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'hash.md'), md);
console.log(md);
