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

  constructor(private readonly opts: UpstreamOptions) {
    this.agent = new Agent({
      connect: { timeout: opts.connectTimeoutMs },
      headersTimeout: opts.idleTimeoutMs,
      bodyTimeout: opts.idleTimeoutMs,
      keepAliveTimeout: 30_000,
      connections: 64,
    });
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
    const res: Dispatcher.ResponseData = await request(url, {
      dispatcher: this.agent,
      method: req.method ?? 'GET',
      headers: { 'user-agent': 'artifactapi', ...this.authHeaders(up), ...req.headers },
      signal: req.signal,
      maxRedirections: 5,
    });
    return { status: res.statusCode, headers: flatten(res.headers), body: res.body, ms: performance.now() - t0 };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
