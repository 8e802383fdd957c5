import type { Digests } from '../../hashing/types.js';
import { badGateway } from '../../errors.js';
import type { FormatContext, RewrittenDocument, UpstreamTarget } from '../types.js';
import { JSON_TYPE, pagination, toJson } from './model.js';
import { parseRelease } from './names.js';
import { fileUri, listingHref, PAGE, parsePuppetPath, releasePath } from './paths.js';

/** What a cached upstream document remembers of the tarballs it names: where they are and their digests. */
interface UpstreamFile {
  url: string;
  sha256?: string;
  md5?: string;
}
type DocMetadata = { files: Record<string, UpstreamFile> };

const base = (ctx: FormatContext) => ctx.repo.upstream!.url.replace(/\/+$/, '');

export async function locate(ctx: FormatContext, path: string): Promise<UpstreamTarget | null> {
  const p = parsePuppetPath(path);
  switch (p.kind) {
    case 'module':
      return { url: `${base(ctx)}/v3/modules/${p.module.slug}` };
    case 'release':
      return { url: `${base(ctx)}/v3/releases/${p.release.release}` };
    case 'listing':
      return { url: `${base(ctx)}/v3/releases?module=${p.module.slug}&limit=${PAGE}&offset=${p.offset}&sort_by=version&exclude_fields=readme%2Cchangelog%2Clicense%2Creference` };
    case 'file': {
      // Tarballs come from where the upstream's release document said, verified against its digests.
      const doc = await ctx.fetched(releasePath(p.release.release));
      const f = (doc?.metadata as DocMetadata | undefined)?.files?.[p.filename];
      if (!f) return null;
      const digests: Digests = {};
      if (f.sha256) digests.sha256 = f.sha256;
      if (f.md5) digests.md5 = f.md5;
      return { url: f.url, digests };
    }
    default:
      return null;
  }
}

/** Tarball links become `/v3/files/{file}` (relative to this repository, as the Forge API writes them). */
function rewriteFileUris(node: unknown, upstream: string, files: Record<string, UpstreamFile>): void {
  if (Array.isArray(node)) {
    for (const n of node) rewriteFileUris(n, upstream, files);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const o = node as Record<string, unknown>;
  if (typeof o.file_uri === 'string') {
    let url: URL;
    try {
      url = o.file_uri.startsWith('/') ? new URL(upstream + o.file_uri) : new URL(o.file_uri);
    } catch {
      throw badGateway(`upstream file_uri ${o.file_uri} is not a URL`);
    }
    const filename = decodeURIComponent(url.pathname.split('/').pop() ?? '');
    if (!filename.endsWith('.tar.gz') || !parseRelease(filename.slice(0, -7))) {
      delete o.file_uri;
    } else {
      const hex = (v: unknown, n: number) => (typeof v === 'string' && new RegExp(`^[0-9a-f]{${n}}$`).test(v) ? v : undefined);
      const f: UpstreamFile = { url: url.href, sha256: hex(o.file_sha256, 64), md5: hex(o.file_md5, 32) };
      const known = files[filename];
      files[filename] = { url: f.url, sha256: f.sha256 ?? known?.sha256, md5: f.md5 ?? known?.md5 };
      o.file_uri = fileUri(filename);
    }
  }
  for (const v of Object.values(o)) if (typeof v === 'object') rewriteFileUris(v, upstream, files);
}

/**
 * Upstream JSON with file links through this repository and listing pages linked to this repository's own
 * (path-addressed) pages; the upstream tarball URLs and digests go into the row's metadata.
 */
export async function rewrite(ctx: FormatContext, path: string, body: Buffer): Promise<RewrittenDocument> {
  const p = parsePuppetPath(path);
  if (p.kind !== 'module' && p.kind !== 'release' && p.kind !== 'listing') return { body };
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw badGateway(`upstream answered ${path} with something that is not JSON`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw badGateway(`upstream ${path} is not a JSON object`);
  const files: Record<string, UpstreamFile> = {};
  rewriteFileUris(doc, base(ctx), files);
  if (p.kind === 'listing') {
    const results = Array.isArray(doc.results) ? doc.results : [];
    const up = (doc.pagination ?? {}) as { next?: unknown; total?: unknown };
    doc = {
      pagination: pagination(p.offset, PAGE, (o, l) => listingHref(p.module.slug, o, l), up.next && results.length > 0 ? p.offset + results.length : null, typeof up.total === 'number' ? up.total : results.length),
      results,
    };
  }
  const metadata: DocMetadata = { files };
  return { body: toJson(doc), contentType: JSON_TYPE, metadata: metadata as unknown as Record<string, unknown> };
}
