import { createHash } from 'node:crypto';
import { badRequest, HttpError, isAbort } from '../../errors.js';
import type { HttpRequest, HttpResponse } from '../../http/types.js';
import { sendJson } from '../../http/respond.js';
import { bufferServable, type Servable } from '../../repos/servable.js';
import { memberName, tarEntries } from '../shared/archive.js';
import { multipartBoundary, multipartParts } from '../shared/multipart.js';
import type { ArtifactEntry, FormatContext, StagedBlob } from '../types.js';
import { byVersionDesc, JSON_TYPE, listingPage, moduleObject, modulePage, releaseObject, toJson, type Release, type ReleaseMetadata } from './model.js';
import { parseModule, parseRelease, releaseFile, releaseFilePath, requireModule, type ModuleName } from './names.js';
import { fileUri, parsePuppetPath } from './paths.js';

const MAX_METADATA_JSON = 1024 * 1024;
const MAX_ENTRIES = 100_000;
const SCAN_LIMIT = 100_000;

const invalid = (message: string) => badRequest('MODULE_INVALID', message);

/** Uploads: only `v3/files/{owner}-{name}-{version}.tar.gz`. */
export function validateUpload(path: string): string {
  if (parsePuppetPath(path).kind !== 'file') throw badRequest('PATH_INVALID', 'Puppet uploads go to v3/files/{owner}-{name}-{version}.tar.gz, or POST the tarball to v3/releases');
  return path;
}

async function md5Of(blob: StagedBlob): Promise<string> {
  const h = createHash('md5');
  for await (const c of await blob.open()) h.update(c as Buffer);
  return h.digest('hex');
}

function checkDependencies(deps: unknown): void {
  if (deps === undefined) return;
  if (!Array.isArray(deps)) throw invalid('metadata.json dependencies is not a list');
  for (const d of deps as unknown[]) {
    const dep = d as { name?: unknown; version_requirement?: unknown };
    if (typeof dep !== 'object' || dep === null || typeof dep.name !== 'string' || !parseModule(dep.name)) throw invalid(`metadata.json has an invalid dependency ${JSON.stringify(d)}`);
    if (dep.version_requirement !== undefined && typeof dep.version_requirement !== 'string') throw invalid(`dependency ${dep.name} has a non-string version_requirement`);
  }
}

/** The parsed `{top}/metadata.json`, checking every entry on the way (one directory, no links, no `..`). */
async function readMetadataJson(top: string, blob: StagedBlob): Promise<Record<string, unknown> | undefined> {
  let meta: Record<string, unknown> | undefined;
  for await (const e of tarEntries(await blob.open(), { gzip: true, maxEntries: MAX_ENTRIES })) {
    const name = memberName(e.name).replace(/\/$/, '');
    if (name !== top && !name.startsWith(`${top}/`)) throw invalid(`${e.name} is outside ${top}/ (the tarball must hold one directory named ${top})`);
    if (name.split('/').includes('..')) throw invalid(`${e.name} climbs out of the module`);
    if (e.type === 'symlink' || e.type === 'hardlink') throw invalid(`${e.name} is a link; modules may not contain links`);
    if (name === `${top}/metadata.json` && e.type === 'file') {
      try {
        meta = JSON.parse((await e.read(MAX_METADATA_JSON)).toString('utf8')) as Record<string, unknown>;
      } catch (err) {
        throw invalid(`metadata.json is not JSON: ${(err as Error).message}`);
      }
    }
  }
  return meta;
}

/**
 * The tarball must hold `{owner}-{name}-{version}/metadata.json` naming the same module and version as the file
 * name; every entry sits under that directory, and links (which the Forge refuses too) are rejected.
 */
export async function inspect(path: string, blob: StagedBlob): Promise<Record<string, unknown>> {
  const p = parsePuppetPath(path);
  if (p.kind !== 'file') return {};
  const top = p.release.release;
  let meta: Record<string, unknown> | undefined;
  try {
    meta = await readMetadataJson(top, blob);
  } catch (err) {
    // A stream error (not gzip, truncated) from the archive reader is the client's mistake, not ours.
    if (err instanceof HttpError || isAbort(err)) throw err;
    throw invalid(`not a gzip-compressed tarball: ${(err as Error).message}`);
  }
  if (!meta || typeof meta !== 'object' || Array.isArray(meta)) throw invalid(`no ${top}/metadata.json in the tarball`);
  const named = typeof meta.name === 'string' ? parseModule(meta.name) : null;
  if (!named || named.slug !== p.release.slug) throw invalid(`metadata.json names module ${String(meta.name)}, the file is ${p.release.slug}`);
  if (meta.version !== p.release.version) throw invalid(`metadata.json has version ${String(meta.version)}, the file is ${p.release.version}`);
  checkDependencies(meta.dependencies);
  const out: ReleaseMetadata = { owner: p.release.owner, name: p.release.name, version: p.release.version, metadata: meta, md5: await md5Of(blob) };
  return out as unknown as Record<string, unknown>;
}

