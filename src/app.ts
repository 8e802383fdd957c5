import { join } from 'node:path';
import { AdminApi } from './api/admin.js';
import { Auth } from './api/auth.js';
import { healthReport } from './api/health.js';
import { Metrics } from './api/metrics.js';
import { BlobService } from './blobs/blob-service.js';
import { DigestLocks } from './blobs/digest-locks.js';
import { createCache } from './cache/index.js';
import type { Cache } from './cache/types.js';
import type { AppConfig } from './config.js';
import { artifactQuery } from './repos/artifact-query.js';
import { openDatabase } from './db/index.js';
import type { Database } from './db/types.js';
import { RemoteEngine } from './engine/remote.js';
import { describeProxy } from './engine/proxy.js';
import { UpstreamClient } from './engine/upstream.js';
import { HttpError, isAbort } from './errors.js';
import { drainSmallBody } from './http/request-base.js';
import { FormatRegistry } from './formats/registry.js';
import { GarbageCollector } from './gc/collector.js';
import { createHasher } from './hashing/pool.js';
import type { Hasher } from './hashing/types.js';
import { logRequest } from './http/access-log.js';
import { sendError, sendJson } from './http/respond.js';
import { Router } from './http/router.js';
import { startServer } from './http/server.js';
import type { HttpRequest, HttpResponse, RunningServer } from './http/types.js';
import { createLogger, type Logger } from './log.js';
import { loadRepoFile } from './repos/config-file.js';
import { ArtifactRowCache } from './repos/row-cache.js';
import { SigningKeys } from './repos/signing-keys.js';
import { ContentService } from './repos/content.js';
import { LocalRepositories } from './repos/local.js';
import { RepoRegistry } from './repos/registry.js';
import { RegistryApi } from './registry/handler.js';
import { UploadSessions } from './registry/uploads.js';
import { createBlobStore } from './storage/index.js';
import { DIRECT_AFTER } from './storage/durable-file.js';
import type { BlobStore } from './storage/types.js';

