// Minimal HTTP client helpers for the benchmarks: bodies streamed from one repeated 1 MiB block, responses
// counted, not kept.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';

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
  if (!blocks && (method === 'GET' || method === 'HEAD')) return fetchCounted(port, method, path, { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers });
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

/** One reused read buffer for every download: the client must not be what a pull measures. */
const readBuffer = Buffer.allocUnsafe(1024 * 1024);

/**
 * A GET or HEAD that counts the response body without keeping it. node:http hands on a new buffer per socket read
 * (≈ 0.5–1.1 s of client CPU per GiB here, varying with its collector); this reads into one reused buffer, as
 * registry clients do, so a pull's figure is the server's and the loopback's. Understands Content-Length, chunked
 * and read-to-close bodies.
 */
function fetchCounted(port, method, path, headers) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let head = Buffer.alloc(0);
    let res; // { status, headers } once the head is in
    let body; // the body's state machine
    let bytes = 0;
    let ttfb;
    let settled = false;
    const finish = (err) => {
      if (settled) return;
      settled = true;
      sock.destroy();
      if (err) reject(err);
      else resolve({ status: res.status, headers: res.headers, bytes, ttfb: ttfb ?? performance.now() - t0, ms: performance.now() - t0 });
    };
    const onBody = (buf) => {
      const n = body.take(buf);
      if (n < 0) finish(new Error('malformed chunked body'));
      else if (body.done) finish();
    };
    const sock = net.connect({
      host: '127.0.0.1',
      port,
      onread: {
        buffer: readBuffer,
        callback: (nread, buf) => {
          if (settled) return false;
          const data = buf.subarray(0, nread);
          if (res) return void onBody(data);
          head = Buffer.concat([head, data]);
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          const lines = head.subarray(0, end).toString('latin1').split('\r\n');
          const h = {};
          for (const l of lines.slice(1)) {
            const i = l.indexOf(':');
            h[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
          }
          res = { status: Number(lines[0].split(' ')[1]), headers: h };
          const noBody = method === 'HEAD' || res.status === 204 || res.status === 304 || (res.status >= 100 && res.status < 200);
          body = noBody ? countLength(0) : /chunked/i.test(h['transfer-encoding'] ?? '') ? countChunked() : h['content-length'] !== undefined ? countLength(Number(h['content-length'])) : countToClose();
          body.onBytes = (n) => {
            if (n > 0) ttfb ??= performance.now() - t0;
            bytes += n;
          };
          onBody(head.subarray(end + 4));
        },
      },
    });
    sock.on('error', (e) => finish(e));
    sock.on('end', () => {
      if (res && body.toClose) body.done = true;
      if (res && body.done) finish();
      else finish(new Error(`connection closed after ${bytes} body bytes`));
    });
    const lines = [`${method} ${path} HTTP/1.1`, `host: 127.0.0.1:${port}`, 'connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    sock.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

function countLength(total) {
  const s = {
    done: total === 0,
    left: total,
    take(buf) {
      const n = Math.min(buf.length, s.left);
      s.left -= n;
      s.onBytes(n);
      if (s.left === 0) s.done = true;
      return 0;
    },
  };
  return s;
}

function countToClose() {
  return { done: false, toClose: true, take(buf) { this.onBytes(buf.length); return 0; } };
}

/** Chunked transfer coding: size line, data, CRLF, …, a zero size, trailers, an empty line. */
function countChunked() {
  let state = 'size';
  let line = '';
  let left = 0;
  const s = {
    done: false,
    take(buf) {
      let i = 0;
      while (i < buf.length && !s.done) {
        if (state === 'data') {
          const n = Math.min(left, buf.length - i);
          s.onBytes(n);
          left -= n;
          i += n;
          if (left === 0) state = 'crlf';
          continue;
        }
        const c = buf[i++];
        if (c !== 0x0a) {
          if (c !== 0x0d) line += String.fromCharCode(c);
          continue;
        }
        // A whole line: a chunk size, the CRLF after data, or (after the last chunk) a trailer / the empty line.
        if (state === 'size') {
          left = parseInt(line.split(';')[0], 16);
          if (Number.isNaN(left)) return -1;
          state = left === 0 ? 'trailer' : 'data';
        } else if (state === 'crlf') {
          if (line !== '') return -1;
          state = 'size';
        } else if (line === '') s.done = true;
        line = '';
      }
      return 0;
    },
  };
  return s;
}

/** A Server-Timing header's durations by name (ms); empty without one. */
export function serverTiming(header = '') {
  const out = {};
  for (const m of header.matchAll(/(?:^|,)\s*([\w-]+);dur=([\d.]+)/g)) out[m[1]] = Number(m[2]);
  return out;
}