const isRelease = (e: ArtifactEntry) => typeof (e.metadata as Partial<ReleaseMetadata>).version === 'string' && e.path.endsWith('.tar.gz');

/** All releases stored for a module (or every module), newest version first. */
async function releases(ctx: FormatContext, module?: ModuleName): Promise<Release[]> {
  const entries = await ctx.artifacts.list(module ? `v3/files/${module.slug}-` : 'v3/files/', { limit: SCAN_LIMIT });
  return entries
    .filter((e) => {
      if (!isRelease(e)) return false;
      const m = e.metadata as unknown as ReleaseMetadata;
      return !module || (m.owner === module.owner && m.name === module.name);
    })
    .map(releaseObject)
    .sort(byVersionDesc);
}

/** Documents generated from what is stored: a release, a module, a page of a module's listing. */
export async function generate(ctx: FormatContext, path: string): Promise<Servable | null> {
  const p = parsePuppetPath(path);
  if (p.kind === 'release') {
    const e = await ctx.artifacts.get(releaseFilePath(p.release.release));
    return e && isRelease(e) ? bufferServable(toJson(releaseObject(e)), JSON_TYPE, 'local') : null;
  }
  if (p.kind === 'module') {
    const all = await releases(ctx, p.module);
    return all.length ? bufferServable(toJson(moduleObject(p.module.owner, p.module.name, all)), JSON_TYPE, 'local') : null;
  }
  if (p.kind === 'listing') return bufferServable(toJson(modulePage(p.module.slug, await releases(ctx, p.module), p.offset)), JSON_TYPE, 'local');
  return null;
}

function intParam(q: URLSearchParams, name: string, def: number, min: number, max: number): number {
  const v = q.get(name);
  if (v === null || v === '') return def;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw badRequest('QUERY_INVALID', `${name} must be an integer from ${min} to ${max}`);
  return Number(v);
}

/** `GET /v3/releases?module=…&owner=…&limit=…&offset=…` of a local repository, answered directly. */
export async function listLocal(ctx: FormatContext, q: URLSearchParams): Promise<Servable> {
  const moduleParam = q.get('module');
  const owner = q.get('owner');
  const module = moduleParam ? requireModule(moduleParam) : undefined;
  if (owner !== null && !/^[A-Za-z0-9]+$/.test(owner)) throw badRequest('QUERY_INVALID', 'owner must be alphanumeric');
  const limit = intParam(q, 'limit', 20, 1, 100);
  const offset = intParam(q, 'offset', 0, 0, 1_000_000);
  let all = await releases(ctx, module);
  if (owner) all = all.filter((r) => (r.module as { owner: { slug: string } }).owner.slug === owner);
  const base = [module ? `module=${module.slug}` : '', owner ? `owner=${owner}` : ''].filter(Boolean).join('&');
  const href = (o: number, l: number) => `/v3/releases?${base ? `${base}&` : ''}limit=${l}&offset=${o}`;
  return bufferServable(toJson(listingPage(all, offset, limit, href)), JSON_TYPE, 'local');
}

/**
 * The Forge publish API: `POST /v3/releases` with the tarball in the multipart field `file`, named
 * `{owner}-{name}-{version}.tar.gz` (the name is where it is stored; inspect() checks the inside agrees).
 */
export async function upload(ctx: FormatContext, req: HttpRequest, res: HttpResponse): Promise<void> {
  const writer = await ctx.writer(req);
  const boundary = multipartBoundary(req.header('content-type'));
  let stored: { path: string; sha256: string; size: number } | undefined;
  let release: string | undefined;
  for await (const part of multipartParts(req.body(), boundary)) {
    if (part.name !== 'file') continue;
    if (stored) throw badRequest('UPLOAD_INVALID', 'more than one file part');
    const filename = (part.filename ?? '').split('/').pop()!;
    const r = filename.endsWith('.tar.gz') ? parseRelease(filename.slice(0, -'.tar.gz'.length)) : null;
    if (!r) throw badRequest('UPLOAD_INVALID', `the file part must be named {owner}-{name}-{version}.tar.gz (got ${JSON.stringify(filename)})`);
    release = r.release;
    stored = await writer.put(releaseFilePath(r.release), part.body, { signal: req.signal, contentType: 'application/gzip' });
  }
  if (!stored || !release) throw badRequest('UPLOAD_INVALID', 'no file part (the module tarball)');
  sendJson(res, 201, { uri: `/v3/releases/${release}`, slug: release, file_uri: fileUri(releaseFile(release)), sha256: stored.sha256, repo: writer.target.repo.name });
}
