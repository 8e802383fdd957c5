import { badGateway } from '../../errors.js';
import type { Digests, HashAlgorithm } from '../../hashing/types.js';
import { encodePath } from '../../util/paths.js';
import type { FormatContext, RewrittenDocument, UpstreamTarget } from '../types.js';
import { isPrimaryFile, parseRpmPath, REPOMD } from './paths.js';
import { scanPrimary } from './primary-scan.js';
import { parseRepomd } from './repomd.js';

/** A file repomd.xml lists: [checksum type, hex] as verified before commit, and its size. */
interface ListedFile {
  type: string;
  checksum?: [HashAlgorithm, string];
  size?: number;
}

/** Stored with the cached repomd.xml: the files it lists, and those of the one before (clients mid-refresh). */
export interface RepomdMetadata {
  files: Record<string, ListedFile>;
  previous?: Record<string, ListedFile>;
}

/** Stored with a cached primary.xml: href → [checksum type, hex, size] of every package it lists. */
export interface PrimaryMetadata {
  packages: Record<string, [HashAlgorithm, string, number | null]>;
  /** Why the package list could not be read (compression this runtime cannot decode). */
  unreadable?: string;
}

/** repodata names checksum types the yum way ("sha" is SHA-1). */
const ALGORITHMS: Record<string, HashAlgorithm> = { sha: 'sha1', sha1: 'sha1', sha256: 'sha256', sha512: 'sha512', md5: 'md5' };

function checksumOf(type: string | undefined, value: string | undefined): [HashAlgorithm, string] | undefined {
  const alg = type ? ALGORITHMS[type] : undefined;
  return alg && value && /^[0-9a-f]+$/.test(value) ? [alg, value] : undefined;
}

function upstreamUrl(ctx: FormatContext, path: string): string {
  return `${ctx.repo.upstream!.url.replace(/\/+$/, '')}/${encodePath(path)}`;
}

async function repomdRewrite(ctx: FormatContext, body: Buffer): Promise<RepomdMetadata> {
  let entries;
  try {
    entries = parseRepomd(body.toString('utf8'));
  } catch (err) {
    throw badGateway(`upstream repodata/repomd.xml is not valid: ${(err as Error).message}`);
  }
  const files: Record<string, ListedFile> = {};
  for (const e of entries) {
    const f: ListedFile = { type: e.type };
    const sum = checksumOf(e.checksum?.type, e.checksum?.value);
    if (sum) f.checksum = sum;
    if (e.size !== undefined) f.size = e.size;
    files[e.href] = f;
  }
  // Keep the previous generation's files reachable: a client that read the old repomd.xml a moment ago fetches
  // what it named.
  const old = (await ctx.artifacts.get(REPOMD))?.metadata as Partial<RepomdMetadata> | undefined;
  const gone = Object.entries(old?.files ?? {}).filter(([href]) => !Object.hasOwn(files, href));
  const previous = gone.length > 0 ? Object.fromEntries(gone) : old?.previous;
  return previous ? { files, previous } : { files };
}

async function primaryRewrite(path: string, body: Buffer): Promise<PrimaryMetadata> {
  const packages: PrimaryMetadata['packages'] = {};
  try {
    for await (const p of scanPrimary(body)) {
      // Packages on another host (xml:base) are fetched there by the client, never through this repository.
      if (p.base) continue;
      const sum = checksumOf(p.checksumType, p.checksum);
      if (sum) packages[p.href] = [sum[0], sum[1], p.size ?? null];
    }
  } catch (err) {
    if ((err as Error).message.includes('is not supported')) return { packages: {}, unreadable: (err as Error).message };
    throw badGateway(`upstream ${path} is not a readable primary.xml: ${(err as Error).message}`);
  }
  return { packages };
}

/**
 * Upstream documents are stored byte for byte (repomd.xml may be signed; every other file is checked against the
 * checksum repomd.xml names). What `locate` needs later goes into the row's metadata: the files repomd.xml lists,
 * and the package checksums of primary.xml.
 */
