import { badRequest, HttpError } from '../../errors.js';
import type { HttpRequest, HttpResponse } from '../../http/types.js';
import { sendJson } from '../../http/respond.js';
import { bufferServable, type Servable } from '../../repos/servable.js';
import { multipartBoundary, multipartParts, partText } from '../shared/multipart.js';
import type { ArtifactEntry, FormatContext, StagedBlob } from '../types.js';
import { readCoreMetadata } from './core-metadata.js';
import { normalizeName, parseDistFilename, sameVersion } from './names.js';
import { filePath, parsePypiPath, relativeFileUrl } from './paths.js';
import { JSON_TYPE, projectList, projectPage, toJson, type SimpleFile } from './simple-model.js';

/** What a stored distribution keeps in its metadata (read from the file itself at upload). */
interface DistMetadata {
  name: string;
  version: string;
  filetype: string;
  requires_python?: string;
  summary?: string;
  /** PEP 658: the wheel's METADATA, served at `{file}.metadata`. */
  core_metadata?: string;
  core_metadata_sha256?: string;
  yanked?: string | boolean;
}

/** Largest METADATA kept for PEP 658 serving; bigger ones are simply not advertised. */
const MAX_KEPT_METADATA = 1024 * 1024;
const SCAN_LIMIT = 100_000;

/** Local uploads (PUT or twine): only `packages/{project}/{filename}` with a valid distribution name. */
export function validateUpload(path: string): string {
  const p = parsePypiPath(path);
  if (p.kind !== 'file') throw badRequest('PATH_INVALID', 'PyPI uploads go to packages/{project}/{filename}, or use twine against the repository URL');
  const dist = parseDistFilename(p.filename);
  if (dist.project !== p.project) throw badRequest('PATH_INVALID', `${p.filename} belongs to project ${dist.project}, not ${p.project}`);
  return path;
}

/** The file must say inside what its name says outside: project and version from METADATA / PKG-INFO. */
export async function inspect(path: string, blob: StagedBlob): Promise<Record<string, unknown>> {
  const p = parsePypiPath(path);
  if (p.kind !== 'file') return {};
  const dist = parseDistFilename(p.filename);
  const meta = await readCoreMetadata(dist, blob);
  if (normalizeName(meta.name) !== dist.project) throw badRequest('METADATA_MISMATCH', `${dist.filename} contains project ${meta.name}`);
  if (!sameVersion(meta.version, dist.version)) throw badRequest('METADATA_MISMATCH', `${dist.filename} contains version ${meta.version}`);
  const out: DistMetadata = { name: meta.name, version: meta.version, filetype: dist.kind };
  if (meta.requiresPython) out.requires_python = meta.requiresPython;
  if (meta.summary) out.summary = meta.summary;
  if (dist.kind === 'bdist_wheel' && meta.text.length <= MAX_KEPT_METADATA) {
    out.core_metadata = meta.text;
    out.core_metadata_sha256 = meta.sha256;
  }
  return out as unknown as Record<string, unknown>;
}

function fileEntry(project: string, e: ArtifactEntry): SimpleFile {
  const m = e.metadata as Partial<DistMetadata>;
  const filename = e.path.slice(e.path.lastIndexOf('/') + 1);
  const f: SimpleFile = { filename, url: relativeFileUrl(project, filename), hashes: { sha256: e.sha256 } };
  if (m.requires_python) f['requires-python'] = m.requires_python;
  if (m.core_metadata_sha256) f['core-metadata'] = { sha256: m.core_metadata_sha256 };
  if (m.yanked) f.yanked = m.yanked;
  return f;
}

/** Index pages and PEP 658 metadata generated from what is stored. */
export async function generate(ctx: FormatContext, path: string): Promise<Servable | null> {
  const p = parsePypiPath(path);
  if (p.kind === 'list') {
    const names = new Map<string, string>();
    for (const e of await ctx.artifacts.list('packages/', { limit: SCAN_LIMIT })) {
      const project = e.path.split('/')[1]!;
      if (!names.has(project)) names.set(project, String((e.metadata as Partial<DistMetadata>).name ?? project));
    }
    return bufferServable(toJson(projectList(names.values())), JSON_TYPE, 'local');
  }
  if (p.kind === 'page') {
    const entries = await ctx.artifacts.list(`packages/${p.project}/`, { limit: SCAN_LIMIT });
    if (entries.length === 0) return null;
    const name = String((entries[0]!.metadata as Partial<DistMetadata>).name ?? p.project);
    return bufferServable(toJson(projectPage(name, entries.map((e) => fileEntry(p.project, e)))), JSON_TYPE, 'local');
  }
  if (p.kind === 'metadata') {
    const e = await ctx.artifacts.get(filePath(p.project, p.filename));
    const text = (e?.metadata as Partial<DistMetadata> | undefined)?.core_metadata;
    return text === undefined ? null : bufferServable(Buffer.from(text, 'utf8'), 'text/plain; charset=utf-8', 'local');
  }
  return null;
}

