import { badGateway } from '../../errors.js';
import { encodePath } from '../../util/paths.js';
import type { FormatContext, RewrittenDocument, UpstreamTarget } from '../types.js';
import { archivesJson, cleanHashes, JSON_TYPE, parseJsonObject, versionsJson, versionsOf, type ArchiveInfo } from './documents.js';
import { packageHashV1 } from './package-hash.js';
import { archiveName, parseTerraformPath, providerDir, validPlatform } from './paths.js';

/** What a cached {version}.json remembers of each archive: its upstream URL and the hashes to verify it with. */
interface UpstreamArchive {
  url: string;
  zh?: string;
  h1?: string;
}

interface VersionMetadata {
  /** By archive file name. */
  archives: Record<string, UpstreamArchive>;
}

/** Upstream `url` is another mirror's base URL: documents live under it at the same relative paths. */
function upstreamDocUrl(ctx: FormatContext, path: string): string {
  return `${ctx.repo.upstream!.url.replace(/\/+$/, '')}/${encodePath(path)}`;
}

export async function locate(ctx: FormatContext, path: string): Promise<UpstreamTarget | null> {
  const p = parseTerraformPath(path);
  if (p.kind === 'versions' || p.kind === 'version') return { url: upstreamDocUrl(ctx, path) };
  if (p.kind !== 'archive') return null;
  // Archives are fetched from where the version document said, and nowhere else.
  const doc = await ctx.fetched(`${providerDir(p)}${p.version}.json`);
  const a = (doc?.metadata as Partial<VersionMetadata> | undefined)?.archives?.[p.filename];
  if (!a) return null;
  const h1 = a.h1;
  return {
    url: a.url,
    digests: a.zh ? { sha256: a.zh } : undefined,
    // Mirrors written by `terraform providers mirror` carry only h1: the contents are hashed before commit.
    verify: h1
      ? async (blob) => {
          const got = await packageHashV1(blob);
          if (got !== h1) throw new Error(`package hash ${got} does not match ${h1}`);
        }
      : undefined,
  };
}

/**
 * index.json is kept (valid versions only); a {version}.json gets archive URLs pointing beside it in this repository
 * (`terraform-provider-{type}_{version}_{os}_{arch}.zip`), the upstream URLs (resolved against the upstream document
 * URL, as Terraform does) and hashes going into the row's metadata for `locate`.
 */
export async function rewrite(ctx: FormatContext, path: string, body: Buffer): Promise<RewrittenDocument> {
  const p = parseTerraformPath(path);
  if (p.kind === 'versions') {
    const doc = parseJsonObject(body);
    if (!doc || !doc.versions || typeof doc.versions !== 'object') throw badGateway(`upstream ${path} is not a versions document`);
    return { body: versionsJson(versionsOf(doc)), contentType: JSON_TYPE };
  }
  if (p.kind !== 'version') return { body };
  const doc = parseJsonObject(body);
  const archives = doc?.archives;
  if (!archives || typeof archives !== 'object' || Array.isArray(archives)) throw badGateway(`upstream ${path} is not an archives document`);
  const docUrl = upstreamDocUrl(ctx, path);
  const local = new Map<string, ArchiveInfo>();
  const upstream: Record<string, UpstreamArchive> = {};
  for (const [platform, info] of Object.entries(archives as Record<string, unknown>)) {
    const [os, arch, ...more] = platform.split('_');
    if (more.length || !os || !arch || !validPlatform(os, arch) || !info || typeof info !== 'object') continue;
    const rawUrl = (info as { url?: unknown }).url;
    if (typeof rawUrl !== 'string') continue;
    let url: URL;
    try {
      url = new URL(rawUrl, docUrl);
    } catch {
      continue;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    const hashes = cleanHashes((info as { hashes?: unknown }).hashes);
    const file = archiveName(p.type, p.version, os, arch);
    const zh = hashes.find((h) => h.startsWith('zh:'))?.slice(3);
    const h1 = hashes.find((h) => h.startsWith('h1:'));
    upstream[file] = { url: url.href, ...(zh ? { zh } : {}), ...(h1 ? { h1 } : {}) };
    local.set(platform, hashes.length ? { url: file, hashes } : { url: file });
  }
  const metadata: VersionMetadata = { archives: upstream };
  return { body: archivesJson(local), contentType: JSON_TYPE, metadata: metadata as unknown as Record<string, unknown> };
}
