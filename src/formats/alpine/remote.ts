import { badGateway, HttpError } from '../../errors.js';
import { encodePath } from '../../util/paths.js';
import type { FormatContext, RewrittenDocument, UpstreamTarget } from '../types.js';
import { recordKey } from './apkindex.js';
import { parseIndexArchive } from './index-archive.js';
import { inspectApk } from './package.js';
import { INDEX_FILE, parseAlpinePath } from './paths.js';

/** What a cached upstream APKINDEX remembers: `{name}-{version}` → C: checksum of every package it lists. */
export interface RemoteIndexMetadata {
  packages: Record<string, string>;
}

/**
 * The upstream index is stored byte for byte (its signature covers exactly those bytes, and clients verify it
 * with the upstream's key); the package list goes into the row's metadata for `locate`.
 */
export async function rewrite(_ctx: FormatContext, path: string, body: Buffer): Promise<RewrittenDocument> {
  if (parseAlpinePath(path).kind !== 'index') return { body };
  let packages: Record<string, string>;
  try {
    const parsed = await parseIndexArchive(body);
    packages = Object.fromEntries(parsed.records.map((r) => [recordKey(r), r.C]));
  } catch (err) {
    if (err instanceof HttpError) throw badGateway(`upstream ${path} is not a valid APKINDEX: ${err.message}`);
    throw err;
  }
  const metadata: RemoteIndexMetadata = { packages };
  return { body, metadata: metadata as unknown as Record<string, unknown> };
}

/** Packages are fetched only when the directory's index lists them (and nothing else is fetched from a URL). */
export async function locate(ctx: FormatContext, path: string): Promise<UpstreamTarget | null> {
  const p = parseAlpinePath(path);
  const url = `${ctx.repo.upstream!.url.replace(/\/+$/, '')}/${encodePath(path)}`;
  if (p.kind === 'index' || p.kind === 'key') return { url };
  if (p.kind !== 'package') return null;
  const index = await ctx.fetched(`${p.dir}${INDEX_FILE}`);
  const listed = (index?.metadata as Partial<RemoteIndexMetadata> | undefined)?.packages;
  const key = p.filename.slice(0, -'.apk'.length);
  if (!listed || !Object.hasOwn(listed, key)) return null;
  const expected = listed[key]!;
  return {
    url,
    // The index names the SHA-1 of the control segment (which carries the data segment's SHA-256): checking both
    // covers the package but its own signature.
    verify: async (blob) => {
      const { record } = await inspectApk(blob);
      if (record.C !== expected) throw new Error(`control segment checksum ${record.C} is not the index's ${expected}`);
    },
  };
}
