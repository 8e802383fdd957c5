import { badRequest } from '../../errors.js';
import { bufferServable, type Servable } from '../../repos/servable.js';
import { GeneratedIndexes } from '../shared/generated-index.js';
import type { ArtifactEntry, FormatContext, StagedBlob } from '../types.js';
import { readRpmHeaders } from './header.js';
import { canonicalFileName, packageFromHeaders, type RpmPackage } from './package-meta.js';
import { armor, rsaSigner } from '../shared/openpgp.js';
import { contentTypeFor, parseRpmPath, REPOMD, REPOMD_ASC } from './paths.js';
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

/** The signing-key store's name for the key that signs repomd.xml (setting sign_repodata). */
const KEY_NAME = 'rpm-repodata';

/** The repository's OpenPGP identity for repomd.xml signatures (derived from its stored RSA key). */
async function signer(ctx: FormatContext) {
  return rsaSigner(await ctx.signingKey(KEY_NAME), `${ctx.repo.name} repodata signing key (artifactapi)`);
}

const signs = (ctx: FormatContext) => ctx.repo.repoType === 'local' && ctx.repo.settings.sign_repodata === true;

/**
 * The packages in path order; timestamps come from the stored rows, so every replica builds the same bytes. A
 * signing repository signs repomd.xml in the same build: the signature is part of the generation it signs.
 */
async function build(ctx: FormatContext, sign: boolean): Promise<Map<string, Buffer>> {
  rpmStats.repodataBuilds++;
  const packages: RepoPackage[] = (await storedPackages(ctx)).map((e) => ({
    pkg: (e.metadata as unknown as RpmMetadata).rpm,
    href: e.path,
    sha256: e.sha256,
    size: e.size,
    fileTime: seconds(e.updatedAt),
  }));
  const timestamp = packages.reduce((m, p) => Math.max(m, p.fileTime), 0);
  const set = await buildRepodata(packages, timestamp);
  if (sign) set.files.set(REPOMD_ASC, Buffer.from(armor('SIGNATURE', (await signer(ctx)).sign(set.repomd, timestamp))));
  return set.files;
}

const indexes = new GeneratedIndexes();

/**
 * repodata/ of a local repository, built from the packages' stored metadata at the first read after a change.
 * repomd.xml and the files it names come from one build, and the previous build stays readable: a client that
 * read the old repomd.xml still gets the files it names. repomd.xml.asc is read from the current build only
 * (its name never changes, so an older one would be the signature of another repomd.xml).
 */
export async function generate(ctx: FormatContext, path: string): Promise<Servable | null> {
  const p = parseRpmPath(path);
  const sign = signs(ctx);
  let body: Buffer | undefined;
  if (p.kind === 'repomd-extra') {
    if (!sign) return null;
    if (p.file === 'repomd.xml.key') body = Buffer.from((await signer(ctx)).armoredPublicKey);
    else body = (await current(ctx, sign)).get(REPOMD_ASC);
  } else if (p.kind === 'repomd') body = (await current(ctx, sign)).get(REPOMD);
  else if (p.kind === 'repodata') body = await indexes.file(ctx, indexKey(sign), '', path, () => build(ctx, sign));
  else return null;
  return body ? bufferServable(body, contentTypeFor(path), 'local') : null;
}

/** Signed and unsigned generations are kept apart, so the setting takes effect at the next read. */
const indexKey = (sign: boolean) => (sign ? 'repodata+asc' : 'repodata');

function current(ctx: FormatContext, sign: boolean) {
  return indexes.current(ctx, indexKey(sign), '', () => build(ctx, sign));
}
