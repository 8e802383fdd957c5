import type { HealthReport } from '../api/health.js';
import type { GcReport } from '../gc/collector.js';

/** A typed client for the admin API; the CLI and tests use it. */
export interface RepositoryJson {
  name: string;
  package_type: string;
  repo_type: 'remote' | 'local' | 'virtual';
  upstream: { url: string; username?: string; has_credentials: boolean; proxy?: string } | null;
  members: string[];
  settings: Record<string, unknown>;
  origin: 'api' | 'config';
  created_at: string;
  updated_at: string;
}

export type GcReportJson = GcReport;

export type HealthJson = HealthReport;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export class AdminClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token?: string,
  ) {}

  private async call<T>(method: string, path: string, body?: unknown, okStatuses = [200]): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.baseUrl.replace(/\/+$/, '') + path, {
        method,
        headers: { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, 'UNREACHABLE', `cannot reach ${this.baseUrl}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
    }
    const text = await res.text();
    const json = text ? (JSON.parse(text) as unknown) : undefined;
    if (!okStatuses.includes(res.status)) {
      const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? `${method} ${path} answered ${res.status}`);
    }
    return json as T;
  }

  listRepositories(): Promise<RepositoryJson[]> {
    return this.call<{ repositories: RepositoryJson[] }>('GET', '/api/v2/repositories').then((r) => r.repositories);
  }
  getRepository(name: string): Promise<RepositoryJson> {
    return this.call('GET', `/api/v2/repositories/${encodeURIComponent(name)}`);
  }
  createRepository(def: Record<string, unknown>): Promise<RepositoryJson> {
    return this.call('POST', '/api/v2/repositories', def, [201]);
  }
  updateRepository(name: string, patch: Record<string, unknown>): Promise<RepositoryJson> {
    return this.call('PATCH', `/api/v2/repositories/${encodeURIComponent(name)}`, patch);
  }
  async deleteRepository(name: string): Promise<void> {
    await this.call('DELETE', `/api/v2/repositories/${encodeURIComponent(name)}`, undefined, [204]);
  }
  gc(dryRun = false): Promise<GcReportJson> {
    return this.call('POST', `/api/v2/gc${dryRun ? '?dry_run=true' : ''}`);
  }
  health(): Promise<HealthJson> {
    return this.call('GET', '/health', undefined, [200, 503]);
  }
}