const FORM_DIGESTS = [
  ['sha256_digest', 'sha256', 64],
  ['md5_digest', 'md5', 32],
] as const;

/**
 * The legacy upload API twine, poetry and uv speak: `POST /{repo}/` multipart with `:action=file_upload`, the
 * form fields, and the file in `content`. The file streams into the store; digests named in fields before it are
 * checked before anything is committed, the sha256 of fields after it right after.
 */
export async function upload(ctx: FormatContext, req: HttpRequest, res: HttpResponse): Promise<void> {
  const writer = await ctx.writer(req);
  const boundary = multipartBoundary(req.header('content-type'));
  const fields = new Map<string, string>();
  let stored: { path: string; sha256: string; size: number } | undefined;
  try {
    for await (const part of multipartParts(req.body(), boundary)) {
      if (part.name !== 'content') {
        fields.set(part.name, await partText(part));
        continue;
      }
      if (stored) throw badRequest('UPLOAD_INVALID', 'more than one content part');
      const action = fields.get(':action');
      if (action !== undefined && action !== 'file_upload') throw badRequest('UPLOAD_INVALID', `unsupported :action ${action}`);
      const dist = parseDistFilename(part.filename ?? '');
      const name = fields.get('name');
      if (name !== undefined && normalizeName(name) !== dist.project) throw badRequest('UPLOAD_INVALID', `name ${name} does not match ${dist.filename}`);
      const version = fields.get('version');
      if (version !== undefined && !sameVersion(version, dist.version)) throw badRequest('UPLOAD_INVALID', `version ${version} does not match ${dist.filename}`);
      const expected: Record<string, string> = {};
      for (const [field, alg, len] of FORM_DIGESTS) {
        const v = fields.get(field)?.trim().toLowerCase();
        if (!v) continue;
        if (v.length !== len || !/^[0-9a-f]+$/.test(v)) throw badRequest('DIGEST_INVALID', `${field} is not ${len} hex characters`);
        expected[alg] = v;
      }
      stored = await writer.put(filePath(dist.project, dist.filename), part.body, { expected, signal: req.signal, contentType: contentTypeFor(dist.filename) });
    }
    if (!stored) throw badRequest('UPLOAD_INVALID', 'no content part (the distribution file)');
    const late = fields.get('sha256_digest')?.trim().toLowerCase();
    if (late && late !== stored.sha256) throw new HttpError(400, 'DIGEST_MISMATCH', `sha256_digest ${late} does not match the uploaded file (${stored.sha256})`);
  } catch (err) {
    if (stored) await writer.delete(stored.path).catch(() => {});
    throw err;
  }
  sendJson(res, 200, { ok: true, repo: writer.target.repo.name, path: stored.path, sha256: stored.sha256, size: stored.size });
}

/** `DELETE /{repo}/packages/{project}/` removes a project; `?version=V` only that version's files. */
export async function deleteProjectFiles(ctx: FormatContext, project: string, req: HttpRequest, res: HttpResponse): Promise<void> {
  const writer = await ctx.writer(req);
  const version = req.query.get('version');
  const entries = await writer.target.artifacts.list(`packages/${project}/`, { limit: SCAN_LIMIT });
  const doomed = entries.filter((e) => version === null || sameVersion(String((e.metadata as Partial<DistMetadata>).version ?? ''), version));
  if (doomed.length === 0) throw new HttpError(404, 'ARTIFACT_NOT_FOUND', `no files of ${project}${version ? ` ${version}` : ''} in ${writer.target.repo.name}`);
  for (const e of doomed) await writer.delete(e.path);
  sendJson(res, 200, { deleted: doomed.map((e) => e.path) });
}

export function contentTypeFor(filename: string): string {
  if (filename.endsWith('.whl') || filename.endsWith('.zip')) return 'application/zip';
  if (filename.endsWith('.tar.gz')) return 'application/gzip';
  if (filename.endsWith('.metadata')) return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}
