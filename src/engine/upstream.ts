import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import type { UpstreamConfig } from '../repos/model.js';
import { readBounded } from '../util/read-bounded.js';
import { Http1Client, type Http1Response } from './http1-client.js';
import { NO_PROXY, parseProxyUrl, ProxySelector, type ProxyRoute, type ProxySettings } from './proxy.js';

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string>;
  body: Readable;
  /** Milliseconds until the status line and headers arrived. */
  ms: number;
}

export interface UpstreamRequest {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface UpstreamOptions {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** The outgoing proxy; none when absent or empty. */
  proxy?: ProxySettings;
  /** Extra TLS options (a private CA, in tests; NODE_EXTRA_CA_CERTS otherwise). */
  tls?: ConnectionOptions;
}

/** Redirects followed per request (registries send blobs to a CDN or to pre-signed storage URLs). */
const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** A token endpoint's answer is small; more than this is not a token. */
const MAX_TOKEN_RESPONSE = 1024 * 1024;

/**
 * HTTP client for upstreams: keep-alive pool, connect and idle timeouts, per-repository
 * credentials. Bodies are never decoded (Content-Encoding passes through untouched: an artifact's
 * bytes are what its digest covers).
 */
export class UpstreamClient {
  private readonly http: Http1Client;
  private readonly tokens: TokenCache;

  constructor(opts: UpstreamOptions) {
    const proxy = new ProxySelector(opts.proxy ?? {});
    this.http = new Http1Client({
      connectTimeoutMs: opts.connectTimeoutMs,
      idleTimeoutMs: opts.idleTimeoutMs,
      keepAliveMs: 30_000,
      maxPerOrigin: 64,
      ...(proxy.enabled ? { proxyFor: (url: URL) => proxy.routeFor(url) } : {}),
      ...(opts.tls ? { tls: opts.tls } : {}),
    });
    this.tokens = new TokenCache((url, headers, signal, via) => this.follow(url, 'GET', headers, signal, via));
  }

  /** The proxy a repository's requests go through: its own (or none), else undefined for the server's. */
  private viaFor(up: UpstreamConfig): ProxyRoute | null | undefined {
    if (up.proxy === undefined) return undefined;
    return up.proxy === NO_PROXY ? null : parseProxyUrl(up.proxy);
  }

  authHeaders(up: UpstreamConfig): Record<string, string> {
    if (up.token) return { authorization: `Bearer ${up.token}` };
    if (up.username !== undefined || up.password !== undefined) {
      return { authorization: `Basic ${Buffer.from(`${up.username ?? ''}:${up.password ?? ''}`).toString('base64')}` };
    }
    return {};
  }

  /**
   * A request that follows redirects. Authorization goes only where it was meant: a redirect to another origin
   * (a CDN, a pre-signed storage URL) is followed without it.
   */
  private async follow(url: string, method: 'GET' | 'HEAD', headers: Record<string, string>, signal?: AbortSignal, via?: ProxyRoute | null): Promise<Http1Response> {
    let target = new URL(url);
    let h = headers;
    for (let hop = 0; ; hop++) {
      const res = await this.http.request(target, { method, headers: h, signal, ...(via !== undefined ? { via } : {}) });
      const location = res.headers.location;
      if (!REDIRECTS.has(res.status) || location === undefined || hop === MAX_REDIRECTS) return res;
      res.body.resume();
      const next = new URL(location, target);
      if (next.origin !== target.origin) h = Object.fromEntries(Object.entries(h).filter(([k]) => !['authorization', 'cookie'].includes(k.toLowerCase())));
      target = next;
    }
  }

