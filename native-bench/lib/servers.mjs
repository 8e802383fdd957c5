// The servers a benchmark compares, started on 127.0.0.1 and stopped by the caller: artifactapi (embedded, or
// server mode on the machine's PostgreSQL and Redis with the in-process S3 server the tests use) and CNCF
// distribution (Debian's docker-registry, filesystem storage; optionally a pull-through proxy).
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './proc.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
export const TOKEN = 'bench';

async function waitUp(url) {
  for (let i = 0; i < 600; i++) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not start`);
}

function stopper(p, cleanup) {
  return async () => {
    if (p.exitCode === null) {
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
    }
    cleanup?.();
  };
}

/**
 * artifactapi with one docker local repository `b`; mode 'server' uses PostgreSQL, Redis and an S3 server. `build`:
 * the directory of the build to run (default the checkout's dist/), to compare builds side by side.
 */
export async function startArtifactapi({ engine, mode = 'embedded', label, build = join(root, 'dist') }) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'aa-bench-'));
  const env = { ...process.env, PORT: String(port), HOST: '127.0.0.1', ARTIFACTAPI_DATA_DIR: dir, ARTIFACTAPI_ADMIN_TOKEN: TOKEN, ARTIFACTAPI_HTTP_ENGINE: engine, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn', ARTIFACTAPI_GC_INTERVAL_S: '0', ARTIFACTAPI_GC_GRACE_S: '0' };
  let s3;
  let schema;
  if (mode === 'server') {
    const s3port = await freePort();
    // Its output goes where the server's does (see BENCH_KEEP_LOGS): an S3 server that dies fails the server's requests.
    const s3log = openSync(join(process.env.BENCH_KEEP_LOGS ?? dir, `s3-server-${s3port}.log`), 'a');
    s3 = spawn(process.execPath, [join(root, 'e2e-docker', 's3-server.mjs'), String(s3port), join(dir, 's3')], { stdio: ['ignore', s3log, s3log] });
    s3.once('exit', (code, signal) => code !== 0 && signal !== 'SIGTERM' && console.error(`[bench] the S3 server of ${engine} exited (${code ?? signal}); its log: ${join(process.env.BENCH_KEEP_LOGS ?? dir, `s3-server-${s3port}.log`)}`));
    await waitUp(`http://127.0.0.1:${s3port}/`).catch(() => {});
    schema = `bench_${process.pid}_${port}`;
    Object.assign(env, {
      DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
      DATABASE_SCHEMA: schema,
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      REDIS_PREFIX: `${schema}:`,
      S3_ENDPOINT: `http://127.0.0.1:${s3port}`,
      S3_BUCKET: 'artifactapi',
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      S3_FORCE_PATH_STYLE: 'true',
    });
  }
  // The server's own log (warnings and errors) goes to a file kept when BENCH_KEEP_LOGS is set.
  const logFd = openSync(join(process.env.BENCH_KEEP_LOGS ?? dir, `artifactapi-${port}.log`), 'a');
  // BENCH_SERVER_NODE_ARGS: flags for the server's node only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it.
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const p = spawn(process.execPath, [...nodeArgs, join(build, 'main.js'), 'serve'], { env, stdio: ['ignore', logFd, logFd] });
  await waitUp(`http://127.0.0.1:${port}/health`);
  const api = (body) => fetch(`http://127.0.0.1:${port}/api/v2/repositories`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await api({ name: 'b', package_type: 'docker', repo_type: 'local' });
  return {
    name: label ?? `artifactapi ${engine}${mode === 'server' ? ' (server mode)' : ''}`,
    kind: 'artifactapi',
    engine,
    port,
    prefix: '/v2/b',
    pid: p.pid,
    /** Processes that work for it (the S3 server in server mode): busy ones count as the server being busy. */
    helperPids: s3 ? [s3.pid] : [],
    token: TOKEN,
    createRepo: api,
    /** Deletes the blobs no artifact refers to any more (its own garbage collector, run between workloads). */
    collectGarbage: async () => {
      const r = await fetch(`http://127.0.0.1:${port}/api/v2/gc`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
      if (r.status !== 200) throw new Error(`artifactapi gc: ${r.status} ${await r.text()}`);
      return (await r.json()).bytesFreed;
    },
    stop: stopper(p, () => {
      s3?.kill();
      if (schema) spawnSync('psql', ['-q', '-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-c', `DROP SCHEMA IF EXISTS "${schema}" CASCADE`], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    }),
  };
}

/** distribution; with `proxyOf` it is a pull-through cache of that registry. Counts blob GETs it serves. */
export async function startDistribution({ proxyOf, label } = {}) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'aa-bench-dist-'));
  const log = join(dir, 'access.log');
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nlog: { level: info, accesslog: { disabled: false } }\nstorage: { filesystem: { rootdirectory: ${dir}/data }, delete: { enabled: true } }\nhttp: { addr: 127.0.0.1:${port} }\n` +
      (proxyOf ? `proxy: { remoteurl: ${proxyOf} }\n` : ''),
  );
  const fd = openSync(log, 'a');
  const p = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', fd, fd] });
  await waitUp(`http://127.0.0.1:${port}/v2/`);
  return {
    name: label ?? (proxyOf ? 'distribution (proxy)' : 'distribution'),
    kind: 'distribution',
    port,
    prefix: '/v2/b',
    pid: p.pid,
    /** GET requests for a blob seen in this instance's access log. */
    countBlobGets: (digest) => readFileSync(log, 'utf8').split('\n').filter((l) => l.includes(`"GET /v2/`) && l.includes(`/blobs/${digest}`)).length,
    /** Its offline collector, on the live directory: safe here because the harness runs it only while every server is idle. */
    collectGarbage: async () => {
      const r = spawnSync('/usr/bin/docker-registry', ['garbage-collect', join(dir, 'config.yml')], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0) throw new Error(`distribution garbage-collect: ${r.status} ${r.stderr}`);
    },
    stop: stopper(p, () => {
      if (process.env.BENCH_KEEP_LOGS) copyFileSync(log, join(process.env.BENCH_KEEP_LOGS, `distribution-${port}.log`));
      rmSync(dir, { recursive: true, force: true });
    }),
  };
}
