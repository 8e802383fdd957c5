import { createHash } from 'node:crypto';
import { badRequest, conflict, HttpError, notFound } from '../../errors.js';
import { integrityToDigests } from '../../hashing/digest.js';
import type { HttpRequest, HttpResponse } from '../../http/types.js';
import { sendJson } from '../../http/respond.js';
import { bufferServable, type Servable } from '../../repos/servable.js';
import { ByteLru } from '../../util/byte-lru.js';
import type { ArtifactEntry, FormatContext, Publisher } from '../types.js';
import { highest, requireName, tarballFile, validVersion } from './names.js';
import { JSON_TYPE, type Packument, type VersionManifest } from './packument.js';
import { metaPath, tarballPath, type NpmPath } from './paths.js';

/** Dist-tags and deprecations of a local package (its versions are its stored tarballs). */
interface PackageMeta {
  distTags: Record<string, string>;
  deprecated: Record<string, string>;
}

const MAX_PUBLISH = 512 * 1024 * 1024;
const SCAN = 100_000;

async function readMeta(ctx: FormatContext, name: string): Promise<PackageMeta> {
  const e = await ctx.artifacts.get(metaPath(name));
  const m = e?.metadata as Partial<PackageMeta> | undefined;
  return { distTags: m?.distTags ?? {}, deprecated: m?.deprecated ?? {} };
}

async function writeMeta(w: Publisher, name: string, meta: PackageMeta): Promise<void> {
  const body = Buffer.from(JSON.stringify(meta));
  await w.put(metaPath(name), body, { overwrite: true, contentType: JSON_TYPE, metadata: meta as unknown as Record<string, unknown> });
}

async function tarballs(ctx: FormatContext, name: string): Promise<ArtifactEntry[]> {
  return (await ctx.artifacts.list(`${name}/-/`, { limit: SCAN })).filter((e) => e.path.endsWith('.tgz') && !e.path.slice(name.length + 3).includes('/'));
}

/** The packument of a local package, from its stored tarballs' manifests and its meta document. */
export async function packumentOf(ctx: FormatContext, name: string): Promise<Packument | null> {
  const entries = await tarballs(ctx, name);
  if (entries.length === 0) return null;
  const meta = await readMeta(ctx, name);
  const versions: Record<string, VersionManifest> = {};
  const time: Record<string, string> = {};
  for (const e of entries) {
    const m = (e.metadata as { manifest?: VersionManifest }).manifest;
    if (!m) continue;
    versions[m.version] = { ...m, dist: { ...m.dist, tarball: e.path }, ...(meta.deprecated[m.version] ? { deprecated: meta.deprecated[m.version] } : {}) };
    time[m.version] = e.updatedAt.toISOString();
  }
  const distTags = Object.fromEntries(Object.entries(meta.distTags).filter(([, v]) => versions[v]));
  distTags.latest ??= highest(Object.keys(versions))!;
  const stamps = Object.values(time).sort();
  const rev = createHash('sha256').update(JSON.stringify([Object.keys(versions).sort(), distTags, meta.deprecated])).digest('hex').slice(0, 16);
  return { _id: name, _rev: `${entries.length}-${rev}`, name, 'dist-tags': distTags, versions, time: { created: stamps[0]!, modified: stamps.at(-1)!, ...time }, modified: stamps.at(-1) };
}

/** Generated local packuments by what they were built from: rebuilt only after a publish, unpublish or tag change. */
const generated = new ByteLru<Buffer>(64 * 1024 * 1024);

