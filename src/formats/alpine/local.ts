import { badRequest } from '../../errors.js';
import { bufferServable, type Servable } from '../../repos/servable.js';
import { GeneratedIndexes } from '../shared/generated-index.js';
import type { ArtifactEntry, FormatContext, StagedBlob } from '../types.js';
import type { IndexRecord } from './apkindex.js';
import { buildSignedIndex, keyFileName } from './index-archive.js';
import { inspectApk } from './package.js';
import { INDEX_FILE, parseAlpinePath } from './paths.js';

export const INDEX_TYPE = 'application/gzip';
export const KEY_NAME = 'apk';
const PAGE = 1000;
const MAX_PACKAGES = 200_000;

/** What a stored apk keeps in its metadata: its APKINDEX record, so indexes are built without reading packages. */
export interface ApkMetadata {
  index: IndexRecord;
  signedBy?: string;
}

/** The package must be what its path says: `{pkgname}-{pkgver}.apk` in its arch directory (or noarch). */
export async function inspect(path: string, blob: StagedBlob): Promise<Record<string, unknown>> {
  const p = parseAlpinePath(path);
  if (p.kind !== 'package') return {};
  const apk = await inspectApk(blob);
  const expected = `${apk.pkginfo.pkgname}-${apk.pkginfo.pkgver}.apk`;
  if (p.filename !== expected) throw badRequest('METADATA_MISMATCH', `${p.filename} contains ${expected} (the file must be named {pkgname}-{pkgver}.apk)`);
  if (apk.pkginfo.arch !== p.arch && apk.pkginfo.arch !== 'noarch') throw badRequest('METADATA_MISMATCH', `${p.filename} is built for ${apk.pkginfo.arch}, not ${p.arch}`);
  const meta: ApkMetadata = { index: apk.record, ...(apk.signedBy ? { signedBy: apk.signedBy } : {}) };
  return meta as unknown as Record<string, unknown>;
}

async function packagesIn(ctx: FormatContext, dir: string): Promise<ArtifactEntry[]> {
  const out: ArtifactEntry[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await ctx.artifacts.list(dir, { after, limit: PAGE });
    for (const e of page) if (e.path.endsWith('.apk') && !e.path.slice(dir.length).includes('/')) out.push(e);
    if (page.length < PAGE || out.length > MAX_PACKAGES) return out;
    after = page[page.length - 1]!.path;
  }
}

/** Sign an index with this repository's key; mtime comes from the content so every replica builds the same bytes. */
export async function signedIndex(ctx: FormatContext, records: IndexRecord[], description: string, mtime: number): Promise<Buffer> {
  const key = await ctx.signingKey(KEY_NAME);
  return buildSignedIndex({ records, description, mtime, key, keyFile: keyFileName(ctx.repo.name, key) });
}

const indexes = new GeneratedIndexes();

/** APKINDEX.tar.gz of one `{branch}/{repository}/{arch}` directory, built from the stored packages' records. */
export async function generate(ctx: FormatContext, path: string): Promise<Servable | null> {
  const p = parseAlpinePath(path);
  if (p.kind !== 'index') return null;
  const files = await indexes.current(ctx, `apkindex:${p.dir}`, p.dir, async () => {
    const entries = (await packagesIn(ctx, p.dir)).filter((e) => (e.metadata as Partial<ApkMetadata>).index);
    if (entries.length === 0) return new Map();
    const records = entries.map((e) => ({ ...(e.metadata as unknown as ApkMetadata).index, S: String(e.size) }));
    const mtime = Math.max(...entries.map((e) => Math.floor(e.updatedAt.getTime() / 1000)));
    return new Map([[INDEX_FILE, await signedIndex(ctx, records, `${ctx.repo.name} ${p.branch}/${p.repository}`, mtime)]]);
  });
  const body = files.get(INDEX_FILE);
  return body ? bufferServable(body, INDEX_TYPE, 'local') : null;
}
