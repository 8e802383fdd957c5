import path from 'node:path';
import { ProxySelector, ProxyUrlError, type ProxySettings } from './engine/proxy.js';
import type { EngineName } from './http/types.js';
import type { S3Config } from './storage/s3-store.js';

/** Everything the server reads from its environment, validated once at start-up. */
export interface AppConfig {
  host: string;
  port: number;
  engine: EngineName;
  dataDir: string;
  databaseUrl?: string;
  /** PostgreSQL schema to use (tests run each suite in its own). */
  databaseSchema?: string;
  redisUrl?: string;
  redisPrefix: string;
  s3?: S3Config;
  adminToken?: string;
  /** YAML file declaring repositories. */
  configFile?: string;
  /** Largest accepted upload body in bytes. */
  maxUploadBytes: number;
  /** Base URL clients reach us at, for rewritten links (default: from the Host header). */
  publicUrl?: string;
  upstream: {
    connectTimeoutMs: number;
    /** Abort an upstream response that sends nothing for this long. */
    idleTimeoutMs: number;
    /** The outgoing proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), validated. */
    proxy: ProxySettings;
  };
  hashThreads: number;
  /** V8 options set at start-up (see DEFAULT_V8_FLAGS). */
  v8Flags: string[];
  /** fs driver: write uploads and remote spools past 16 MiB around the page cache (O_DIRECT), then read them back in the background. */
  directWrites: boolean;
  /** Docker upload sessions idle for longer than this are reaped. */
  uploadSessionMaxAgeMs: number;
  gc: {
    /** Run garbage collection this often (0: only on demand). */
    intervalMs: number;
    /** Unreferenced blobs younger than this survive (a push may not have put its manifest yet). */
    graceMs: number;
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function int(env: NodeJS.ProcessEnv, name: string, def: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < min) throw new ConfigError(`${name} must be an integer ≥ ${min}, got "${raw}"`);
  return v;
}

/** curl's names, upper case first (lower case is what most tools write); an empty value means none. */
function proxySettings(env: NodeJS.ProcessEnv): ProxySettings {
  const pick = (name: string) => env[name] || env[name.toLowerCase()] || undefined;
  const settings: ProxySettings = {};
  for (const [key, name] of [['https', 'HTTPS_PROXY'], ['http', 'HTTP_PROXY'], ['noProxy', 'NO_PROXY']] as const) {
    const v = pick(name);
    if (v !== undefined) settings[key] = v;
  }
  try {
    new ProxySelector(settings);
  } catch (err) {
    if (err instanceof ProxyUrlError) throw new ConfigError(`HTTPS_PROXY / HTTP_PROXY: ${err.message}`);
    throw err;
  }
  return settings;
}

function bool(env: NodeJS.ProcessEnv, name: string, def: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return def;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

/** Sizes like `10g`, `512m`, `1048576`. */
export function parseSize(raw: string): number {
  const m = /^(\d+)\s*([kmgt]?)i?b?$/i.exec(raw.trim());
  if (!m) throw new ConfigError(`invalid size "${raw}"`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Number(m[1]) * mult;
}

/**
 * V8's concurrent and incremental marking off. A transfer through node:http makes a fresh buffer per socket read;
 * that memory, new to V8 each time, kept a full mark-compact going: first on four helper threads (85 per 2 GiB
 * pushed, ≈ 1 s of CPU per GiB; concurrent marking off: 23, push 510–535 → 765–770 MiB/s), then, marked in steps on
 * the main thread, one every ≈ 300 ms, each ≈ 35 ms of marking that freed almost nothing (the heap stays at
 * ≈ 20 MB). Without incremental marking the heap is collected whole, only once it has grown, and a push runs none:
 * the main thread's CPU for a 1 GiB node:http push went from 1.23–1.44 to 1.04–1.26 s, remote pulls took 0.05–0.08 s
 * less per 512 MiB, small requests and their p99 measured the same. A whole collection of this heap pauses 16–24 ms.
 */
export const DEFAULT_V8_FLAGS = '--no-concurrent-marking --no-incremental-marking';

function v8Flags(env: NodeJS.ProcessEnv): string[] {
  const raw = env.ARTIFACTAPI_V8_FLAGS ?? DEFAULT_V8_FLAGS;
  const flags = raw.split(/\s+/).filter(Boolean);
  for (const f of flags) if (!/^--[a-z0-9_-]+(=[\w.-]+)?$/.test(f)) throw new ConfigError(`ARTIFACTAPI_V8_FLAGS: "${f}" is not a V8 option (--name or --name=value)`);
  return flags;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const engine = (env.ARTIFACTAPI_HTTP_ENGINE || 'uws').toLowerCase();
  if (engine !== 'uws' && engine !== 'node') throw new ConfigError(`ARTIFACTAPI_HTTP_ENGINE must be "uws" or "node", got "${engine}"`);
  const dataDir = path.resolve(env.ARTIFACTAPI_DATA_DIR || './data');
  let s3: AppConfig['s3'];
  if (env.S3_BUCKET) {
    s3 = {
      endpoint: env.S3_ENDPOINT || undefined,
      bucket: env.S3_BUCKET,
      region: env.S3_REGION || 'us-east-1',
      accessKeyId: env.S3_ACCESS_KEY_ID || undefined,
      secretAccessKey: env.S3_SECRET_ACCESS_KEY || undefined,
      forcePathStyle: bool(env, 'S3_FORCE_PATH_STYLE', Boolean(env.S3_ENDPOINT)),
      prefix: env.S3_PREFIX || undefined,
    };
  } else if (env.S3_ENDPOINT) {
    throw new ConfigError('S3_ENDPOINT is set but S3_BUCKET is not');
  }
  const publicUrl = env.ARTIFACTAPI_PUBLIC_URL?.replace(/\/+$/, '') || undefined;
  if (publicUrl && !/^https?:\/\/[^/]+(\/.*)?$/.test(publicUrl)) throw new ConfigError(`ARTIFACTAPI_PUBLIC_URL must be an http(s) URL`);
  return {
    host: env.HOST || '0.0.0.0',
    port: int(env, 'PORT', 8080),
    engine,
    dataDir,
    databaseUrl: env.DATABASE_URL || undefined,
    databaseSchema: env.DATABASE_SCHEMA || undefined,
    redisUrl: env.REDIS_URL || undefined,
    redisPrefix: env.REDIS_PREFIX || 'artifactapi:',
    s3,
    adminToken: env.ARTIFACTAPI_ADMIN_TOKEN || undefined,
    configFile: env.ARTIFACTAPI_CONFIG || undefined,
    maxUploadBytes: env.ARTIFACTAPI_MAX_UPLOAD_SIZE ? parseSize(env.ARTIFACTAPI_MAX_UPLOAD_SIZE) : 64 * 1024 ** 3,
    publicUrl,
    upstream: {
      connectTimeoutMs: int(env, 'ARTIFACTAPI_UPSTREAM_CONNECT_TIMEOUT_MS', 10_000, 1),
      idleTimeoutMs: int(env, 'ARTIFACTAPI_UPSTREAM_IDLE_TIMEOUT_MS', 60_000, 1),
      proxy: proxySettings(env),
    },
    hashThreads: int(env, 'ARTIFACTAPI_HASH_THREADS', 2, 1),
    v8Flags: v8Flags(env),
    directWrites: bool(env, 'ARTIFACTAPI_DIRECT_WRITES', true),
    uploadSessionMaxAgeMs: int(env, 'ARTIFACTAPI_UPLOAD_SESSION_MAX_AGE_S', 24 * 3600, 60) * 1000,
    gc: {
      intervalMs: int(env, 'ARTIFACTAPI_GC_INTERVAL_S', 6 * 3600) * 1000,
      graceMs: int(env, 'ARTIFACTAPI_GC_GRACE_S', 3600) * 1000,
    },
  };
}
