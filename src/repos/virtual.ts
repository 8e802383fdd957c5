import type { HttpRequest } from '../http/types.js';
import { HttpError } from '../errors.js';
import type { FormatContext, FormatProvider, MemberDocument } from '../formats/types.js';
import type { Repository } from './model.js';
import type { Servable } from './servable.js';

/** Resolves a path in one repository of any kind (the content service). */
export type MemberOpener = (repo: Repository, path: string, req: HttpRequest) => Promise<Servable | null>;

const MAX_MERGED_DOC = 64 * 1024 * 1024;

/** Virtual repositories: members in order, first that has the path wins; mergeable documents are merged. */
export class VirtualRepositories {
  constructor(
    private readonly members: (repo: Repository) => Repository[],
    private readonly openMember: MemberOpener,
  ) {}

  async open(fmt: FormatProvider, ctx: FormatContext, path: string, req: HttpRequest): Promise<Servable | null> {
    const members = this.members(ctx.repo);
    if (fmt.merge && fmt.mergeable?.(path)) return this.merged(fmt, ctx, path, req, members);
    for (const m of members) {
      const s = await this.tryMember(m, path, req);
      if (s) return s;
    }
    return null;
  }

  /** A member whose upstream is down must not hide the members after it. */
  private async tryMember(m: Repository, path: string, req: HttpRequest): Promise<Servable | null> {
    try {
      return await this.openMember(m, path, req);
    } catch (err) {
      if (err instanceof HttpError && (err.status === 502 || err.status === 504)) return null;
      throw err;
    }
  }

  private async merged(fmt: FormatProvider, ctx: FormatContext, path: string, req: HttpRequest, members: Repository[]): Promise<Servable | null> {
    const docs: MemberDocument[] = [];
    const getReq = req.method === 'HEAD' ? { ...req, method: 'GET' } : req;
    for (const m of members) {
      const s = await this.tryMember(m, path, getReq as HttpRequest);
      if (!s) continue;
      const body = await readAll(await s.open(undefined, req.signal), MAX_MERGED_DOC);
      docs.push({ member: m.name, body, contentType: s.contentType });
    }
    if (docs.length === 0) return null;
    return fmt.merge!(ctx, path, docs);
  }

  /** The local member that receives publishes to this virtual repository. */
  deployTarget(repo: Repository): Repository {
    const target = repo.settings.deploy_to;
    const m = target ? this.members(repo).find((r) => r.name === target) : undefined;
    if (!m) {
      throw new HttpError(405, 'NO_DEPLOY_TARGET', `virtual repository ${repo.name} has no deploy target; set settings.deploy_to to one of its local members`);
    }
    return m;
  }
}

async function readAll(stream: NodeJS.ReadableStream, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > max) throw new HttpError(502, 'DOCUMENT_TOO_LARGE', `member document exceeds ${max} bytes`);
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}