export async function rewrite(ctx: FormatContext, path: string, body: Buffer): Promise<RewrittenDocument> {
  const p = parseRpmPath(path);
  if (p.kind === 'repomd') return { body, metadata: (await repomdRewrite(ctx, body)) as unknown as Record<string, unknown> };
  if (p.kind === 'repodata' && isPrimaryFile(p.file)) return { body, metadata: (await primaryRewrite(path, body)) as unknown as Record<string, unknown> };
  return { body };
}

async function listedFiles(ctx: FormatContext): Promise<Array<[string, ListedFile]>> {
  const meta = (await ctx.fetched(REPOMD))?.metadata as Partial<RepomdMetadata> | undefined;
  return [...Object.entries(meta?.files ?? {}), ...Object.entries(meta?.previous ?? {})];
}

function digestsOf(sum: [HashAlgorithm, string] | undefined): Digests | undefined {
  return sum ? ({ [sum[0]]: sum[1] } as Digests) : undefined;
}

function sizeCheck(path: string, size: number | null | undefined): UpstreamTarget['verify'] {
  if (size === undefined || size === null) return undefined;
  return async (blob) => {
    if (blob.size !== size) throw new Error(`${path} is ${blob.size} bytes, repodata says ${size}`);
  };
}

type PackageMap = ReadonlyMap<string, [HashAlgorithm, string, number | null]>;

/**
 * Parsed package lists of primary.xml files, by repository and checksum: a package fetch looks its checksum up
 * here and reads the (large) primary row only once per process.
 */
const MAX_MAPS = 4;
const maps = new Map<string, Promise<PackageMap>>();

async function packageMap(ctx: FormatContext, href: string, listed: ListedFile): Promise<PackageMap> {
  const key = `${ctx.repo.id}\0${href}\0${listed.checksum?.join(':') ?? ''}`;
  let hit = maps.get(key);
  if (hit) {
    maps.delete(key);
    maps.set(key, hit);
    return hit;
  }
  hit = (async () => {
    const entry = await ctx.fetched(href);
    // Not there (yet): nothing to remember.
    if (!entry) maps.delete(key);
    const meta = entry?.metadata as Partial<PrimaryMetadata> | undefined;
    if (meta?.unreadable) throw badGateway(`cannot verify packages of ${ctx.repo.name}: ${meta.unreadable}`);
    return new Map(Object.entries(meta?.packages ?? {}));
  })();
  maps.set(key, hit);
  hit.catch(() => maps.get(key) === hit && maps.delete(key));
  while (maps.size > MAX_MAPS) maps.delete(maps.keys().next().value!);
  return hit;
}

/**
 * Upstream URLs: repomd.xml (and its signature) as is; a repodata file only if repomd.xml lists it, verified
 * against its checksum; a package only if primary.xml lists it, verified against its checksum and size.
 */
export async function locate(ctx: FormatContext, path: string): Promise<UpstreamTarget | null> {
  const p = parseRpmPath(path);
  const url = upstreamUrl(ctx, path);
  switch (p.kind) {
    case 'repomd':
    case 'repomd-extra':
    case 'other':
      return { url };
    case 'repodata': {
      const f = (await listedFiles(ctx)).find(([href]) => href === path)?.[1];
      if (!f) return null;
      if (!f.checksum) throw badGateway(`repomd.xml names no usable checksum for ${path}`);
      return { url, digests: digestsOf(f.checksum), verify: sizeCheck(path, f.size) };
    }
    case 'package': {
      for (const [href, f] of await listedFiles(ctx)) {
        if (f.type !== 'primary') continue;
        const hit = (await packageMap(ctx, href, f)).get(path);
        if (hit) return { url, digests: digestsOf([hit[0], hit[1]]), verify: sizeCheck(path, hit[2]) };
      }
      return null;
    }
  }
}
