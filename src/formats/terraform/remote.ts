import { badGateway, HttpError, isAbort } from '../../errors.js';
import { encodePath } from '../../util/paths.js';
import type { FormatContext, RewrittenDocument, UpstreamTarget } from '../types.js';
import { archivesJson, cleanHashes, JSON_TYPE, parseJsonObject, versionsJson, versionsOf, type ArchiveInfo } from './documents.js';
import { PgpError, signatureIssuer, verifyDetached } from '../shared/openpgp.js';
import { packageHashV1 } from './package-hash.js';
import {
  archiveName,
  archivePath,
  DISCOVERY_PATH,
  parseTerraformPath,
  platformKey,
  providerDir,
  registryFilePath,
  registryVersionsPath,
  relativeUrl,
  validPlatform,
  type PackageCoordinates,
  type ProviderAddress,
  type RegistryAddress,
  type TerraformPath,
} from './paths.js';
import { downloadJson, parseRegistryVersions, parseShasums, parseUpstreamDownload, registryVersionsJson, resolveHttpUrl } from './registry.js';

/**
 * A terraform remote's upstream is either a provider registry or a network mirror, told apart by the upstream's
 * service discovery document `{upstream url}/.well-known/terraform.json`: when it names `providers.v1`, the upstream is
 * a registry (`https://registry.terraform.io`, a TFE, another artifactapi repository), otherwise a mirror. Nothing to
 * configure: the URL is all an upstream needs, as in Artifactory.
 *
 * A registry upstream is the registry of its host name (`registry.terraform.io`): clients reach its providers through
 * this repository's registry protocol (`v1/providers/…`, or `{that host}/v1/providers/…`) and through the mirror
 * protocol under `{that host}/…`. Mirror paths of other hosts are asked of the upstream as a mirror, so a registry that
 * is also a mirror (another artifactapi) serves both. Download documents, SHA256SUMS and signatures are cached as
 * documents (TTL, revalidation); an archive is fetched only from the URL its download document names, and committed only
 * when it matches the SHA256SUMS entry, whose file lists the document's shasum and carries a signature that verifies
 * against the document's signing keys.
 */

/** What a cached {version}.json of a mirror upstream remembers of each archive: its upstream URL and hashes. */
interface UpstreamArchive {
  url: string;
  zh?: string;
  h1?: string;
}

interface VersionMetadata {
  /** By archive file name. */
  archives: Record<string, UpstreamArchive>;
}

interface DiscoveryMetadata {
  /** Absolute URL of the upstream's providers API, ending in '/'. */
  providersV1?: string;
}

interface VersionsMetadata {
  /** The platforms (`os_arch`) of each version, to find a download document of a version. */
  platforms: Record<string, string[]>;
}

interface DownloadMetadata {
  filename: string;
  shasum: string;
  downloadUrl: string;
  shasumsUrl: string;
  signatureUrl: string;
  /** The armored public keys the SHA256SUMS signature must verify against. */
  keys: string[];
}

interface ShasumsMetadata {
  /** sha256 by file name, from a SHA256SUMS whose signature verified. */
  entries: Record<string, string>;
  signedBy: string;
}

interface SignatureMetadata {
  /** The binary signature, base64: SHA256SUMS is verified with it without reading the blob back. */
  signature: string;
}

export interface RegistryUpstream {
  /** Absolute URL of the upstream's providers API, ending in '/'. */
  providersV1: string;
  /** The registry host name this remote stands for. */
  hostname: string;
}

const MAX_SIGNATURE_BYTES = 64 * 1024;
/** How long a probe that failed with an error (not a 404) makes a remote treat its upstream as a mirror. */
const PROBE_RETRY_MS = 60_000;
const probeFailedUntil = new Map<number, number>();

/** A document of a network mirror upstream: under its base URL at the same relative path. */
function upstreamUrl(ctx: FormatContext, path: string): string {
  return `${ctx.repo.upstream!.url.replace(/\/+$/, '')}/${encodePath(path)}`;
}

/** The registry host name of the upstream URL (with its port when it has one), as provider addresses name it. */
function upstreamHostname(ctx: FormatContext): string {
  return new URL(ctx.repo.upstream!.url).host.toLowerCase();
}

async function metadataOf<T>(ctx: FormatContext, path: string): Promise<T | undefined> {
  return (await ctx.fetched(path))?.metadata as T | undefined;
}

/** The probe was answered, just not with a document (403 from object storage, 401, a blocklisted path). */
function answeredNoRegistry(err: unknown): boolean {
  if (!(err instanceof HttpError)) return false;
  const upstreamStatus = (err.detail as { status?: unknown } | undefined)?.status;
  return err.status === 403 || (typeof upstreamStatus === 'number' && upstreamStatus >= 400 && upstreamStatus < 500);
}

