import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ENGINES } from './helpers/app.js';
import { raw, sha256hex } from './helpers/http.js';

const TOKEN = `tok-${randomBytes(8).toString('hex')}`;

/** `artifactapi serve` as a real process (embedded mode); resolves with its port once it listens. */
function serve(dataDir: string, engine: string): Promise<{ proc: ChildProcess; port: number; exited: Promise<number | null> }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
    env: { ...process.env, VITEST: '', LOG_LEVEL: 'info', PORT: '0', HOST: '127.0.0.1', ARTIFACTAPI_DATA_DIR: dataDir, ARTIFACTAPI_HTTP_ENGINE: engine, ARTIFACTAPI_ADMIN_TOKEN: TOKEN, ARTIFACTAPI_HASH_THREADS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /"port":(\d+)[^\n]*artifactapi listening/.exec(out);
      if (m) resolve({ proc, port: Number(m[1]), exited });
    });
    proc.stderr!.on('data', () => {});
    void exited.then((code) => reject(new Error(`server exited (${code}) before listening:\n${out}`)));
  });
}

describe.each(ENGINES)('SIGTERM drains in-flight requests [%s]', (engine) => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('an upload in progress completes, new connections are refused, the process exits 0, the artifact survives', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'aa-drain-'));
    dirs.push(dir);
    const s = await serve(dir, engine);
    const base = `http://127.0.0.1:${s.port}`;
    const auth = { authorization: `Bearer ${TOKEN}` };
    const created = await raw(base, 'POST', '/api/v2/repositories', {
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'files', package_type: 'generic', repo_type: 'local' }),
    });
    expect(created.status).toBe(201);

    const body = randomBytes(8 * 1024 * 1024);
    const half = body.length / 2;
    const upload = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(`${base}/files/slow.bin`, { method: 'PUT', headers: { ...auth, 'content-length': body.length }, agent: false }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      });
      req.on('error', reject);
      req.write(body.subarray(0, half));
      // The rest goes only after the server has been told to stop.
      setTimeout(() => {
        s.proc.kill('SIGTERM');
        setTimeout(() => req.end(body.subarray(half)), 700);
      }, 300);
    });
    await new Promise((r) => setTimeout(r, 600));
    // Draining: the listener is closed, a new client is turned away.
    await expect(fetch(`${base}/health`)).rejects.toThrow();
    const done = await upload;
    expect(done.status, done.text).toBe(201);
    expect(await s.exited).toBe(0);

    const again = await serve(dir, engine);
    try {
      const got = await raw(`http://127.0.0.1:${again.port}`, 'GET', '/files/slow.bin');
      expect(got.status).toBe(200);
      expect(sha256hex(got.body)).toBe(sha256hex(body));
    } finally {
      again.proc.kill('SIGTERM');
      await again.exited;
    }
  }, 60_000);
});
