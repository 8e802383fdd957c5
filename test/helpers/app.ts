import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { startApp, type App } from '../../src/app.js';
import { loadConfig, type AppConfig } from '../../src/config.js';
import type { EngineName } from '../../src/http/types.js';
import { createLogger } from '../../src/log.js';
import type { BlobStore } from '../../src/storage/types.js';

export const ENGINES: EngineName[] = ['uws', 'node'];

export interface DriverSet {
  name: string;
  db: 'postgres' | 'pglite';
  cache: 'redis' | 'memory';
  store: 'fs' | 's3';
}

/** Embedded mode (what `make run` gives) and server mode (PostgreSQL + Redis + S3). */
export const DRIVER_SETS: DriverSet[] = [
  { name: 'embedded(pglite,memory,fs)', db: 'pglite', cache: 'memory', store: 'fs' },
  { name: 'server(postgres,redis,s3)', db: 'postgres', cache: 'redis', store: 's3' },
];

export const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestApp {
  app: App;
  url: string;
  token: string;
  dataDir: string;
  auth: { authorization: string };
  /** Create a repository through the admin API; throws on a non-201. */
  createRepo(def: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

export interface TestAppOptions {
  engine: EngineName;
  drivers: DriverSet;
  env?: Record<string, string>;
  /** Wrap the store the app gets (e.g. to count reads). */
  wrapStore?: (store: BlobStore) => BlobStore;
  /** Share state with another instance (a second replica). */
  shared?: SharedState;
}

/** What two replicas share: the database schema, the Redis prefix, the S3 bucket. */
/** The in-process S3 server the storage tests also use (test/helpers/s3-server.ts). */
interface S3TestServer {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  stop(): Promise<void>;
}

export interface SharedState {
  schema: string;
  redisPrefix: string;
  s3?: S3TestServer;
  token: string;
}

export function newSharedState(): SharedState {
  const id = randomBytes(6).toString('hex');
  return { schema: `t_${id}`, redisPrefix: `aa-test:${id}:`, token: `tok-${randomBytes(12).toString('hex')}` };
}

export async function startTestApp(opts: TestAppOptions): Promise<TestApp> {
  const shared = opts.shared ?? newSharedState();
  const dataDir = await mkdtemp(join(tmpdir(), 'aa-app-'));
  const env: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    ARTIFACTAPI_HTTP_ENGINE: opts.engine,
    ARTIFACTAPI_DATA_DIR: dataDir,
    ARTIFACTAPI_ADMIN_TOKEN: shared.token,
    ARTIFACTAPI_HASH_THREADS: '1',
    ...opts.env,
  };
  if (opts.drivers.db === 'postgres') {
    env.DATABASE_URL = PG_URL;
    env.DATABASE_SCHEMA = shared.schema;
  }
  if (opts.drivers.cache === 'redis') {
    env.REDIS_URL = REDIS_URL;
    env.REDIS_PREFIX = shared.redisPrefix;
  }
  let ownS3: S3TestServer | undefined;
  if (opts.drivers.store === 's3') {
    if (!shared.s3) {
      const { startS3Server } = await import('./s3-server.js');
      shared.s3 = ownS3 = (await startS3Server()) as S3TestServer;
    }
    const s3 = shared.s3;
    Object.assign(env, {
      S3_ENDPOINT: s3.endpoint,
      S3_BUCKET: s3.bucket,
      S3_REGION: 'us-east-1',
      S3_ACCESS_KEY_ID: s3.accessKeyId,
      S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      S3_FORCE_PATH_STYLE: 'true',
    });
  }
  const config: AppConfig = loadConfig(env as NodeJS.ProcessEnv);
  let store: BlobStore | undefined;
  if (opts.wrapStore) {
    const { createBlobStore } = await import('../../src/storage/index.js');
    store = opts.wrapStore(await createBlobStore(config.s3 ? { driver: 's3', ...config.s3 } : { driver: 'fs', dir: config.dataDir }));
  }
  const app = await startApp(config, { log: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'), store });
  const auth = { authorization: `Bearer ${shared.token}` };
  return {
    app,
    url: app.url,
    token: shared.token,
    dataDir,
    auth,
    async createRepo(def) {
      const res = await fetch(`${app.url}/api/v2/repositories`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(def) });
      if (res.status !== 201) throw new Error(`createRepo ${def.name}: ${res.status} ${await res.text()}`);
    },
    async stop() {
      await app.stop(1000);
      await rm(dataDir, { recursive: true, force: true });
      if (ownS3) await ownS3.stop();
      if (!opts.shared) await dropShared(shared, opts.drivers);
    },
  };
}

export async function dropShared(shared: SharedState, drivers: DriverSet): Promise<void> {
  if (drivers.db === 'postgres') {
    const sql = postgres(PG_URL, { max: 1, onnotice: () => {} });
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${shared.schema}" CASCADE`).catch(() => {});
    await sql.end();
  }
}

/**
 * A format's usual three repositories: `{prefix}-local`, `{prefix}-remote` over `upstream` (revalidated after 1 s
 * unless `remoteSettings` says otherwise) and the virtual `virtualName` over both, uploading to the local one.
 */
export async function createTrio(t: TestApp, packageType: string, prefix: string, virtualName: string, upstream: string, remoteSettings: Record<string, unknown> = { mutable_ttl_seconds: 1 }): Promise<void> {
  const local = `${prefix}-local`;
  const remote = `${prefix}-remote`;
  await t.createRepo({ name: local, package_type: packageType, repo_type: 'local' });
  await t.createRepo({ name: remote, package_type: packageType, repo_type: 'remote', upstream: { url: upstream }, settings: remoteSettings });
  await t.createRepo({ name: virtualName, package_type: packageType, repo_type: 'virtual', members: [local, remote], settings: { deploy_to: local } });
}

/** afterAll of a suite: stop what was started (in order; absent ones skipped) and remove work directories. */
export async function stopAll(...items: Array<{ stop(): unknown } | string | undefined>): Promise<void> {
  for (const item of items) {
    if (item === undefined) continue;
    if (typeof item === 'string') await rm(item, { recursive: true, force: true });
    else await item.stop();
  }
}
