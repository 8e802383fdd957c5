import { badRequest } from '../../errors.js';
import { bufferServable, type Servable } from '../../repos/servable.js';
import { GeneratedIndexes } from '../shared/generated-index.js';
import type { ArtifactEntry, FormatContext, StagedBlob } from '../types.js';
import { readRpmHeaders } from './header.js';
import { canonicalFileName, packageFromHeaders, type RpmPackage } from './package-meta.js';
import { contentTypeFor, parseRpmPath, REPOMD } from './paths.js';
import { buildRepodata, type RepoPackage } from './repodata.js';

const PAGE = 1000;
const MAX_PACKAGES = 500_000;

/** What a stored rpm keeps in its metadata: its header data (repodata is built from it, never from the file). */
export interface RpmMetadata {
  rpm: RpmPackage;
}

/** Counts repodata builds (one per change of the repository's packages, however many reads): tests read it. */
export const rpmStats = { repodataBuilds: 0 };

/** The upload must be an rpm whose headers name what its file name says. */
export async function inspect(path: string, blob: StagedBlob): Promise<Record<string, unknown>> {
  const p = parseRpmPath(path);
  if (p.kind !== 'package') return {};
  const pkg = packageFromHeaders(await readRpmHeaders(blob));
  const expected = canonicalFileName(pkg);
  if (p.filename !== expected) throw badRequest('METADATA_MISMATCH', `${p.filename} contains ${pkg.name}-${pkg.epoch !== '0' ? `${pkg.epoch}:` : ''}${pkg.version}-${pkg.release}.${pkg.arch}: name the file ${expected}`);
  const meta: RpmMetadata = { rpm: pkg };
  return meta as unknown as Record<string, unknown>;
}

async function storedPackages(ctx: FormatContext): Promise<ArtifactEntry[]> {
  const out: ArtifactEntry[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await ctx.artifacts.list('', { after, limit: PAGE });
    for (const e of page) if (e.path.endsWith('.rpm') && (e.metadata as Partial<RpmMetadata>).rpm) out.push(e);
    if (page.length < PAGE || out.length > MAX_PACKAGES) return out;
    after = page[page.length - 1]!.path;
  }
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

/** The packages in path order; timestamps come from the stored rows, so every replica builds the same bytes. */
async function build(ctx: FormatContext): Promise<Map<string, Buffer>> {
  rpmStats.repodataBuilds++;
  const packages: RepoPackage[] = (await storedPackages(ctx)).map((e) => ({
    pkg: (e.metadata as unknown as RpmMetadata).rpm,
    href: e.path,
    sha256: e.sha256,
    size: e.size,
    fileTime: seconds(e.updatedAt),
  }));
  const timestamp = packages.reduce((m, p) => Math.max(m, p.fileTime), 0);
  return (await buildRepodata(packages, timestamp)).files;
}

const indexes = new GeneratedIndexes();

/**
 * repodata/ of a local repository, built from the packages' stored metadata at the first read after a change.
 * repomd.xml and the files it names come from one build, and the previous build stays readable: a client that
 * read the old repomd.xml still gets the files it names.
 */
export async function generate(ctx: FormatContext, path: string): Promise<Servable | null> {
  const p = parseRpmPath(path);
  if (p.kind !== 'repomd' && p.kind !== 'repodata') return null;
  const builder = () => build(ctx);
  const body = p.kind === 'repomd' ? (await indexes.current(ctx, 'repodata', '', builder)).get(REPOMD) : await indexes.file(ctx, 'repodata', '', path, builder);
  return body ? bufferServable(body, contentTypeFor(path), 'local') : null;
}
