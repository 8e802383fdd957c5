import { createHash } from 'node:crypto';
import type { HttpRequest } from '../http/types.js';
import { requestVariant } from '../http/request-base.js';
import { HttpError } from '../errors.js';
import type { FormatContext, FormatProvider, MemberDocument } from '../formats/types.js';
import type { Repository } from './model.js';
import { ByteLru } from '../util/byte-lru.js';
import { bufferServable, type Servable } from './servable.js';
import { readBounded } from '../util/read-bounded.js';

/** Resolves a path in one repository of any kind (the content service). */
export type MemberOpener = (repo: Repository, path: string, req: HttpRequest) => Promise<Servable | null>;

const MAX_MERGED_DOC = 64 * 1024 * 1024;
const MERGED_CACHE_BYTES = 128 * 1024 * 1024;

interface MergedDoc {
  body: Buffer;
  contentType: string;
  headers?: Record<string, string>;
}

/** Virtual repositories: members in order, first that has the path wins; mergeable documents are merged. */
export class VirtualRepositories {
  private readonly mergedCache = new ByteLru<MergedDoc>(MERGED_CACHE_BYTES);

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
    const found: Array<{ member: string; s: Servable }> = [];
    const getReq = req.method === 'HEAD' ? requestVariant(req, { method: 'GET' }) : req;
    for (const m of members) {
      const s = await this.tryMember(m, path, getReq);
      if (s) found.push({ member: m.name, s });
    }
    if (found.length === 0) return null;
    // Merging big indexes (helm index.yaml, npm packuments) costs far more than hashing the inputs: a merge is
    // redone only when a member's document changed. When every member states its document's digest, that is the
    // key and nothing is read; otherwise the documents' bytes are.
    const byDigest = found.every((f) => f.s.sha256);
    const h = createHash('sha256').update(`${ctx.repo.id}\0${path}\0${byDigest ? 'digests' : 'bytes'}`);
    for (const f of found) h.update(`\0${f.member}\0${f.s.contentType ?? ''}\0${byDigest ? f.s.sha256 : ''}`);
    let docs: MemberDocument[] | undefined;
    if (!byDigest) {
      docs = await this.readDocs(found, req.signal);
      for (const d of docs) h.update(`\0${d.body.length}\0`).update(d.body);
    }
    const key = h.digest('hex');
    const hit = this.mergedCache.get(key);
    if (hit) return bufferServable(hit.body, hit.contentType, 'local', { headers: hit.headers });
    docs ??= await this.readDocs(found, req.signal);
    const merged = await fmt.merge!(ctx, path, docs);
    const body = await readAll(await merged.open(undefined, req.signal), MAX_MERGED_DOC);
    this.mergedCache.set(key, { body, contentType: merged.contentType, headers: merged.headers }, body.length);
    return bufferServable(body, merged.contentType, 'local', { headers: merged.headers });
  }

  private async readDocs(found: Array<{ member: string; s: Servable }>, signal: AbortSignal | undefined): Promise<MemberDocument[]> {
    const docs: MemberDocument[] = [];
    for (const { member, s } of found) docs.push({ member, body: await readAll(await s.open(undefined, signal), MAX_MERGED_DOC), contentType: s.contentType });
    return docs;
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

function readAll(stream: NodeJS.ReadableStream, max: number): Promise<Buffer> {
  return readBounded(stream, max, () => new HttpError(502, 'DOCUMENT_TOO_LARGE', `member document exceeds ${max} bytes`));
}
