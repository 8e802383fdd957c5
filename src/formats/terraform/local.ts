import { badRequest } from '../../errors.js';
import { bufferServable, type Servable } from '../../repos/servable.js';
import { GeneratedIndexes, type IndexFiles } from '../shared/generated-index.js';
import type { ArtifactEntry, FormatContext, StagedBlob } from '../types.js';
import { archivesJson, JSON_TYPE, versionsJson, type ArchiveInfo } from './documents.js';
import { rsaSigner } from '../shared/openpgp.js';
import { listZip, packageHashV1 } from './package-hash.js';
import {
  DEFAULT_HOSTNAME,
  parseTerraformPath,
  platformKey,
  providerDir,
  registryFilePath,
  relativeUrl,
  type PackageCoordinates,
  type RegistryAddress,
} from './paths.js';
import { downloadJson, registryVersionsJson, shasumsText, type DownloadBase, type RegistryVersion } from './registry.js';

/** What a stored provider package keeps: where it belongs and its hashes, so indexes never reopen archives. */
interface PackageRow {
  version: string;
  os: string;
  arch: string;
  h1: string;
  /** Plugin protocols from the executable's `_x{N}` suffix (HashiCorp's naming); absent for older uploads. */
  protocols?: string[];
}

interface StoredPackage {
  entry: ArtifactEntry;
  row: PackageRow;
}

const PAGE = 1000;
const MAX_PACKAGES = 100_000;
/** The repository key that signs the SHA256SUMS of the registry protocol. */
const SIGNING_KEY = 'terraform-gpg';

/** Uploads: `{hostname}/{namespace}/{type}/terraform-provider-{type}_{version}_{os}_{arch}.zip`. */
export function validateUpload(path: string): string {
  if (parseTerraformPath(path).kind !== 'archive') {
    throw badRequest('PATH_INVALID', 'Terraform provider uploads go to {hostname}/{namespace}/{type}/terraform-provider-{type}_{version}_{os}_{arch}.zip');
  }
  return path;
}

/** The zip must hold the provider's plugin executable (`terraform-provider-{type}…`) at its top level. */
export async function inspect(path: string, blob: StagedBlob): Promise<Record<string, unknown>> {
  const p = parseTerraformPath(path);
  if (p.kind !== 'archive') return {};
  const entries = await listZip(blob);
  const prefix = `terraform-provider-${p.type}`;
  const exe = entries.find((e) => !e.isDirectory && !e.name.includes('/') && e.name.startsWith(prefix));
  if (!exe) throw badRequest('ARCHIVE_INVALID', `${p.filename} has no ${prefix}* executable at its top level`);
  const protocol = /_x([0-9]{1,3})(?:\.exe)?$/.exec(exe.name)?.[1];
  const row: PackageRow = { version: p.version, os: p.os, arch: p.arch, h1: await packageHashV1(blob, entries), protocols: protocol ? [`${protocol}.0`] : [] };
  return { ...row };
}

async function packagesIn(ctx: FormatContext, dir: string): Promise<StoredPackage[]> {
  const out: StoredPackage[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await ctx.artifacts.list(dir, { after, limit: PAGE });
    for (const e of page) if (e.path.endsWith('.zip') && (e.metadata as Partial<PackageRow>).h1) out.push({ entry: e, row: e.metadata as unknown as PackageRow });
    if (page.length < PAGE || out.length >= MAX_PACKAGES) return out;
    after = page[page.length - 1]!.path;
  }
}

function byVersion(packages: StoredPackage[]): Map<string, StoredPackage[]> {
  const out = new Map<string, StoredPackage[]>();
  for (const p of packages) {
    const list = out.get(p.row.version);
    if (list) list.push(p);
    else out.set(p.row.version, [p]);
  }
  return out;
}

/** The mirror protocol's index.json and every {version}.json of one provider. */
async function buildMirror(ctx: FormatContext, dir: string): Promise<IndexFiles> {
  const files = new Map<string, Buffer>();
  const versions = byVersion(await packagesIn(ctx, dir));
  if (versions.size === 0) return files;
  files.set('index.json', versionsJson(versions.keys()));
  for (const [v, packages] of versions) {
    const archives = new Map<string, ArchiveInfo>();
    // Relative to the {version}.json URL: the archive sits beside it.
    for (const { entry, row } of packages) archives.set(platformKey(row.os, row.arch), { url: entry.path.slice(dir.length), hashes: [row.h1, `zh:${entry.sha256}`] });
    files.set(`${v}.json`, archivesJson(archives));
  }
  return files;
}

