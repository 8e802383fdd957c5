import type { Cache } from '../cache/types.js';
import type { Database } from '../db/types.js';
import {
  deleteRepository,
  getRepositoryByName,
  insertRepository,
  listRepositories,
  updateRepository,
} from '../db/repositories-table.js';
import { badRequest, conflict, notFound } from '../errors.js';
import type { Logger } from '../log.js';
import { validateDefinition, type RepoDefinition, type Repository } from './model.js';

const CHANNEL = 'repos-changed';

/**
 * The set of repositories: the database is the truth, every replica keeps the whole set in memory
 * (it is small) and reloads it when any replica announces a change over the cache's pub/sub.
 */
export class RepoRegistry {
  private byName = new Map<string, Repository>();
  private unsubscribe: (() => Promise<void>) | undefined;
  private loading: Promise<void> | undefined;

  constructor(
    private readonly db: Database,
    private readonly cache: Cache,
    private readonly packageTypes: ReadonlySet<string>,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.reload();
    this.unsubscribe = await this.cache.subscribe(CHANNEL, () => {
      this.reload().catch((err) => this.log.error({ err }, 'reloading repositories failed'));
    });
  }

  async stop(): Promise<void> {
    await this.unsubscribe?.();
  }

  /** Coalesces concurrent reloads into one query. */
  reload(): Promise<void> {
    this.loading ??= listRepositories(this.db)
      .then((rows) => {
        this.byName = new Map(rows.map((r) => [r.name, r]));
      })
      .finally(() => (this.loading = undefined));
    return this.loading;
  }

  get(name: string): Repository | undefined {
    return this.byName.get(name);
  }

  require(name: string): Repository {
    const r = this.byName.get(name);
    if (!r) throw notFound(`repository "${name}" does not exist`, 'REPO_NOT_FOUND');
    return r;
  }

  list(): Repository[] {
    return [...this.byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  private async changed(): Promise<void> {
    await this.reload();
    await this.cache.publish(CHANNEL, String(Date.now()));
  }

  /** Checks that need the other repositories: members exist, share the package type, deploy target is local. */
  private async checkRelations(def: RepoDefinition): Promise<void> {
    if (def.repo_type !== 'virtual') return;
    for (const m of def.members ?? []) {
      const member = (await getRepositoryByName(this.db, m)) ?? undefined;
      if (!member) throw badRequest('INVALID_REPOSITORY', `members: repository "${m}" does not exist`, { field: 'members' });
      if (member.packageType !== def.package_type) {
        throw badRequest('INVALID_REPOSITORY', `members: "${m}" is a ${member.packageType} repository, not ${def.package_type}`, { field: 'members' });
      }
      if (def.settings?.deploy_to === m && member.repoType !== 'local') {
        throw badRequest('INVALID_REPOSITORY', `settings.deploy_to: "${m}" is not a local repository`, { field: 'settings.deploy_to' });
      }
    }
  }

  async create(input: unknown, origin: 'api' | 'config' = 'api'): Promise<Repository> {
    const def = validateDefinition(input, this.packageTypes);
    await this.checkRelations(def);
    if (await getRepositoryByName(this.db, def.name)) throw conflict(`repository "${def.name}" already exists`, 'REPO_EXISTS');
    const repo = await insertRepository(this.db, { ...toRow(def), origin });
    await this.changed();
    return repo;
  }

  /** Partial update: fields absent from `patch` keep their value; name, package_type and repo_type are fixed. */
  async update(name: string, patch: unknown): Promise<Repository> {
    const current = this.require(name);
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw badRequest('INVALID_REPOSITORY', 'body must be a JSON object');
    const p = patch as Record<string, unknown>;
    for (const k of ['name', 'package_type', 'repo_type'] as const) {
      const currentValue = k === 'name' ? current.name : k === 'package_type' ? current.packageType : current.repoType;
      if (p[k] !== undefined && p[k] !== currentValue) throw badRequest('INVALID_REPOSITORY', `${k}: cannot be changed`, { field: k });
    }
    // Keep stored credentials when the patch changes only the URL.
    let upstream = p.upstream !== undefined ? p.upstream : current.upstream;
    if (p.upstream && current.upstream && typeof p.upstream === 'object') {
      const u = p.upstream as Record<string, unknown>;
      if (u.password === undefined && u.token === undefined && (u.username === undefined || u.username === current.upstream.username)) {
        upstream = { ...current.upstream, ...u };
      }
    }
    const merged = {
      name: current.name,
      package_type: current.packageType,
      repo_type: current.repoType,
      upstream: current.repoType === 'remote' ? upstream : undefined,
      members: current.repoType === 'virtual' ? (p.members ?? current.members) : undefined,
      settings: p.settings !== undefined ? { ...current.settings, ...(p.settings as object) } : current.settings,
    };
    const def = validateDefinition(merged, this.packageTypes);
    await this.checkRelations(def);
    const repo = await updateRepository(this.db, current.id, toRow(def));
    await this.changed();
    return repo;
  }

  async remove(name: string): Promise<void> {
    const repo = this.require(name);
    const users = this.list().filter((r) => r.members.includes(name));
    if (users.length > 0) {
      throw conflict(`repository "${name}" is a member of ${users.map((u) => `"${u.name}"`).join(', ')}; remove it there first`, 'REPO_IN_USE');
    }
    await deleteRepository(this.db, repo.id);
    await this.changed();
  }

  /** Declare repositories from the YAML file: created when missing, updated when they differ. */
  async declare(defs: unknown[]): Promise<void> {
    // Non-virtual first, so virtual members exist when they are checked.
    const ordered = [...defs].sort((a, b) => Number(isVirtual(a)) - Number(isVirtual(b)));
    for (const input of ordered) {
      const def = validateDefinition(input, this.packageTypes);
      const existing = await getRepositoryByName(this.db, def.name);
      if (!existing) {
        await this.checkRelations(def);
        await insertRepository(this.db, { ...toRow(def), origin: 'config' });
      } else {
        if (existing.packageType !== def.package_type || existing.repoType !== def.repo_type) {
          throw badRequest('INVALID_REPOSITORY', `config file: "${def.name}" exists as ${existing.repoType} ${existing.packageType}; type changes need a delete first`);
        }
        await this.checkRelations(def);
        await updateRepository(this.db, existing.id, toRow(def));
      }
    }
    await this.changed();
  }
}

function isVirtual(v: unknown): boolean {
  return typeof v === 'object' && v !== null && (v as Record<string, unknown>).repo_type === 'virtual';
}

function toRow(def: RepoDefinition) {
  return {
    name: def.name,
    packageType: def.package_type,
    repoType: def.repo_type,
    upstream: def.upstream ?? null,
    members: def.members ?? [],
    settings: def.settings ?? {},
  };
}
