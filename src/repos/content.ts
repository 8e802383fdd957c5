import { finished } from 'node:stream/promises';
import type { Auth } from '../api/auth.js';
import type { Cache } from '../cache/types.js';
import { withLock } from '../cache/with-lock.js';
import type { RemoteEngine } from '../engine/remote.js';
import { HttpError, notFound } from '../errors.js';
import type { FormatRegistry } from '../formats/registry.js';
import type { ArtifactQuery, FormatContext } from '../formats/types.js';
import type { HttpRequest, HttpResponse } from '../http/types.js';
import { sendJson } from '../http/respond.js';
import { requestVariant } from '../http/request-base.js';
import { GlobSet } from '../util/glob.js';
import { decodeRepoPath } from '../util/paths.js';
import type { LocalRepositories } from './local.js';
import type { Repository } from './model.js';
import type { SigningKeys } from './signing-keys.js';
import type { RepoRegistry } from './registry.js';
import { sendServable } from './send.js';
import type { Servable } from './servable.js';
import { VirtualRepositories } from './virtual.js';

export interface ContentDeps {
  repos: RepoRegistry;
  formats: FormatRegistry;
  remote: RemoteEngine;
  local: LocalRepositories;
  auth: Auth;
  artifacts: (repo: Repository) => ArtifactQuery;
  cache: Cache;
  keys: SigningKeys;
  publicUrl?: string;
}

/** `/{repo}/{path}`: finds the repository, applies auth and blocklists, and hands the path to its kind. */
export class ContentService {
  private readonly virtual: VirtualRepositories;
  private readonly blocklists = new WeakMap<Repository, GlobSet>();

  constructor(private readonly d: ContentDeps) {
    this.virtual = new VirtualRepositories(
      (repo) => repo.members.map((m) => d.repos.get(m)).filter((r): r is Repository => r !== undefined),
      (repo, path, req) => this.open(repo, path, req),
    );
  }

  context(repo: Repository, req: HttpRequest): FormatContext {
    const base = this.d.publicUrl ?? `http://${req.header('host') ?? 'localhost'}`;
    const artifacts = this.d.artifacts(repo);
    const ctx: FormatContext = {
      repo,
      repoUrl: `${base}/${repo.name}`,
      artifacts,
      fetched: async (path) => {
        if (repo.repoType !== 'remote') return artifacts.get(path);
        const s = await this.open(repo, path, requestVariant(req, { method: 'GET' }));
        if (!s) return null;
        // A download in progress commits once its body has been read to the end.
        if (s.source === 'remote') await finished((await s.open(undefined, req.signal)).resume());
        return artifacts.get(path);
      },
      writer: async (w) => {
        this.d.auth.requireAdmin(w);
        const target = this.writable(repo);
        const fmt = this.d.formats.get(target.packageType);
        const tctx = target === repo ? ctx : this.context(target, req);
        return {
          target: tctx,
          put: (path, body, opts) => this.d.local.store(fmt, tctx, path, body, opts),
          delete: (path) => this.d.local.remove(tctx, path),
        };
      },
      locked: (name, fn) => withLock(this.d.cache, `repo-lock:${repo.id}:${name}`, { ttlMs: 60_000, waitMs: 30_000 }, fn),
      signingKey: (name) => this.d.keys.get(repo, name),
    };
    return ctx;
  }

  private blocked(repo: Repository, path: string): boolean {
    let g = this.blocklists.get(repo);
    if (!g) this.blocklists.set(repo, (g = new GlobSet(repo.settings.blocklist)));
    return g.matches(path);
  }

  /** Resolve a path in any kind of repository (used directly and by virtual members). */
  async open(repo: Repository, path: string, req: HttpRequest): Promise<Servable | null> {
    if (this.blocked(repo, path)) throw new HttpError(403, 'BLOCKED', `${path} is blocked in ${repo.name}`);
    const fmt = this.d.formats.get(repo.packageType);
    const ctx = this.context(repo, req);
    switch (repo.repoType) {
      case 'remote':
        return this.d.remote.open(fmt, ctx, path, { head: req.method === 'HEAD', headers: req.headers as Record<string, string>, signal: req.signal });
      case 'local':
        return this.d.local.open(fmt, ctx, path);
      case 'virtual':
        return this.virtual.open(fmt, ctx, path, req);
    }
  }

  async handle(req: HttpRequest, res: HttpResponse, repoName: string, rawSubPath: string): Promise<void> {
    const repo = this.d.repos.require(repoName);
    req.log.repo = repo.name;
    if (repo.settings.private) this.d.auth.requireAdmin(req);
    const fmt = this.d.formats.get(repo.packageType);
    const path = decodeRepoPath(fmt.rawPath ? fmt.rawPath(rawSubPath) : rawSubPath);
    if (fmt.route && (await fmt.route(this.context(repo, req), path, req, res))) return;
    switch (req.method) {
      case 'GET':
      case 'HEAD': {
        const s = await this.open(repo, path, req);
        if (!s) throw notFound(`${path || '/'} not found in ${repo.name}`, 'ARTIFACT_NOT_FOUND');
        return sendServable(req, res, fmt.present ? await fmt.present(this.context(repo, req), path, s, req) : s);
      }
      case 'PUT': {
        this.d.auth.requireAdmin(req);
        const target = this.writable(repo);
        if (this.blocked(repo, path)) throw new HttpError(403, 'BLOCKED', `${path} is blocked in ${repo.name}`);
        const r = await this.d.local.put(this.d.formats.get(target.packageType), this.context(target, req), path, req);
        res.setHeader('Location', `/${target.name}/${r.path}`);
        return sendJson(res, 201, { repo: target.name, path: r.path, size: r.size, sha256: r.sha256 });
      }
      case 'DELETE': {
        this.d.auth.requireAdmin(req);
        const target = this.writable(repo);
        await this.d.local.delete(this.context(target, req), path);
        res.status(204).end();
        return;
      }
      default:
        throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not supported on repository content`, undefined, { Allow: 'GET, HEAD, PUT, DELETE' });
    }
  }

  /** Where a write to `repo` lands: itself if local, its deploy target if virtual; remotes are read-only. */
  private writable(repo: Repository): Repository {
    if (repo.repoType === 'local') return repo;
    if (repo.repoType === 'virtual') return this.virtual.deployTarget(repo);
    throw new HttpError(405, 'READ_ONLY', `${repo.name} is a remote repository (a read-only cache of ${repo.upstream?.url})`);
  }
}