export interface App {
  readonly config: AppConfig;
  readonly server: RunningServer;
  readonly db: Database;
  readonly cache: Cache;
  readonly store: BlobStore;
  readonly repos: RepoRegistry;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Base URL of the running server (http://127.0.0.1:port). */
  readonly url: string;
  stop(graceMs?: number): Promise<void>;
}

/** Wire every part from the configuration and start serving. Each part is embedded or server-backed independently. */
export async function startApp(config: AppConfig, opts: { log?: Logger; store?: BlobStore } = {}): Promise<App> {
  const log = opts.log ?? createLogger();
  const closers: Array<() => Promise<unknown>> = [];
  const closeAll = async () => {
    for (const c of closers.reverse()) await c().catch((err) => log.error({ err }, 'shutdown step failed'));
  };
  try {
    const hasher: Hasher = createHasher({ threads: config.hashThreads });
    closers.push(() => hasher.close());
    const store =
      opts.store ??
      (await createBlobStore(config.s3 ? { driver: 's3', ...config.s3 } : { driver: 'fs', dir: config.dataDir, directWrites: config.directWrites }));
    closers.push(() => store.close());
    const db = await openDatabase({
      url: config.databaseUrl,
      dataDir: config.dataDir,
      schema: config.databaseSchema,
      onRetry: (err) => log.warn({ err }, 'the embedded database engine aborted while creating a new database; created it again'),
    });
    closers.push(() => db.close());
    const cache = await createCache({ url: config.redisUrl, prefix: config.redisPrefix });
    closers.push(() => cache.close());

    const metrics = new Metrics();
    closers.push(metrics.watchEventLoop());
    metrics.watchHasher(() => hasher.stats().streams);
    const formats = new FormatRegistry();
    const auth = new Auth(db, log);
    await auth.init(config.adminToken, config.dataDir);
    const repos = new RepoRegistry(db, cache, formats.types, log);
    await repos.start();
    closers.push(() => repos.stop());
    if (config.configFile) await repos.declare(await loadRepoFile(config.configFile));

    const digestLocks = new DigestLocks(cache);
    const blobs = new BlobService(store, db, hasher, digestLocks);
    const upstream = new UpstreamClient(config.upstream);
    closers.push(() => upstream.close());
    const rows = new ArtifactRowCache(db, cache, log);
    await rows.init();
    closers.push(() => rows.close());
    const remote = new RemoteEngine({ db, rows, cache, blobs, hasher, upstream, metrics, log, spoolDir: join(config.dataDir, 'spool'), spoolDirectAfter: config.directWrites ? DIRECT_AFTER : undefined });
    await remote.init();
    const local = new LocalRepositories({ db, rows, blobs, metrics, maxUploadBytes: config.maxUploadBytes });
    const content = new ContentService({ repos, formats, remote, local, auth, cache, keys: new SigningKeys(db), artifacts: (r) => artifactQuery(db, r.id), publicUrl: config.publicUrl });
    const admin = new AdminApi(repos, auth, db);
    const uploads = new UploadSessions(db, cache, store, blobs, hasher);
    const registry = new RegistryApi({ repos, content, auth, db, rows, blobs, uploads, maxUploadBytes: config.maxUploadBytes });
    // Abandoned docker pushes: sessions idle longer than the configured age are dropped with their bytes, hourly.
    const reaper = setInterval(() => {
      uploads.reap(config.uploadSessionMaxAgeMs).catch((err) => log.warn({ err: (err as Error).message }, 'reaping upload sessions failed'));
    }, 3600_000);
    reaper.unref();
    closers.push(async () => clearInterval(reaper));
    const gc = new GarbageCollector({ db, rows, store, locks: digestLocks, uploads, repos: () => repos.list(), log });
    const gcOptions = (dryRun: boolean) => ({ dryRun, graceMs: config.gc.graceMs, uploadMaxAgeMs: config.uploadSessionMaxAgeMs });
    if (config.gc.intervalMs > 0) {
      const timer = setInterval(() => {
        gc.run(gcOptions(false)).catch((err) => log.error({ err: (err as Error).message }, 'garbage collection failed'));
      }, config.gc.intervalMs);
      timer.unref();
      closers.push(async () => clearInterval(timer));
    }

    const router = new Router();
    router.add('GET', '/health', async (req, res) => {
      const report = await healthReport({ db, store, cache });
      sendJson(res, report.status === 'ok' ? 200 : 503, report);
    });
    router.add('GET', '/metrics', (_req, res) => {
      res.status(200).setHeader('Content-Type', 'text/plain; version=0.0.4; charset=utf-8').end(metrics.render());
    });
    router.add('GET', '/api/v2/repositories', (req, res) => admin.listRepos(req, res));
    router.add('POST', '/api/v2/repositories', (req, res) => admin.createRepo(req, res));
    router.add('GET', '/api/v2/repositories/:name', (req, res, p) => admin.getRepo(req, res, p.name!));
    router.add('PATCH', '/api/v2/repositories/:name', (req, res, p) => admin.updateRepo(req, res, p.name!));
    router.add('DELETE', '/api/v2/repositories/:name', (req, res, p) => admin.deleteRepo(req, res, p.name!));
    router.add('GET', '/api/v2/repositories/:name/artifacts', (req, res, p) => admin.listArtifacts(req, res, p.name!));
    router.add('POST', '/api/v2/gc', async (req, res) => {
      auth.requireAdmin(req);
      const report = await gc.run(gcOptions(req.query.get('dry_run') === 'true'));
      if (!report) throw new HttpError(409, 'GC_RUNNING', 'garbage collection is already running (on this or another replica)');
      sendJson(res, 200, report);
    });

    const handler = async (req: HttpRequest, res: HttpResponse) => {
      try {
        if (req.rawPath === '/v2' || req.rawPath.startsWith('/v2/')) return await registry.handle(req, res);
        const m = router.match(req.method, req.rawPath);
        if (m && m !== 'method-not-allowed') return await m.handler(req, res, m.params);
        if (m === 'method-not-allowed') throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} not allowed on ${req.rawPath}`);
        if (req.rawPath.startsWith('/api/') || req.rawPath === '/api') throw new HttpError(404, 'NOT_FOUND', `no API endpoint ${req.rawPath}`);
        // Everything else is repository content: /{repo}/{path...}
        const slash = req.rawPath.indexOf('/', 1);
        const repoName = decodeURIComponent(slash < 0 ? req.rawPath.slice(1) : req.rawPath.slice(1, slash));
        if (!repoName) {
          return sendJson(res, 200, { service: 'artifactapi', api: '/api/v2/repositories', health: '/health', metrics: '/metrics' });
        }
        await content.handle(req, res, repoName, slash < 0 ? '' : req.rawPath.slice(slash + 1));
      } catch (err) {
        if (!res.finished && !res.headersSent && !isAbort(err)) await drainSmallBody(req);
        sendError(res, err);
      }
    };

    const server = await startServer(config.engine, {
      host: config.host,
      port: config.port,
      handler,
      onFinish: (req, res, ms) => {
        const repo = String(req.log.repo ?? '-');
        metrics.requests.inc({ repo, method: req.method, status: String(res.getStatus()) });
        if (req.contentLength) metrics.bytesIn.inc({ repo }, req.contentLength);
        metrics.bytesOut.inc({ repo }, res.bytesWritten);
        logRequest(log, req, res, ms);
      },
    });
    log.info({ port: server.port, engine: server.engine, db: db.driver, cache: cache.driver, storage: store.driver }, 'artifactapi listening');
    const proxy = describeProxy(config.upstream.proxy);
    if (proxy) log.info(proxy, 'upstream requests go through an outgoing proxy');
    return {
      config,
      server,
      db,
      cache,
      store,
      repos,
      metrics,
      log,
      url: `http://127.0.0.1:${server.port}`,
      stop: async (graceMs = 5_000) => {
        // The server first (drain in-flight requests), then what they used.
        await server.close(graceMs).catch((err) => log.error({ err }, 'closing the server failed'));
        await closeAll();
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
