import { NO_PROXY, parseProxyUrl, ProxyUrlError } from '../engine/proxy.js';
import { badRequest } from '../errors.js';

export type RepoType = 'remote' | 'local' | 'virtual';
export const REPO_TYPES: readonly RepoType[] = ['remote', 'local', 'virtual'];

/** Names that route to the server itself, never to a repository. */
export const RESERVED_NAMES = new Set(['api', 'v2', 'health', 'metrics', 'ui', 'static', 'favicon.ico', '-', '_']);

export interface UpstreamConfig {
  url: string;
  username?: string;
  password?: string;
  /** Bearer token sent as-is. */
  token?: string;
  /**
   * The outgoing proxy for this repository's upstream requests (redirects and token realms included):
   * `http://[user:password@]host:port`, or `none` to connect directly. Absent: the server's HTTPS_PROXY/HTTP_PROXY.
   */
  proxy?: string;
}

/** Per-repository behaviour; every field optional with the documented default. */
export interface RepoSettings {
  /** Glob patterns (on the path inside the repo) answered with 403 for GET and HEAD. */
  blocklist?: string[];
  /** Remote: seconds a mutable path (index, tag) is served before revalidation. Default 300. */
  mutable_ttl_seconds?: number;
  /** Remote: seconds an upstream 404 is remembered. Default 60. */
  negative_ttl_seconds?: number;
  /** Remote: serve a stale mutable copy when the upstream fails. Default true. */
  stale_if_error?: boolean;
  /** Generic remote: extra glob patterns of mutable paths (everything else is immutable). */
  mutable_paths?: string[];
  /** Reads need the token too. Default false (anonymous reads). */
  private?: boolean;
  /** Local: allow DELETE of artifacts. Default true. */
  allow_delete?: boolean;
  /** Local: allow re-uploading an existing path (generic only). Default false: 409. */
  allow_overwrite?: boolean;
  /** Local: largest accepted upload for this repository (bytes); bounded by the server maximum. */
  max_upload_bytes?: number;
  /** Virtual: the local member that receives publishes. */
  deploy_to?: string;
  /** Remote: evict cache entries not read for this many seconds (garbage collection). */
  cache_max_age_seconds?: number;
  /** Remote: keep at most this many bytes cached, evicting least recently used first (garbage collection). */
  cache_max_bytes?: number;
  /**
   * Docker local: garbage collection deletes manifests no tag reaches (directly, through an index, or as a
   * referrer of a reachable manifest), and the layer links only they used. Default false: untagged manifests stay
   * pullable by digest, as in distribution.
   */
  gc_untagged_manifests?: boolean;
  /** RPM local: serve repodata/repomd.xml.asc (OpenPGP signature) and repomd.xml.key. Default false. */
  sign_repodata?: boolean;
}

export interface Repository {
  id: number;
  name: string;
  packageType: string;
  repoType: RepoType;
  upstream: UpstreamConfig | null;
  members: string[];
  settings: RepoSettings;
  origin: 'api' | 'config';
  createdAt: Date;
  updatedAt: Date;
}

/** What a client sends to create or replace a repository (snake_case on the wire). */
export interface RepoDefinition {
  name: string;
  package_type: string;
  repo_type: RepoType;
  upstream?: UpstreamConfig | null;
  members?: string[];
  settings?: RepoSettings;
}

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(field: string, message: string): never {
  throw badRequest('INVALID_REPOSITORY', `${field}: ${message}`, { field });
}

export function validateRepoName(name: unknown): string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    fail('name', 'must be 1-64 characters of a-z, 0-9, ".", "_", "-", starting with a letter or digit');
  }
  if (RESERVED_NAMES.has(name) || name.startsWith('.')) fail('name', `"${name}" is reserved`);
  return name;
}

