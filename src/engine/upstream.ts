import { Agent, request, type Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import type { UpstreamConfig } from '../repos/model.js';

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
}

function flatten(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/**
 * HTTP client for upstreams: keep-alive pool, connect and idle timeouts, per-repository
 * credentials. Bodies are never decoded (Content-Encoding passes through untouched: an artifact's
 * bytes are what its digest covers).
 */
export class UpstreamClient {
  private readonly agent: Agent;
  private readonly tokens: TokenCache;

  constructor(private readonly opts: UpstreamOptions) {
    this.agent = new Agent({
      connect: { timeout: opts.connectTimeoutMs },
      headersTimeout: opts.idleTimeoutMs,
      bodyTimeout: opts.idleTimeoutMs,
      keepAliveTimeout: 30_000,
      connections: 64,
    });
    this.tokens = new TokenCache(this.agent);
  }

  authHeaders(up: UpstreamConfig): Record<string, string> {
    if (up.token) return { authorization: `Bearer ${up.token}` };
    if (up.username !== undefined || up.password !== undefined) {
      return { authorization: `Basic ${Buffer.from(`${up.username ?? ''}:${up.password ?? ''}`).toString('base64')}` };
    }
    return {};
  }

  async fetch(up: UpstreamConfig, url: string, req: UpstreamRequest = {}): Promise<UpstreamResponse> {
    const t0 = performance.now();
    const send = (auth: Record<string, string>) =>
      request(url, {
        dispatcher: this.agent,
        method: req.method ?? 'GET',
        headers: { 'user-agent': 'artifactapi', ...auth, ...req.headers },
        signal: req.signal,
        maxRedirections: 5,
      });
    // The repository's credentials are for its upstream: a URL an index names on another host (a CDN, a
    // pre-signed storage URL, someone else's server) never sees them, nor does a token realm that host names.
    const credentials = sameOrigin(url, up.url) ? this.authHeaders(up) : {};
    const cachedToken = this.tokens.lookup(url);
    let res: Dispatcher.ResponseData = await send(cachedToken ? { authorization: `Bearer ${cachedToken}` } : credentials);
    // Registries answer 401 with a Bearer challenge: fetch a token from its realm (with our credentials, if any)
    // and try once more. Tokens are cached per realm/service/scope until they expire.
    const challenge = res.statusCode === 401 ? parseBearerChallenge(flatten(res.headers)['www-authenticate']) : null;
    if (challenge) {
      res.body.resume();
      const token = await this.tokens.fetch(challenge, url, credentials, req.signal);
      res = await send({ authorization: `Bearer ${token}` });
    }
    return { status: res.statusCode, headers: flatten(res.headers), body: res.body, ms: performance.now() - t0 };
  }

  async close(): Promise<void> {
    await this.agent.close();
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

/** Registry bearer tokens, shared by every request to the same realm/service/scope until they expire. */
class TokenCache {
  private readonly byScope = new Map<string, { token: string; expires: number }>();
  /** The scope a URL last needed, so later requests send the token without a 401 round trip. */
  private readonly scopeOfPrefix = new Map<string, string>();

  constructor(private readonly agent: Agent) {}

  private prefix(url: string): string {
    return url.replace(/\/(manifests|blobs|tags)\/.*$/, '');
  }

  lookup(url: string): string | undefined {
    const key = this.scopeOfPrefix.get(this.prefix(url));
    const hit = key ? this.byScope.get(key) : undefined;
    return hit && hit.expires > Date.now() ? hit.token : undefined;
  }

  async fetch(c: BearerChallenge, url: string, auth: Record<string, string>, signal?: AbortSignal): Promise<string> {
    const key = `${c.realm} ${c.service ?? ''} ${c.scope ?? ''}`;
    const hit = this.byScope.get(key);
    if (hit && hit.expires > Date.now()) {
      this.scopeOfPrefix.set(this.prefix(url), key);
      return hit.token;
    }
    const u = new URL(c.realm);
    if (c.service) u.searchParams.set('service', c.service);
    if (c.scope) u.searchParams.set('scope', c.scope);
    const res = await request(u, { dispatcher: this.agent, headers: { 'user-agent': 'artifactapi', ...auth }, signal });
    const body = (await res.body.json().catch(() => ({}))) as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (res.statusCode !== 200 || !token) throw new Error(`token endpoint ${u.origin}${u.pathname} answered ${res.statusCode}`);
    // Renew a little early; registries default to 60 s when they do not say.
    const ttl = Math.max(10, (body.expires_in ?? 60) - 10) * 1000;
    this.byScope.set(key, { token, expires: Date.now() + ttl });
    this.scopeOfPrefix.set(this.prefix(url), key);
    return token;
  }
}
