#!/usr/bin/env node
// A lean HTTP/1.1 load generator: raw keep-alive sockets, one request in flight per connection, minimal response
// parsing (status line, Content-Length, chunked), correct for HEAD (autocannon and Debian's wrk wait for a body
// after a HEAD answer with Content-Length and report 0). On a 2-core machine the client competes with the server
// for CPU, so it must cost far less per request than the server does. Run as its own process:
//   node native-bench/lib/load.mjs '{"url":"http://127.0.0.1:8080/x","method":"HEAD","connections":64,"seconds":4}'
// prints {"rps","p50","p99","errors","requests"} as JSON.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

/** Runs `load(spec)` in a process of its own (so it does not share this one's event loop); resolves with its result. */
export function loadInProcess(spec) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (c) => (out += c));
    p.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load generator exited ${code}`))));
  });
}

export function load({ url, method = 'GET', connections = 64, seconds = 4, headers = {} }) {
  const u = new URL(url);
  const head = method === 'HEAD';
  const reqBytes = Buffer.from(
    `${method} ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n` + Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n',
  );
  const lat = [];
  let requests = 0;
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const one = () =>
    new Promise((resolve) => {
      const s = net.connect({ host: u.hostname, port: Number(u.port || 80), noDelay: true });
      let buf = Buffer.alloc(0);
      let sent = 0;
      let need = -1; // body bytes still expected for the current response; -1 while reading the head
      const send = () => {
        if (performance.now() >= end) return s.end(), resolve();
        sent = performance.now();
        s.write(reqBytes);
      };
      const done = (status) => {
        requests++;
        if (status >= 400) errors++;
        if (lat.length < 500_000) lat.push(performance.now() - sent);
        send();
      };
      let status = 0;
      let chunked = false;
      s.on('connect', send);
      s.on('data', (c) => {
        buf = buf.length ? Buffer.concat([buf, c]) : c;
        for (;;) {
          if (need < 0) {
            const i = buf.indexOf('\r\n\r\n');
            if (i < 0) return;
            const h = buf.subarray(0, i).toString('latin1');
            buf = buf.subarray(i + 4);
            status = Number(h.slice(9, 12));
            const cl = /\r\ncontent-length:\s*(\d+)/i.exec(h);
            chunked = /\r\ntransfer-encoding:\s*chunked/i.test(h);
            need = head || status === 204 || status === 304 ? 0 : cl ? Number(cl[1]) : 0;
          }
          if (chunked && !head) {
            const i = buf.indexOf('0\r\n\r\n'); // good enough for small bodies
            if (i < 0) return;
            buf = buf.subarray(i + 5);
          } else {
            if (buf.length < need) return;
            buf = buf.subarray(need);
          }
          need = -1;
          done(status);
        }
      });
      s.on('error', () => {
        errors++;
        resolve();
      });
      s.on('close', resolve);
    });
  return Promise.all(Array.from({ length: connections }, one)).then(() => {
    const secs = (performance.now() - t0) / 1000;
    lat.sort((a, b) => a - b);
    const q = (p) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? NaN;
    return { rps: requests / secs, p50: q(0.5), p99: q(0.99), errors, requests };
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(JSON.stringify(await load(JSON.parse(process.argv[2]))) + '\n');
}
