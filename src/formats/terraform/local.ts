import { badRequest } from '../../errors.js';
import { bufferServable, type Servable } from '../../repos/servable.js';
import { GeneratedIndexes, type IndexFiles } from '../shared/generated-index.js';
import type { ArtifactEntry, FormatContext, StagedBlob } from '../types.js';
import { archivesJson, JSON_TYPE, versionsJson, type ArchiveInfo } from './documents.js';
import { listZip, packageHashV1 } from './package-hash.js';
import { parseTerraformPath, platformKey, providerDir } from './paths.js';

/** What a stored provider package keeps: where it belongs and its `h1:` hash, so indexes never reopen archives. */
interface PackageRow {
  version: string;
  os: string;
  arch: string;
  h1: string;
}

const PAGE = 1000;
const MAX_PACKAGES = 100_000;

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
  if (!entries.some((e) => !e.isDirectory && !e.name.includes('/') && e.name.startsWith(prefix))) {
    throw badRequest('ARCHIVE_INVALID', `${p.filename} has no ${prefix}* executable at its top level`);
  }
  const row: PackageRow = { version: p.version, os: p.os, arch: p.arch, h1: await packageHashV1(blob, entries) };
  return row as unknown as Record<string, unknown>;
}

async function packagesIn(ctx: FormatContext, dir: string): Promise<ArtifactEntry[]> {
  const out: ArtifactEntry[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await ctx.artifacts.list(dir, { after, limit: PAGE });
    for (const e of page) if (e.path.endsWith('.zip') && (e.metadata as Partial<PackageRow>).h1) out.push(e);
    if (page.length < PAGE || out.length >= MAX_PACKAGES) return out;
    after = page[page.length - 1]!.path;
  }
}

/** index.json and every {version}.json of one provider, built together once per change of its packages. */
async function buildProvider(ctx: FormatContext, dir: string): Promise<IndexFiles> {
  const byVersion = new Map<string, Map<string, ArchiveInfo>>();
  for (const e of await packagesIn(ctx, dir)) {
    const m = e.metadata as unknown as PackageRow;
    let archives = byVersion.get(m.version);
    if (!archives) byVersion.set(m.version, (archives = new Map()));
    // Relative to the {version}.json URL: the archive sits beside it.
    archives.set(platformKey(m.os, m.arch), { url: e.path.slice(dir.length), hashes: [m.h1, `zh:${e.sha256}`] });
  }
  const files = new Map<string, Buffer>();
  if (byVersion.size === 0) return files;
  files.set('index.json', versionsJson(byVersion.keys()));
  for (const [v, archives] of byVersion) files.set(`${v}.json`, archivesJson(archives));
  return files;
}

const indexes = new GeneratedIndexes();

/** The mirror protocol's documents, generated from what is stored; a provider with no packages is a 404. */
export async function generate(ctx: FormatContext, path: string): Promise<Servable | null> {
  const p = parseTerraformPath(path);
  if (p.kind !== 'versions' && p.kind !== 'version') return null;
  const dir = providerDir(p);
  const files = await indexes.current(ctx, dir, dir, () => buildProvider(ctx, dir));
  const body = files.get(p.kind === 'versions' ? 'index.json' : `${p.version}.json`);
  return body ? bufferServable(body, JSON_TYPE, 'local') : null;
}
