// A docker blob push through one of the OCI upload flows, as registry clients make them.
import { MiB, req, serverTiming } from './http.mjs';
import { TOKEN } from './servers.mjs';

/**
 * Pushes blob `b` (see http.mjs) to `s` (a server from servers.mjs, `prefix` its registry path) under `image` by
 * `flow`: 'monolithic PUT', 'streamed PATCH + PUT' or '10 MiB PATCHes + PUT'. Resolves with the throughput
 * of the whole push, the time of the closing PUT on its own (NaN for a monolithic PUT), and the parts of the closing
 * request the server named in its Server-Timing header (artifactapi: body, commit, link; distribution: none).
 */
export async function push(s, flow, image, b) {
  const t0 = performance.now();
  const post = await req(s.port, 'POST', `${s.prefix}/${image}/blobs/uploads/`, { headers: { 'content-length': 0 }, token: TOKEN });
  const loc = post.headers.location;
  const sep = loc.includes('?') ? '&' : '?';
  // uWS (this build) resets a request whose Content-Length is ≥ 1e9: big bodies go chunked, for every server.
  const lengthHeaders = (n) => (n * MiB >= 1e9 ? { 'transfer-encoding': 'chunked' } : { 'content-length': n * MiB });
  let t1;
  let close;
  if (flow === 'monolithic PUT') {
    t1 = performance.now();
    const r = await req(s.port, 'PUT', `${loc}${sep}digest=${b.digest}`, { headers: lengthHeaders(b.mib), block: b.block, blocks: b.mib, token: TOKEN });
    if (r.status !== 201) throw new Error(`${s.name} ${flow}: ${r.status}`);
    close = r;
  } else {
    const step = flow === 'streamed PATCH + PUT' ? b.mib : 10;
    let cur = loc;
    for (let off = 0; off < b.mib; off += step) {
      const n = Math.min(step, b.mib - off);
      const h = { ...lengthHeaders(n), 'content-range': `${off * MiB}-${(off + n) * MiB - 1}` };
      const r = await req(s.port, 'PATCH', cur, { headers: h, block: b.block, blocks: n, token: TOKEN });
      if (r.status !== 202) throw new Error(`${s.name} ${flow} PATCH: ${r.status}`);
      cur = r.headers.location ?? cur;
    }
    t1 = performance.now();
    const r = await req(s.port, 'PUT', `${cur}${cur.includes('?') ? '&' : '?'}digest=${b.digest}`, { headers: { 'content-length': 0 }, token: TOKEN });
    if (r.status !== 201) throw new Error(`${s.name} ${flow} PUT: ${r.status}`);
    close = r;
  }
  const t2 = performance.now();
  return { mibs: b.mib / ((t2 - t0) / 1000), closeMs: flow === 'monolithic PUT' ? NaN : t2 - t1, closeTiming: serverTiming(close.headers['server-timing']) };
}
