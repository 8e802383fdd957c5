// Minimal HTTP client helpers for the benchmarks: bodies streamed from one repeated 1 MiB block, responses
// counted, not kept.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';

export const MiB = 1024 * 1024;

/** A blob of `mib` MiB: `seed` picks the block, so distinct seeds give distinct digests without storing them. */
export function blob(mib, seed = 0) {
  const block = randomBytes(MiB);
  block.writeUInt32LE(seed, 0);
  const h = createHash('sha256');
  for (let i = 0; i < mib; i++) h.update(block);
  return { mib, block, digest: `sha256:${h.digest('hex')}` };
}

/**
 * One request; sends `blocks` copies of `block` (chunked when no length is given). Resolves with status, headers,
 * byte count and time to first byte (ms).
 */
export function req(port, method, path, { headers = {}, block, blocks = 0, token } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const r = http.request({ host: '127.0.0.1', port, method, path, agent: false, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } }, (res) => {
      let n = 0;
      let ttfb;
      res.on('data', (c) => {
        ttfb ??= performance.now() - t0;
        n += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, bytes: n, ttfb: ttfb ?? performance.now() - t0, ms: performance.now() - t0 }));
      res.on('error', reject);
    });
    r.on('error', reject);
    let i = 0;
    const pump = () => {
      while (i < blocks) {
        i++;
        if (!r.write(block)) return r.once('drain', pump);
      }
      r.end();
    };
    pump();
  });
}
