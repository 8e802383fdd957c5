import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accepts, freePort } from './ports.js';
import { terminate } from './processes.js';

export const TINYPROXY = '/usr/bin/tinyproxy';
export const HAVE_TINYPROXY = existsSync(TINYPROXY);

/** A real forward proxy (tinyproxy from apt) on 127.0.0.1: CONNECT tunnels and absolute-form requests. */
export interface ForwardProxy {
  /** `http://[user:password@]127.0.0.1:port`, as HTTPS_PROXY / HTTP_PROXY take it. */
  url: string;
  port: number;
  /** The request lines it received (`CONNECT host:port HTTP/1.1`, `GET http://… HTTP/1.1`), oldest first. */
  requests(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startTinyproxy(opts: { user?: string; password?: string } = {}): Promise<ForwardProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'aa-tinyproxy-'));
  const port = await freePort();
  const log = join(dir, 'tinyproxy.log');
  const conf = join(dir, 'tinyproxy.conf');
  // No ConnectPort line: CONNECT to any port (the test upstreams listen on ephemeral ones).
  await writeFile(
    conf,
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 60',
      `LogFile "${log}"`,
      'LogLevel Connect',
      'MaxClients 100',
      'Allow 127.0.0.1',
      `PidFile "${join(dir, 'tinyproxy.pid')}"`,
      ...(opts.user ? [`BasicAuth ${opts.user} ${opts.password ?? ''}`] : []),
      '',
    ].join('\n'),
  );
  const proc: ChildProcess = spawn(TINYPROXY, ['-d', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  for (let i = 0; ; i++) {
    if (await accepts(port)) break;
    if (i > 200 || proc.exitCode !== null) {
      proc.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
      throw new Error(`tinyproxy did not start on port ${port}: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const auth = opts.user ? `${encodeURIComponent(opts.user)}:${encodeURIComponent(opts.password ?? '')}@` : '';
  return {
    url: `http://${auth}127.0.0.1:${port}`,
    port,
    async requests() {
      const text = await readFile(log, 'utf8').catch(() => '');
      return [...text.matchAll(/Request \(file descriptor \d+\): (.+)$/gm)].map((m) => m[1]!.trim());
    },
    async stop() {
      await terminate(proc);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