function validateUpstream(v: unknown): UpstreamConfig {
  if (!isObj(v)) fail('upstream', 'must be an object with a url');
  const { url, username, password, token, proxy } = v;
  if (typeof url !== 'string') fail('upstream.url', 'is required');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    fail('upstream.url', `"${url}" is not a valid URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') fail('upstream.url', 'must be http or https');
  if (parsed.username || parsed.password) fail('upstream.url', 'put credentials in upstream.username/password, not in the URL');
  for (const [k, val] of Object.entries({ username, password, token, proxy })) {
    if (val !== undefined && val !== null && typeof val !== 'string') fail(`upstream.${k}`, 'must be a string');
  }
  const out: UpstreamConfig = { url: parsed.toString().replace(/\/+$/, '') };
  if (typeof username === 'string') out.username = username;
  if (typeof password === 'string') out.password = password;
  if (typeof token === 'string') out.token = token;
  if (typeof proxy === 'string') {
    if (proxy !== NO_PROXY) {
      try {
        parseProxyUrl(proxy);
      } catch (err) {
        if (err instanceof ProxyUrlError) fail('upstream.proxy', `${err.message} (or "${NO_PROXY}" to connect directly)`);
        throw err;
      }
    }
    out.proxy = proxy;
  }
  return out;
}

const SETTING_TYPES: Record<keyof RepoSettings, 'globs' | 'posint' | 'bool' | 'name'> = {
  blocklist: 'globs',
  mutable_ttl_seconds: 'posint',
  negative_ttl_seconds: 'posint',
  stale_if_error: 'bool',
  mutable_paths: 'globs',
  private: 'bool',
  allow_delete: 'bool',
  allow_overwrite: 'bool',
  max_upload_bytes: 'posint',
  deploy_to: 'name',
  cache_max_age_seconds: 'posint',
  cache_max_bytes: 'posint',
  gc_untagged_manifests: 'bool',
  sign_repodata: 'bool',
};

export function validateSettings(v: unknown): RepoSettings {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) fail('settings', 'must be an object');
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) {
    const kind = SETTING_TYPES[k as keyof RepoSettings];
    if (!kind) fail(`settings.${k}`, 'unknown setting');
    if (val === null || val === undefined) continue;
    switch (kind) {
      case 'globs':
        if (!Array.isArray(val) || !val.every((g) => typeof g === 'string' && g.length > 0 && g.length < 1024)) {
          fail(`settings.${k}`, 'must be a list of non-empty glob strings');
        }
        break;
      case 'posint':
        if (!Number.isSafeInteger(val) || (val as number) < 0) fail(`settings.${k}`, 'must be a non-negative integer');
        break;
      case 'bool':
        if (typeof val !== 'boolean') fail(`settings.${k}`, 'must be true or false');
        break;
      case 'name':
        validateRepoName(val);
        break;
    }
    out[k] = val;
  }
  return out as RepoSettings;
}

/**
 * Shape-check a definition from the API or the YAML file. Cross-repository checks (members exist and have the
 * same package type) need the registry and happen in the repository service.
 */
export function validateDefinition(input: unknown, knownPackageTypes: ReadonlySet<string>): RepoDefinition {
  if (!isObj(input)) throw badRequest('INVALID_REPOSITORY', 'repository definition must be a JSON object');
  const allowed = new Set(['name', 'package_type', 'repo_type', 'upstream', 'members', 'settings']);
  for (const k of Object.keys(input)) if (!allowed.has(k)) fail(k, 'unknown field');
  const name = validateRepoName(input.name);
  const packageType = input.package_type;
  if (typeof packageType !== 'string' || !knownPackageTypes.has(packageType)) {
    fail('package_type', `must be one of ${[...knownPackageTypes].sort().join(', ')}`);
  }
  const repoType = input.repo_type;
  if (typeof repoType !== 'string' || !REPO_TYPES.includes(repoType as RepoType)) fail('repo_type', 'must be remote, local or virtual');
  const def: RepoDefinition = { name, package_type: packageType, repo_type: repoType as RepoType, settings: validateSettings(input.settings) };
  if (repoType === 'remote') {
    def.upstream = validateUpstream(input.upstream);
  } else if (input.upstream !== undefined && input.upstream !== null) {
    fail('upstream', `only remote repositories have an upstream`);
  }
  if (repoType === 'virtual') {
    const members = input.members ?? [];
    if (!Array.isArray(members)) fail('members', 'must be a list of repository names');
    const seen = new Set<string>();
    for (const m of members) {
      validateRepoName(m);
      if (m === name) fail('members', 'a virtual repository cannot contain itself');
      if (seen.has(m)) fail('members', `"${m}" listed twice`);
      seen.add(m);
    }
    def.members = members as string[];
  } else if (input.members !== undefined && (!Array.isArray(input.members) || input.members.length > 0)) {
    fail('members', 'only virtual repositories have members');
  }
  if (def.settings?.deploy_to && repoType !== 'virtual') fail('settings.deploy_to', 'only virtual repositories deploy to a member');
  if (def.settings?.deploy_to && !(def.members ?? []).includes(def.settings.deploy_to)) {
    fail('settings.deploy_to', 'must be one of the members');
  }
  if (def.settings?.sign_repodata && (packageType !== 'rpm' || repoType !== 'local')) fail('settings.sign_repodata', 'only local rpm repositories sign their repodata');
  return def;
}

/** The public JSON view of a repository: credentials never leave the server. */
export function repoToJson(r: Repository): Record<string, unknown> {
  return {
    name: r.name,
    package_type: r.packageType,
    repo_type: r.repoType,
    upstream: r.upstream
      ? {
          url: r.upstream.url,
          ...(r.upstream.username ? { username: r.upstream.username } : {}),
          has_credentials: Boolean(r.upstream.password || r.upstream.token),
          // The proxy's host and port, never its credentials.
          ...(r.upstream.proxy ? { proxy: r.upstream.proxy === NO_PROXY ? NO_PROXY : `http://${parseProxyUrl(r.upstream.proxy).key}` } : {}),
        }
      : null,
    members: r.members,
    settings: r.settings,
    origin: r.origin,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  };
}