/**
 * The upstream as a provider registry, or null for a network mirror. The probe is a cached document like any other
 * (TTL, stale-if-error; an upstream 404 is remembered for negative_ttl_seconds). A probe answered with another 4xx (a
 * mirror on object storage answering 403) makes mirror paths treat the upstream as a mirror for a minute; registry
 * paths (`strict`) and an unreachable upstream report the failure.
 */
export async function registryUpstream(ctx: FormatContext, strict: boolean): Promise<RegistryUpstream | null> {
  if (!strict && (probeFailedUntil.get(ctx.repo.id) ?? 0) > Date.now()) return null;
  let meta: DiscoveryMetadata | undefined;
  try {
    meta = await metadataOf<DiscoveryMetadata>(ctx, DISCOVERY_PATH);
  } catch (err) {
    if (strict || isAbort(err) || !answeredNoRegistry(err)) throw err;
    probeFailedUntil.set(ctx.repo.id, Date.now() + PROBE_RETRY_MS);
    return null;
  }
  return typeof meta?.providersV1 === 'string' ? { providersV1: meta.providersV1, hostname: upstreamHostname(ctx) } : null;
}

/** The registry upstream when it serves `hostname` (undefined: the registry's own host), else null. */
export async function registryFor(ctx: FormatContext, hostname: string | undefined, strict: boolean): Promise<RegistryUpstream | null> {
  const reg = await registryUpstream(ctx, strict);
  return reg && (hostname === undefined || hostname === reg.hostname) ? reg : null;
}

/** The upstream URL of a registry API document. */
function registryApiUrl(reg: RegistryUpstream, a: RegistryAddress, c?: PackageCoordinates): string {
  const dir = `${reg.providersV1}${a.namespace}/${a.type}/`;
  return c ? `${dir}${c.version}/download/${c.os}/${c.arch}` : `${dir}versions`;
}

const ownRegistry = (a: ProviderAddress): RegistryAddress => ({ hostname: undefined, namespace: a.namespace, type: a.type });

function downloadMeta(ctx: FormatContext, a: RegistryAddress, c: PackageCoordinates): Promise<DownloadMetadata | undefined> {
  return metadataOf<DownloadMetadata>(ctx, registryFilePath('download', a, c));
}

/** One platform of `version` (the first in order), to reach the version's SHA256SUMS through its download document. */
async function somePlatform(ctx: FormatContext, a: RegistryAddress, version: string): Promise<PackageCoordinates | undefined> {
  const meta = await metadataOf<VersionsMetadata>(ctx, registryVersionsPath(a));
  const first = [...(meta?.platforms[version] ?? [])].sort()[0];
  if (!first) return undefined;
  const [os, arch] = first.split('_') as [string, string];
  return { version, os, arch };
}

export async function locate(ctx: FormatContext, path: string): Promise<UpstreamTarget | null> {
  const p = parseTerraformPath(path);
  switch (p.kind) {
    case 'discovery':
      // Only the probe gets here: clients are answered by the format's route.
      return p.hostname === undefined ? { url: upstreamUrl(ctx, DISCOVERY_PATH) } : null;
    case 'versions':
    case 'version':
    case 'archive': {
      const reg = await registryFor(ctx, p.hostname, false);
      return reg ? locateMirrorPathInRegistry(ctx, reg, p) : locateInMirror(ctx, p, path);
    }
    case 'registry-versions':
    case 'download': {
      const reg = await registryFor(ctx, p.hostname, true);
      return reg ? { url: p.kind === 'download' ? registryApiUrl(reg, p, p) : registryApiUrl(reg, p) } : null;
    }
    case 'shasums':
    case 'shasums-sig': {
      if (!(await registryFor(ctx, p.hostname, true))) return null;
      const dl = await downloadMeta(ctx, p, p);
      return dl ? { url: p.kind === 'shasums' ? dl.shasumsUrl : dl.signatureUrl } : null;
    }
    default:
      return null;
  }
}

async function locateMirrorPathInRegistry(ctx: FormatContext, reg: RegistryUpstream, p: Extract<TerraformPath, ProviderAddress>): Promise<UpstreamTarget | null> {
  const a = ownRegistry(p);
  if (p.kind === 'versions') return { url: registryApiUrl(reg, a) };
  if (p.kind === 'version') {
    // {version}.json is made from the version's SHA256SUMS (every platform's zh: hash in one signed file).
    const c = await somePlatform(ctx, a, p.version);
    const dl = c && (await downloadMeta(ctx, a, c));
    return dl ? { url: dl.shasumsUrl } : null;
  }
  if (p.kind !== 'archive') return null;
  const dl = await downloadMeta(ctx, a, p);
  if (!dl) return null;
  const sums = await metadataOf<ShasumsMetadata>(ctx, registryFilePath('shasums', a, p));
  const sha256 = sums?.entries[dl.filename];
  if (!sha256) throw badGateway(`no verified SHA256SUMS entry for ${dl.filename}`);
  return { url: dl.downloadUrl, digests: { sha256 } };
}

