import { listArtifacts } from '../db/artifacts-table.js';
import type { Database } from '../db/types.js';
import { badRequest, notFound } from '../errors.js';
import type { HttpRequest, HttpResponse } from '../http/types.js';
import { sendJson } from '../http/respond.js';
import { repoToJson } from '../repos/model.js';
import type { RepoRegistry } from '../repos/registry.js';
import type { Auth } from './auth.js';

const MAX_JSON_BODY = 1024 * 1024;

export async function readJson(req: HttpRequest): Promise<unknown> {
  const type = req.header('content-type') ?? '';
  if (type && !/^application\/(.+\+)?json\b/i.test(type)) throw badRequest('UNSUPPORTED_MEDIA_TYPE', 'body must be application/json');
  const buf = await req.readBody(MAX_JSON_BODY);
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw badRequest('MALFORMED_JSON', `body is not valid JSON: ${(err as Error).message}`);
  }
}

/** The admin REST API under /api/v2: repositories CRUD and artifact listing. */
export class AdminApi {
  constructor(
    private readonly repos: RepoRegistry,
    private readonly auth: Auth,
    private readonly db: Database,
  ) {}

  private visible(req: HttpRequest, name: string) {
    const r = this.repos.get(name);
    if (!r || (r.settings.private && !this.auth.isAdmin(req))) throw notFound(`repository "${name}" does not exist`, 'REPO_NOT_FOUND');
    return r;
  }

  async listRepos(req: HttpRequest, res: HttpResponse): Promise<void> {
    const admin = this.auth.isAdmin(req);
    const type = req.query.get('package_type');
    const list = this.repos.list().filter((r) => (admin || !r.settings.private) && (!type || r.packageType === type));
    sendJson(res, 200, { repositories: list.map(repoToJson) });
  }

  async createRepo(req: HttpRequest, res: HttpResponse): Promise<void> {
    this.auth.requireAdmin(req);
    const repo = await this.repos.create(await readJson(req));
    res.setHeader('Location', `/api/v2/repositories/${repo.name}`);
    sendJson(res, 201, repoToJson(repo));
  }

  async getRepo(req: HttpRequest, res: HttpResponse, name: string): Promise<void> {
    sendJson(res, 200, repoToJson(this.visible(req, name)));
  }

  async updateRepo(req: HttpRequest, res: HttpResponse, name: string): Promise<void> {
    this.auth.requireAdmin(req);
    sendJson(res, 200, repoToJson(await this.repos.update(name, await readJson(req))));
  }

  async deleteRepo(req: HttpRequest, res: HttpResponse, name: string): Promise<void> {
    this.auth.requireAdmin(req);
    await this.repos.remove(name);
    res.status(204).end();
  }

  async listArtifacts(req: HttpRequest, res: HttpResponse, name: string): Promise<void> {
    const repo = this.visible(req, name);
    const limitRaw = req.query.get('limit') ?? '100';
    if (!/^\d+$/.test(limitRaw) || Number(limitRaw) < 1 || Number(limitRaw) > 1000) throw badRequest('INVALID_PARAMETER', 'limit must be 1..1000');
    const limit = Number(limitRaw);
    const rows = await listArtifacts(this.db, repo.id, { prefix: req.query.get('prefix') ?? '', after: req.query.get('cursor') ?? undefined, limit: limit + 1 });
    const page = rows.slice(0, limit);
    sendJson(res, 200, {
      repository: repo.name,
      artifacts: page.map((a) => ({
        path: a.path,
        size: a.size,
        sha256: a.sha256,
        content_type: a.contentType,
        source: a.source,
        created_at: a.createdAt.toISOString(),
        updated_at: a.updatedAt.toISOString(),
        last_accessed_at: a.lastAccessedAt.toISOString(),
      })),
      next_cursor: rows.length > limit ? page[page.length - 1]!.path : null,
    });
  }
}