/** Local documents: a package's packument and its dist-tags, from the stored tarballs and the meta document. */
export async function generate(ctx: FormatContext, path: NpmPath): Promise<Servable | null> {
  if (path.kind !== 'packument' && path.kind !== 'dist-tags') return null;
  const name = path.name;
  const key = `${ctx.repo.id}|${name}|${await ctx.artifacts.version(`${name}/-/`)}|${await ctx.artifacts.version(metaPath(name))}`;
  let doc = generated.get(key);
  if (!doc) {
    // Absent packages are not remembered: a virtual asks its local member for every name it proxies.
    const p = await packumentOf(ctx, name);
    if (!p) return null;
    doc = Buffer.from(JSON.stringify(p));
    generated.set(key, doc, doc.length + key.length);
  }
  if (path.kind === 'packument') return bufferServable(doc, JSON_TYPE, 'local');
  return bufferServable(Buffer.from(JSON.stringify((JSON.parse(doc.toString('utf8')) as Packument)['dist-tags'])), JSON_TYPE, 'local');
}

async function readJson(req: HttpRequest): Promise<Record<string, unknown>> {
  const body = await req.readBody(MAX_PUBLISH);
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw badRequest('BODY_INVALID', 'expected a JSON object');
  }
}

type Attachment = { data?: unknown; length?: unknown };

