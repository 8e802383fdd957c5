import type { Digests } from '../../hashing/types.js';
import type { FormatContext, RewrittenDocument, UpstreamTarget } from '../types.js';
import { parsePypiPath, pagePath, relativeFileUrl } from './paths.js';
import { JSON_TYPE, parseProjectList, parseProjectPage, projectPage, toJson, type SimpleFile } from './simple-model.js';

/** What a cached project page remembers of each upstream file, so a file fetch needs no page parsing. */
interface UpstreamFile {
  url: string;
  hashes: Record<string, string>;
  /** PEP 658 metadata file: true when offered, with its hashes when the page named them. */
  metadata?: Record<string, string> | true;
}

type PageMetadata = { files: Record<string, UpstreamFile> };

/** Upstream `url` is the simple index root (`https://pypi.org/simple`): pages live under it. */
export function upstreamPageUrl(ctx: FormatContext, path: string): string {
  const base = ctx.repo.upstream!.url.replace(/\/+$/, '');
  return path === 'simple/' ? `${base}/` : `${base}/${path.slice('simple/'.length)}`;
}

const HASH_ALGS = new Set(['sha256', 'sha512', 'sha1', 'md5']);

function digestsOf(hashes: Record<string, string> | true | undefined): Digests | undefined {
  if (!hashes || hashes === true) return undefined;
  const d = Object.fromEntries(Object.entries(hashes).filter(([a, v]) => HASH_ALGS.has(a) && /^[0-9a-f]+$/.test(v)));
  return Object.keys(d).length ? (d as Digests) : undefined;
}

export async function locate(ctx: FormatContext, path: string): Promise<UpstreamTarget | null> {
  const p = parsePypiPath(path);
  if (p.kind === 'list' || p.kind === 'page') return { url: upstreamPageUrl(ctx, path) };
  if (p.kind !== 'file' && p.kind !== 'metadata') return null;
  // Files are fetched from where the project page said, and nowhere else.
  const page = await ctx.fetched(pagePath(p.project));
  const f = (page?.metadata as PageMetadata | undefined)?.files?.[p.filename];
  if (!f) return null;
  if (p.kind === 'file') return { url: f.url, digests: digestsOf(f.hashes) };
  if (!f.metadata) return null;
  return { url: `${f.url}.metadata`, digests: digestsOf(f.metadata) };
}

/**
 * Upstream pages become the canonical PEP 691 JSON with links into this repository; the upstream URLs and
 * digests go into the row's metadata for `locate`.
 */
export async function rewrite(ctx: FormatContext, path: string, body: Buffer, contentType: string | undefined): Promise<RewrittenDocument> {
  const p = parsePypiPath(path);
  if (p.kind === 'list') return { body: toJson(parseProjectList(body, contentType)), contentType: JSON_TYPE };
  if (p.kind !== 'page') return { body };
  const upstream = parseProjectPage(p.project, body, contentType, upstreamPageUrl(ctx, path));
  const files: Record<string, UpstreamFile> = {};
  const local: SimpleFile[] = [];
  for (const f of upstream.files) {
    if (!f.filename || f.filename.includes('/') || files[f.filename]) continue;
    const cm = f['core-metadata'];
    files[f.filename] = { url: f.url, hashes: f.hashes, ...(cm ? { metadata: cm } : {}) };
    local.push({ ...f, url: relativeFileUrl(p.project, f.filename) });
  }
  const metadata: PageMetadata = { files };
  return { body: toJson(projectPage(upstream.name, local)), contentType: JSON_TYPE, metadata };
}