async function locateInMirror(ctx: FormatContext, p: TerraformPath, path: string): Promise<UpstreamTarget | null> {
  if (p.kind === 'versions' || p.kind === 'version') return { url: upstreamUrl(ctx, path) };
  if (p.kind !== 'archive') return null;
  // Archives are fetched from where the version document said, and nowhere else.
  const a = (await metadataOf<Partial<VersionMetadata>>(ctx, `${providerDir(p)}${p.version}.json`))?.archives?.[p.filename];
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

/** Rewrites every document a remote caches; see the comment at the top for what each keeps. */
export async function rewrite(ctx: FormatContext, path: string, body: Buffer): Promise<RewrittenDocument> {
  const p = parseTerraformPath(path);
  switch (p.kind) {
    case 'discovery':
      return rewriteDiscovery(ctx, body);
    case 'versions':
      return rewriteIndex(path, body);
    case 'version': {
      const reg = await registryFor(ctx, p.hostname, false);
      return reg ? versionFromShasums(ctx, p, body) : rewriteMirrorVersion(ctx, path, p, body);
    }
    case 'registry-versions': {
      const { versions, warnings } = parseRegistryVersions(body, path);
      const platforms: VersionsMetadata['platforms'] = {};
      for (const v of versions) platforms[v.version] = v.platforms.map((x) => platformKey(x.os, x.arch));
      return { body: registryVersionsJson(versions, warnings), contentType: JSON_TYPE, metadata: { platforms } satisfies VersionsMetadata };
    }
    case 'download':
      return rewriteDownload(ctx, path, p, body);
    case 'shasums':
      return { body, contentType: 'text/plain; charset=utf-8', metadata: { ...(await verifiedShasums(ctx, p, p, body)) } };
    case 'shasums-sig': {
      if (body.length > MAX_SIGNATURE_BYTES) throw badGateway(`upstream signature ${path} exceeds ${MAX_SIGNATURE_BYTES} bytes`);
      try {
        signatureIssuer(body);
      } catch (err) {
        if (err instanceof PgpError) throw badGateway(`upstream ${path} is not a binary OpenPGP signature: ${err.message}`);
        throw err;
      }
      return { body, contentType: 'application/octet-stream', metadata: { signature: body.toString('base64') } satisfies SignatureMetadata };
    }
    default:
      return { body };
  }
}

/** Kept for its `providers.v1` (metadata); stored as a discovery document of this repository, relative to it. */
function rewriteDiscovery(ctx: FormatContext, body: Buffer): RewrittenDocument {
  const v1 = resolveHttpUrl(parseJsonObject(body)?.['providers.v1'], upstreamUrl(ctx, DISCOVERY_PATH));
  // Anything else (HTML from a static host, a modules-only registry) means the upstream is not a provider registry.
  if (!v1) return { body: Buffer.from('{}'), contentType: JSON_TYPE, metadata: {} };
  const meta: DiscoveryMetadata = { providersV1: v1.endsWith('/') ? v1 : `${v1}/` };
  return { body: Buffer.from(JSON.stringify({ 'providers.v1': '../v1/providers/' })), contentType: JSON_TYPE, metadata: { ...meta } };
}

/** index.json from a mirror's index.json or a registry's versions document (valid versions only). */
function rewriteIndex(path: string, body: Buffer): RewrittenDocument {
  const doc = parseJsonObject(body);
  if (Array.isArray(doc?.versions)) return { body: versionsJson(parseRegistryVersions(body, path).versions.map((v) => v.version)), contentType: JSON_TYPE };
  if (!doc || !doc.versions || typeof doc.versions !== 'object') throw badGateway(`upstream ${path} is not a versions document`);
  return { body: versionsJson(versionsOf(doc)), contentType: JSON_TYPE };
}

/**
 * A download document with its three URLs through this repository (relative to the document; clients get them
 * absolute, see `present`): the archive at its mirror path, SHA256SUMS and its signature beside the document.
 */
async function rewriteDownload(ctx: FormatContext, path: string, p: RegistryAddress & PackageCoordinates, body: Buffer): Promise<RewrittenDocument> {
  const reg = await registryFor(ctx, p.hostname, true);
  if (!reg) throw badGateway(`the upstream of ${ctx.repo.name} is no longer a provider registry for ${p.hostname}`);
  const { base, urls } = parseUpstreamDownload(body, registryApiUrl(reg, p, p), p);
  const archive = archivePath({ hostname: p.hostname ?? reg.hostname, namespace: p.namespace, type: p.type }, p);
  const local = {
    download_url: relativeUrl(path, archive),
    shasums_url: relativeUrl(path, registryFilePath('shasums', p, p)),
    shasums_signature_url: relativeUrl(path, registryFilePath('shasums-sig', p, p)),
  };
  const meta: DownloadMetadata = {
    filename: base.filename,
    shasum: base.shasum,
    downloadUrl: urls.download_url,
    shasumsUrl: urls.shasums_url,
    signatureUrl: urls.shasums_signature_url,
    keys: base.signing_keys.gpg_public_keys.map((k) => k.ascii_armor),
  };
  return { body: downloadJson(base, local), contentType: JSON_TYPE, metadata: { ...meta } };
}

/**
 * A SHA256SUMS checked as Terraform checks it: it lists the download document's file with the document's shasum,
 * and its signature (fetched beside it) verifies against one of the document's signing keys.
 */
async function verifiedShasums(ctx: FormatContext, a: RegistryAddress, c: PackageCoordinates, body: Buffer): Promise<ShasumsMetadata> {
  const where = `${a.namespace}/${a.type} ${c.version} ${platformKey(c.os, c.arch)}`;
  const dl = await downloadMeta(ctx, a, c);
  if (!dl) throw badGateway(`no download document for ${where}`);
  const entries = parseShasums(body);
  if (entries.get(dl.filename) !== dl.shasum) throw badGateway(`SHA256SUMS of ${where} does not list ${dl.filename} with the shasum of its download document`);
  const sig = await metadataOf<SignatureMetadata>(ctx, registryFilePath('shasums-sig', a, c));
  if (!sig) throw badGateway(`the SHA256SUMS signature of ${where} is missing upstream`);
  try {
    const signedBy = verifyDetached(body, Buffer.from(sig.signature, 'base64'), dl.keys);
    return { entries: Object.fromEntries(entries), signedBy };
  } catch (err) {
    if (err instanceof PgpError) throw badGateway(`SHA256SUMS of ${where}: ${err.message}`);
    throw err;
  }
}

/** A registry version as a mirror {version}.json: each platform's archive beside it, with the zh: hash SHA256SUMS gives. */
async function versionFromShasums(ctx: FormatContext, p: Extract<TerraformPath, { kind: 'version' }>, body: Buffer): Promise<RewrittenDocument> {
  const a = ownRegistry(p);
  const c = await somePlatform(ctx, a, p.version);
  if (!c) throw badGateway(`${p.namespace}/${p.type} ${p.version} has no platforms upstream`);
  const { entries } = await verifiedShasums(ctx, a, c, body);
  const platforms = (await metadataOf<VersionsMetadata>(ctx, registryVersionsPath(a)))?.platforms[p.version] ?? [];
  const archives = new Map<string, ArchiveInfo>();
  for (const key of platforms) {
    const [os, arch] = key.split('_') as [string, string];
    const file = archiveName(p.type, p.version, os, arch);
    const zh = entries[file];
    archives.set(key, zh ? { url: file, hashes: [`zh:${zh}`] } : { url: file });
  }
  return { body: archivesJson(archives), contentType: JSON_TYPE };
}

/**
 * A mirror upstream's {version}.json: archive URLs pointing beside it in this repository
 * (`terraform-provider-{type}_{version}_{os}_{arch}.zip`), the upstream URLs (resolved against the upstream document
 * URL, as Terraform does) and hashes going into the row's metadata for `locate`.
 */
function rewriteMirrorVersion(ctx: FormatContext, path: string, p: Extract<TerraformPath, { kind: 'version' }>, body: Buffer): RewrittenDocument {
  const doc = parseJsonObject(body);
  const archives = doc?.archives;
  if (!archives || typeof archives !== 'object' || Array.isArray(archives)) throw badGateway(`upstream ${path} is not an archives document`);
  const docUrl = upstreamUrl(ctx, path);
  const local = new Map<string, ArchiveInfo>();
  const upstream: Record<string, UpstreamArchive> = {};
  for (const [platform, info] of Object.entries(archives as Record<string, unknown>)) {
    const [os, arch, ...more] = platform.split('_');
    if (more.length || !os || !arch || !validPlatform(os, arch) || !info || typeof info !== 'object') continue;
    const url = resolveHttpUrl((info as { url?: unknown }).url, docUrl);
    if (!url) continue;
    const hashes = cleanHashes((info as { hashes?: unknown }).hashes);
    const file = archiveName(p.type, p.version, os, arch);
    const zh = hashes.find((h) => h.startsWith('zh:'))?.slice(3);
    const h1 = hashes.find((h) => h.startsWith('h1:'));
    upstream[file] = { url, ...(zh ? { zh } : {}), ...(h1 ? { h1 } : {}) };
    local.set(platform, hashes.length ? { url: file, hashes } : { url: file });
  }
  const metadata: VersionMetadata = { archives: upstream };
  return { body: archivesJson(local), contentType: JSON_TYPE, metadata: { ...metadata } };
}