  async fetch(up: UpstreamConfig, url: string, req: UpstreamRequest = {}): Promise<UpstreamResponse> {
    const t0 = performance.now();
    const via = this.viaFor(up);
    const send = (auth: Record<string, string>) => this.follow(url, req.method ?? 'GET', { 'user-agent': 'artifactapi', ...auth, ...req.headers }, req.signal, via);
    // The repository's credentials are for its upstream: a URL an index names on another host (a CDN, a
    // pre-signed storage URL, someone else's server) never sees them, nor does a token realm that host names.
    const credentials = sameOrigin(url, up.url) ? this.authHeaders(up) : {};
    const cachedToken = this.tokens.lookup(url, credentials);
    let res = await send(cachedToken ? { authorization: `Bearer ${cachedToken}` } : credentials);
    // Registries answer 401 with a Bearer challenge: fetch a token from its realm (with our credentials, if any)
    // and try once more. Tokens are cached per credentials and realm/service/scope until they expire.
    const challenge = res.status === 401 ? parseBearerChallenge(res.headers['www-authenticate']) : null;
    if (challenge) {
      res.body.resume();
      const token = await this.tokens.fetch(challenge, url, credentials, req.signal, via);
      res = await send({ authorization: `Bearer ${token}` });
    }
    return { status: res.status, headers: res.headers, body: res.body, ms: performance.now() - t0 };
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

export interface BearerChallenge {
  realm: string;
  service?: string;
  scope?: string;
}

/** `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"` */
export function parseBearerChallenge(h: string | undefined): BearerChallenge | null {
  if (!h || !/^bearer\s/i.test(h)) return null;
  const params: Record<string, string> = {};
  for (const m of h.slice(7).matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) params[m[1]!.toLowerCase()] = m[2]!;
  if (!params.realm) return null;
  return { realm: params.realm, service: params.service, scope: params.scope };
}

/**
 * Registry bearer tokens, shared by every request to the same realm/service/scope with the same credentials until
 * they expire. A token carries the access of the credentials it was issued for: two remotes of one registry with
 * different credentials (or one with none) must never use each other's, or a remote without access to a private
 * image would pull it with another's token.
 */
class TokenCache {
  private readonly byScope = new Map<string, { token: string; expires: number }>();
  /** The scope a URL last needed (per credentials), so later requests send the token without a 401 round trip. */
  private readonly scopeOfPrefix = new Map<string, string>();

  constructor(private readonly get: (url: string, headers: Record<string, string>, signal?: AbortSignal, via?: ProxyRoute | null) => Promise<Http1Response>) {}

  private prefix(url: string, auth: Record<string, string>): string {
    return `${identity(auth)} ${url.replace(/\/(manifests|blobs|tags)\/.*$/, '')}`;
  }

  /** The cached token for `url` with these credentials (the repository's, or none). */
  lookup(url: string, auth: Record<string, string>): string | undefined {
    const key = this.scopeOfPrefix.get(this.prefix(url, auth));
    const hit = key ? this.byScope.get(key) : undefined;
    return hit && hit.expires > Date.now() ? hit.token : undefined;
  }

  async fetch(c: BearerChallenge, url: string, auth: Record<string, string>, signal?: AbortSignal, via?: ProxyRoute | null): Promise<string> {
    const key = `${identity(auth)} ${c.realm} ${c.service ?? ''} ${c.scope ?? ''}`;
    const hit = this.byScope.get(key);
    if (hit && hit.expires > Date.now()) {
      this.scopeOfPrefix.set(this.prefix(url, auth), key);
      return hit.token;
    }
    const u = new URL(c.realm);
    if (c.service) u.searchParams.set('service', c.service);
    if (c.scope) u.searchParams.set('scope', c.scope);
    const res = await this.get(u.href, { 'user-agent': 'artifactapi', ...auth }, signal, via);
    const body = parseTokenResponse(await readBounded(res.body, MAX_TOKEN_RESPONSE, () => new Error('token response too large')).catch(() => null));
    const token = body.token ?? body.access_token;
    if (res.status !== 200 || !token) throw new Error(`token endpoint ${u.origin}${u.pathname} answered ${res.status}`);
    // Renew a little early; registries default to 60 s when they do not say.
    const ttl = Math.max(10, (body.expires_in ?? 60) - 10) * 1000;
    this.byScope.set(key, { token, expires: Date.now() + ttl });
    this.scopeOfPrefix.set(this.prefix(url, auth), key);
    return token;
  }
}

/** Whose token it is: a digest of the credentials sent to the realm (never the credentials themselves), or anonymous. */
function identity(auth: Record<string, string>): string {
  const a = auth.authorization;
  return a ? createHash('sha256').update(a).digest('base64url') : 'anonymous';
}

interface TokenResponse {
  token?: string;
  access_token?: string;
  expires_in?: number;
}

function parseTokenResponse(body: Buffer | null): TokenResponse {
  try {
    const v = JSON.parse(body?.toString('utf8') ?? '') as unknown;
    if (typeof v !== 'object' || v === null) return {};
    const o = v as Record<string, unknown>;
    return {
      ...(typeof o.token === 'string' ? { token: o.token } : {}),
      ...(typeof o.access_token === 'string' ? { access_token: o.access_token } : {}),
      ...(typeof o.expires_in === 'number' && Number.isFinite(o.expires_in) ? { expires_in: o.expires_in } : {}),
    };
  } catch {
    return {};
  }
}