function objectField<T>(doc: Record<string, unknown>, field: string): Record<string, T> | undefined {
  const v = doc[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badRequest('BODY_INVALID', `${field} must be an object`);
  return v as Record<string, T>;
}

/**
 * `PUT /{name}` (and `/{name}/-rev/{rev}`): with `_attachments` a publish of new versions; without, an update of
 * the package document (`npm deprecate`, `npm unpublish pkg@version`, dist-tag changes).
 */
export async function putPackage(ctx: FormatContext, name: string, req: HttpRequest, res: HttpResponse): Promise<void> {
  requireName(name);
  const w = await ctx.writer(req);
  const doc = await readJson(req);
  if (doc.name !== undefined && doc.name !== name) throw badRequest('NAME_MISMATCH', `the document is for ${String(doc.name)}, the URL for ${name}`);
  // Every write names the versions it keeps: an update without them would read as "unpublish everything".
  const versions = objectField<VersionManifest>(doc, 'versions');
  if (!versions) throw badRequest('BODY_INVALID', 'the package document has no versions');
  const attachments = objectField<Attachment>(doc, '_attachments');
  const tags = objectField<unknown>(doc, 'dist-tags');
  if (attachments && Object.keys(attachments).length > 0) await publish(w, name, versions, attachments, tags ?? {}, req.signal);
  else await update(w, name, versions, tags);
  sendJson(res, 201, { ok: true, id: name });
}

interface Ready {
  version: string;
  bytes: Buffer;
  manifest: VersionManifest;
  sha512: string;
}

/** One attached version checked against its manifest (name, semver, length, integrity, shasum). */
function checkVersion(name: string, version: string, m: VersionManifest, a: Attachment, file: string): Ready {
  if (!validVersion(version) || m?.version !== version) throw badRequest('VERSION_INVALID', `${version} is not a valid semver version matching its manifest`);
  if (m.name !== name) throw badRequest('NAME_MISMATCH', `version ${version} is named ${String(m.name)}, not ${name}`);
  if (typeof a.data !== 'string' || a.data.length === 0) throw badRequest('ATTACHMENT_INVALID', `attachment ${file} has no base64 data`);
  const bytes = Buffer.from(a.data, 'base64');
  if (a.length !== undefined && a.length !== bytes.length) throw badRequest('ATTACHMENT_INVALID', `attachment ${file} has ${bytes.length} bytes, its length says ${String(a.length)}`);
  const expected: Record<string, string> = {};
  const dist = (typeof m.dist === 'object' && m.dist !== null ? m.dist : {}) as VersionManifest['dist'];
  if (dist.integrity !== undefined) {
    try {
      Object.assign(expected, integrityToDigests(String(dist.integrity)));
    } catch {
      throw badRequest('INTEGRITY_INVALID', `dist.integrity of ${version} is malformed`);
    }
  }
  if (dist.shasum !== undefined) {
    if (typeof dist.shasum !== 'string' || !/^[0-9a-f]{40}$/i.test(dist.shasum)) throw badRequest('INTEGRITY_INVALID', `dist.shasum of ${version} is not a sha1`);
    expected.sha1 = dist.shasum.toLowerCase();
  }
  const actual: Record<string, string> = {
    sha512: createHash('sha512').update(bytes).digest('hex'),
    sha256: createHash('sha256').update(bytes).digest('hex'),
    sha1: createHash('sha1').update(bytes).digest('hex'),
  };
  for (const [alg, want] of Object.entries(expected)) {
    if (actual[alg] !== want) throw badRequest('INTEGRITY_MISMATCH', `the ${file} attachment does not match the manifest's ${alg}`);
  }
  const integrity = `sha512-${Buffer.from(actual.sha512!, 'hex').toString('base64')}`;
  const manifest: VersionManifest = { ...m, _id: `${name}@${version}`, dist: { ...dist, integrity, shasum: actual.sha1!, tarball: tarballPath(name, file) } };
  delete (manifest as Record<string, unknown>)._attachments;
  return { version, bytes, manifest, sha512: actual.sha512! };
}

/**
 * A publish: every attachment is one new version, checked before anything is stored. Versions in the document
 * without an attachment must already be stored (libnpmpublish resends the whole document after a conflict).
 */
async function publish(w: Publisher, name: string, versions: Record<string, VersionManifest>, attachments: Record<string, Attachment>, tags: Record<string, unknown>, signal: AbortSignal): Promise<void> {
  const ready: Ready[] = [];
  const used = new Set<string>();
  for (const version of Object.keys(versions)) {
    const file = tarballFile(name, version);
    const key = attachments[file] ? file : attachments[`${name}-${version}.tgz`] ? `${name}-${version}.tgz` : undefined;
    const stored = await w.target.artifacts.get(tarballPath(name, file));
    if (!key) {
      if (!stored) throw badRequest('ATTACHMENT_MISSING', `no attachment ${file} for version ${version}`);
      continue;
    }
    if (stored) throw conflict(`${name}@${version} is already published in ${w.target.repo.name}; a version cannot be published over`, 'VERSION_EXISTS');
    const a = attachments[key];
    if (typeof a !== 'object' || a === null) throw badRequest('ATTACHMENT_INVALID', `attachment ${key} is not an object`);
    used.add(key);
    ready.push(checkVersion(name, version, versions[version]!, a, file));
  }
  const stray = Object.keys(attachments).filter((k) => !used.has(k));
  if (stray.length) throw badRequest('ATTACHMENT_INVALID', `attachment ${stray[0]} belongs to no version in the document`);
  if (ready.length === 0) throw badRequest('BODY_INVALID', 'a publish names at least one new version');
  for (const r of ready) {
    await w.put(tarballPath(name, tarballFile(name, r.version)), r.bytes, { expected: { sha512: r.sha512 }, signal, contentType: 'application/octet-stream', metadata: { manifest: r.manifest } });
  }
  await w.target.locked(`npm:${name}`, async () => {
    const meta = await readMeta(w.target, name);
    let tagged = false;
    for (const [tag, v] of Object.entries(tags)) {
      if (typeof v === 'string' && validTag(tag) && ready.some((r) => r.version === v)) {
        meta.distTags[tag] = v;
        tagged = true;
      }
    }
    if (!tagged) meta.distTags.latest = ready.at(-1)!.version;
    await writeMeta(w, name, meta);
  });
}

/** A document update: stored versions missing from it are unpublished; deprecations and dist-tags are taken. */
async function update(w: Publisher, name: string, versions: Record<string, VersionManifest>, tags: Record<string, unknown> | undefined): Promise<void> {
  await w.target.locked(`npm:${name}`, async () => {
    const stored = await tarballs(w.target, name);
    if (stored.length === 0) throw notFound(`${name} is not published in ${w.target.repo.name}`, 'PACKAGE_NOT_FOUND');
    const meta = await readMeta(w.target, name);
    for (const e of stored) {
      const v = (e.metadata as { manifest?: VersionManifest }).manifest?.version;
      if (!v) continue;
      const m = versions[v];
      if (!m) {
        // `npm unpublish pkg@v` sends the document without that version.
        await w.delete(e.path);
        delete meta.deprecated[v];
        continue;
      }
      const d = typeof m === 'object' && m !== null ? m.deprecated : undefined;
      if (typeof d === 'string' && d !== '') meta.deprecated[v] = d.slice(0, 1024);
      else delete meta.deprecated[v];
    }
    if (tags) meta.distTags = Object.fromEntries(Object.entries(tags).filter((e): e is [string, string] => typeof e[1] === 'string' && validTag(e[0]) && versions[e[1]] !== undefined));
    await writeMeta(w, name, meta);
  });
}

/** `DELETE /{name}/-rev/{rev}`: the whole package. */
export async function deletePackage(ctx: FormatContext, name: string, req: HttpRequest, res: HttpResponse): Promise<void> {
  const w = await ctx.writer(req);
  await w.target.locked(`npm:${name}`, async () => {
    const stored = await tarballs(w.target, name);
    if (stored.length === 0) throw notFound(`${name} is not published in ${w.target.repo.name}`, 'PACKAGE_NOT_FOUND');
    for (const e of stored) await w.delete(e.path);
    await w.delete(metaPath(name));
  });
  sendJson(res, 200, { ok: true });
}

/** `DELETE /{name}/-/{file}/-rev/{rev}`: one tarball (already gone when the document update removed it). */
export async function deleteTarball(ctx: FormatContext, name: string, file: string, req: HttpRequest, res: HttpResponse): Promise<void> {
  const w = await ctx.writer(req);
  await w.delete(tarballPath(name, file));
  sendJson(res, 200, { ok: true });
}

/** A dist-tag name: not a version (npm would read it as one), URL-safe. */
const validTag = (tag: string) => /^[A-Za-z0-9._-]{1,128}$/.test(tag) && !validVersion(tag);

/** `npm dist-tag add|rm`: `PUT|DELETE /-/package/{name}/dist-tags/{tag}` (`ls` is the generated dist-tags document). */
export async function setDistTag(ctx: FormatContext, name: string, tag: string, req: HttpRequest, res: HttpResponse): Promise<void> {
  requireName(name);
  if (req.method !== 'PUT' && req.method !== 'DELETE') throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} on a dist-tag`, undefined, { Allow: 'PUT, DELETE' });
  if (!validTag(tag)) throw badRequest('TAG_INVALID', 'a dist-tag is a name that is not a version');
  const w = await ctx.writer(req);
  let version: string | undefined;
  if (req.method === 'PUT') {
    const raw = (await req.readBody(4096)).toString('utf8').trim();
    try {
      version = JSON.parse(raw) as string;
    } catch {
      version = raw;
    }
    if (typeof version !== 'string' || !validVersion(version)) throw badRequest('VERSION_INVALID', 'the body is the version, as a JSON string');
  }
  await w.target.locked(`npm:${name}`, async () => {
    const p = await packumentOf(w.target, name);
    if (!p) throw notFound(`${name} is not published in ${w.target.repo.name}`, 'PACKAGE_NOT_FOUND');
    if (version && !p.versions[version]) throw notFound(`${name}@${version} is not published in ${w.target.repo.name}`, 'VERSION_NOT_FOUND');
    const meta = await readMeta(w.target, name);
    if (version) meta.distTags[tag] = version;
    else if (tag === 'latest') throw conflict('the latest tag cannot be removed', 'TAG_REQUIRED');
    else delete meta.distTags[tag];
    await writeMeta(w, name, meta);
  });
  sendJson(res, 201, { ok: true });
}
