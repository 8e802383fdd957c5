import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accepts, freePort } from './ports.js';
import { terminate } from './processes.js';

/** A real static upstream: nginx from apt serving a directory on 127.0.0.1, with an access log to count requests. */
export interface StaticUpstream {
  url: string;
  root: string;
  port: number;
  /** Requests nginx logged for a path (waits a moment for the log to flush). */
  countRequests(path: string, method?: string): Promise<number>;
  /** Stops nginx and removes its directory (the served tree with it, unless the caller gave its own root). */
  stop(): Promise<void>;
  /** Stops nginx and keeps everything, for restart (an upstream that goes down and comes back). */
  halt(): Promise<void>;
  /** kill -9: connections in flight are cut mid-body. */
  kill(): void;
  restart(): Promise<void>;
}

export const NGINX = process.env.NGINX_BIN ?? '/usr/sbin/nginx';

async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await accepts(port)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nginx did not start on port ${port}`);
}

export async function startNginx(
  opts: { root?: string; limitRate?: string; basicAuth?: { user: string; password: string }; tls?: { certPath: string; keyPath: string } } = {},
): Promise<StaticUpstream> {
  const dir = await mkdtemp(join(tmpdir(), 'aa-nginx-'));
  const root = opts.root ?? join(dir, 'www');
  await mkdir(root, { recursive: true });
  // nginx started as root serves as an unprivileged user: the tree must be world-readable.
  await chmod(dir, 0o755);
  await chmod(root, 0o755);
  const port = await freePort();
  const log = join(dir, 'access.log');
  if (opts.basicAuth) {
    const hash = execFileSync('openssl', ['passwd', '-apr1', opts.basicAuth.password]).toString().trim();
    await writeFile(join(dir, 'htpasswd'), `${opts.basicAuth.user}:${hash}\n`);
  }
  const conf = join(dir, 'nginx.conf');
  await writeFile(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log ${log};
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  types { application/json json; text/html html; application/gzip gz tgz; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port}${opts.tls ? ' ssl' : ''};
    ${opts.tls ? `ssl_certificate ${opts.tls.certPath}; ssl_certificate_key ${opts.tls.keyPath};` : ''}
    root ${root};
    autoindex on;
    ${opts.limitRate ? `limit_rate ${opts.limitRate};` : ''}
    ${opts.basicAuth ? `auth_basic "upstream"; auth_basic_user_file ${join(dir, 'htpasswd')};` : ''}
  }
}
`,
  );
  let proc: ChildProcess | undefined;
  const start = async () => {
    proc = spawn(NGINX, ['-c', conf, '-p', dir], { stdio: 'ignore' });
    await waitListening(port);
  };
  await start();
  const upstream: StaticUpstream = {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    root,
    port,
    async countRequests(path: string, method = 'GET') {
      await new Promise((r) => setTimeout(r, 50));
      const text = await readFile(log, 'utf8').catch(() => '');
      return text.split('\n').filter((l) => l.includes(`"${method} ${path} HTTP`)).length;
    },
    async halt() {
      if (proc) await terminate(proc);
    },
    async stop() {
      await upstream.halt();
      await rm(dir, { recursive: true, force: true });
    },
    kill() {
      proc?.kill('SIGKILL');
    },
    async restart() {
      await upstream.halt();
      await start();
    },
  };
  return upstream;
}