/**
 * The registry protocol's documents of one provider: `versions`, and per version a SHA256SUMS of its archives signed
 * with the repository's key, and per platform the download document without its URLs (they depend on the path it is
 * served at). Signature times come from the packages, so every replica signs the same bytes.
 */
async function buildRegistry(ctx: FormatContext, dir: string): Promise<IndexFiles> {
  const files = new Map<string, Buffer>();
  const versions = byVersion(await packagesIn(ctx, dir));
  if (versions.size === 0) return files;
  const signer = rsaSigner(await ctx.signingKey(SIGNING_KEY), `artifactapi repository ${ctx.repo.name}`);
  const keys = { gpg_public_keys: [{ key_id: signer.keyId, ascii_armor: signer.armoredPublicKey, trust_signature: '', source: 'artifactapi', source_url: null }] };
  const list: RegistryVersion[] = [];
  for (const [v, packages] of versions) {
    const sums = new Map(packages.map(({ entry }) => [entry.path.slice(dir.length), entry.sha256] as const));
    const text = shasumsText(sums);
    const newest = Math.max(...packages.map(({ entry }) => Math.floor(entry.updatedAt.getTime() / 1000)));
    files.set(`${v}/SHA256SUMS`, text);
    files.set(`${v}/SHA256SUMS.sig`, signer.sign(text, newest));
    const protocols = [...new Set(packages.flatMap(({ row }) => row.protocols ?? []))];
    for (const { entry, row } of packages) {
      const base: DownloadBase = { protocols, os: row.os, arch: row.arch, filename: entry.path.slice(dir.length), shasum: entry.sha256, signing_keys: keys };
      files.set(`${v}/${platformKey(row.os, row.arch)}`, Buffer.from(JSON.stringify(base)));
    }
    list.push({ version: v, protocols, platforms: packages.map(({ row }) => ({ os: row.os, arch: row.arch })) });
  }
  files.set('versions', registryVersionsJson(list));
  return files;
}

const indexes = new GeneratedIndexes();

/** A download document served at `path`, with URLs (relative to it) to the archive and the files beside it. */
function downloadDocument(path: string, dir: string, a: RegistryAddress, c: PackageCoordinates, stored: Buffer): Buffer {
  const base = JSON.parse(stored.toString('utf8')) as DownloadBase;
  return downloadJson(base, {
    download_url: relativeUrl(path, `${dir}${base.filename}`),
    shasums_url: relativeUrl(path, registryFilePath('shasums', a, c)),
    shasums_signature_url: relativeUrl(path, registryFilePath('shasums-sig', a, c)),
  });
}

/** Both protocols' documents, generated from what is stored; a provider, version or platform not stored is a 404. */
export async function generate(ctx: FormatContext, path: string): Promise<Servable | null> {
  const p = parseTerraformPath(path);
  if (p.kind === 'versions' || p.kind === 'version') {
    const dir = providerDir(p);
    const files = await indexes.current(ctx, dir, dir, () => buildMirror(ctx, dir));
    const body = files.get(p.kind === 'versions' ? 'index.json' : `${p.version}.json`);
    return body ? bufferServable(body, JSON_TYPE, 'local') : null;
  }
  if (p.kind !== 'registry-versions' && p.kind !== 'download' && p.kind !== 'shasums' && p.kind !== 'shasums-sig') return null;
  const dir = providerDir({ hostname: p.hostname ?? DEFAULT_HOSTNAME, namespace: p.namespace, type: p.type });
  const files = await indexes.current(ctx, `registry:${dir}`, dir, () => buildRegistry(ctx, dir));
  if (p.kind === 'registry-versions') {
    const body = files.get('versions');
    return body ? bufferServable(body, JSON_TYPE, 'local') : null;
  }
  // The checksum files beside a platform's document exist only where that document does.
  const doc = files.get(`${p.version}/${platformKey(p.os, p.arch)}`);
  if (!doc) return null;
  if (p.kind === 'download') return bufferServable(downloadDocument(path, dir, p, p, doc), JSON_TYPE, 'local');
  const body = files.get(`${p.version}/${p.kind === 'shasums' ? 'SHA256SUMS' : 'SHA256SUMS.sig'}`)!;
  return bufferServable(body, p.kind === 'shasums' ? 'text/plain; charset=utf-8' : 'application/octet-stream', 'local');
}
