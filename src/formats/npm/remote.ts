import { integrityToDigests } from '../../hashing/digest.js';
import type { Digests } from '../../hashing/types.js';
import type { FormatContext, RewrittenDocument, UpstreamTarget } from '../types.js';
import { escapedName } from './names.js';
import { JSON_TYPE, parseDistTags } from './packument.js';
import { storedPackument, type UpstreamTarball } from './packument-stream.js';
import { parseNpmPath } from './paths.js';

/** What a cached packument remembers of each tarball: where upstream has it and what its bytes must hash to. */
type PackumentMetadata = { tarballs: Record<string, UpstreamTarball> };

const packumentUrl = (ctx: FormatContext, name: string) => `${ctx.repo.upstream!.url.replace(/\/+$/, '')}/${escapedName(name)}`;

export async function locate(ctx: FormatContext, path: string): Promise<UpstreamTarget | null> {
  const p = parseNpmPath(path);
  if (p.kind === 'packument') return { url: packumentUrl(ctx, p.name) };
  if (p.kind === 'dist-tags') return { url: `${ctx.repo.upstream!.url.replace(/\/+$/, '')}/-/package/${escapedName(p.name)}/dist-tags` };
  if (p.kind !== 'tarball') return null;
  // Tarballs come from where their packument said, and only if it lists them.
  const doc = await ctx.fetched(p.name);
  const t = (doc?.metadata as PackumentMetadata | undefined)?.tarballs?.[p.file];
  if (!t) return null;
  let digests: Digests = {};
  if (t.integrity) {
    try {
      digests = integrityToDigests(t.integrity);
    } catch {
      digests = {};
    }
  }
  if (!digests.sha512 && !digests.sha256 && t.shasum && /^[0-9a-f]{40}$/i.test(t.shasum)) digests.sha1 = t.shasum.toLowerCase();
  return { url: t.url, digests };
}

/** Packuments are stored with tarballs named by repository path; upstream URLs and digests go into metadata. */
export async function rewrite(ctx: FormatContext, path: string, body: Buffer): Promise<RewrittenDocument> {
  const p = parseNpmPath(path);
  if (p.kind === 'dist-tags') return { body: Buffer.from(JSON.stringify(parseDistTags(body, `upstream dist-tags of ${p.name}`))), contentType: JSON_TYPE };
  if (p.kind !== 'packument') return { body };
  const stored = storedPackument(body, p.name, packumentUrl(ctx, p.name), `upstream packument of ${p.name}`);
  const metadata: PackumentMetadata = { tarballs: stored.tarballs };
  return { body: stored.body, contentType: JSON_TYPE, metadata };
}
