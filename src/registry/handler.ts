import { Readable } from 'node:stream';
import type { Auth } from '../api/auth.js';
import type { BlobService } from '../blobs/blob-service.js';
import { deleteArtifact, getArtifact, refreshArtifact, upsertArtifact } from '../db/artifacts-table.js';
import type { Database } from '../db/types.js';
import { HttpError, isAbort } from '../errors.js';
import { serverTiming, since } from '../http/server-timing.js';
import type { HttpRequest, HttpResponse } from '../http/types.js';
import type { ContentService } from '../repos/content.js';
import type { Repository } from '../repos/model.js';
import type { ArtifactRowCache } from '../repos/row-cache.js';
import type { RepoRegistry } from '../repos/registry.js';
import { sendServable } from '../repos/send.js';
import { bufferServable, type Servable } from '../repos/servable.js';
import { parseManifest, MAX_MANIFEST_BYTES } from './manifest.js';
import { checkDigest, checkReference, DIGEST_RE, parseRegistryPath, splitName, type RegistryRoute } from './names.js';
import { ociBody, ociError } from './oci-errors.js';
import { deleteTagsOf, listCatalog, listReferrers, listTags } from './queries.js';
import type { UploadSessions } from './uploads.js';
import { readBounded } from '../util/read-bounded.js';

export interface RegistryDeps {
  repos: RepoRegistry;
  content: ContentService;
  auth: Auth;
  db: Database;
  rows: ArtifactRowCache;
  blobs: BlobService;
  uploads: UploadSessions;
  maxUploadBytes: number;
}

const API_VERSION = { 'Docker-Distribution-API-Version': 'registry/2.0' };
const CHALLENGE = { 'WWW-Authenticate': 'Basic realm="artifactapi"', ...API_VERSION };
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

function readAll(r: Readable, max: number): Promise<Buffer> {
  return readBounded(r, max, () => ociError('SIZE_INVALID', `manifest larger than ${max} bytes`, undefined, 413));
}

/** The OCI distribution API under /v2/ for docker repositories of every kind. */
export class RegistryApi {
  constructor(private readonly d: RegistryDeps) {}

  async handle(req: HttpRequest, res: HttpResponse): Promise<void> {
    try {
      for (const [k, v] of Object.entries(API_VERSION)) res.setHeader(k, v);
      const rest = req.rawPath.slice('/v2/'.length);
      if (req.rawPath === '/v2' || rest === '') return this.ping(req, res);
      if (rest === '_catalog') return await this.catalog(req, res);
      const route = parseRegistryPath(rest);
      if (!route) throw ociError('NAME_INVALID', `no registry endpoint at ${req.rawPath.slice(0, 200)}`, undefined, 404);
      await this.dispatch(req, res, route);
    } catch (err) {
      if (res.finished) return;
      if (isAbort(err) || res.headersSent) return res.destroy();
      const e = err instanceof HttpError ? err : null;
      if (!e) {
        req.log.err = (err as Error).message;
        res.status(500).setHeader('Content-Type', 'application/json').end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'internal server error' }] }));
        return;
      }
      for (const [k, v] of Object.entries(e.headers ?? {})) res.setHeader(k, v);
      res.status(e.status).setHeader('Content-Type', 'application/json').end(JSON.stringify(ociBody(e)));
    }
  }

  /** 200 to a valid credential, 401 + challenge otherwise — so `docker login` checks the password. */
  private ping(req: HttpRequest, res: HttpResponse): void {
    if (!this.d.auth.isAdmin(req)) throw ociError('UNAUTHORIZED', 'authentication required', undefined, 401, CHALLENGE);
    res.status(200).setHeader('Content-Type', 'application/json').end('{}');
  }

  private requireWrite(req: HttpRequest): void {
    if (!this.d.auth.isAdmin(req)) throw ociError('UNAUTHORIZED', 'authentication required to push', undefined, 401, CHALLENGE);
  }

  private repoOf(req: HttpRequest, name: string): { repo: Repository; image: string } {
    const { repo: repoName, image } = splitName(name);
    const repo = this.d.repos.get(repoName);
    if (!repo || repo.packageType !== 'docker' || (repo.settings.private && !this.d.auth.isAdmin(req))) {
      if (repo?.settings.private) throw ociError('UNAUTHORIZED', 'authentication required', undefined, 401, CHALLENGE);
      throw ociError('NAME_UNKNOWN', `repository "${repoName}" is not a docker repository here`);
    }
    req.log.repo = repo.name;
    return { repo, image };
  }

  /** Where pushes to `repo` land: itself if local, its deploy target if virtual; remotes are read-only. */
  private writable(repo: Repository): Repository {
    if (repo.repoType === 'local') return repo;
    if (repo.repoType === 'virtual') {
      const target = repo.settings.deploy_to ? this.d.repos.get(repo.settings.deploy_to) : undefined;
      if (!target) throw ociError('UNSUPPORTED', `virtual repository ${repo.name} has no deploy target (settings.deploy_to)`);
      return target;
    }
    throw ociError('UNSUPPORTED', `${repo.name} is a remote repository (a read-only cache)`);
  }

  private async dispatch(req: HttpRequest, res: HttpResponse, r: RegistryRoute): Promise<void> {
    const { repo, image } = this.repoOf(req, r.name);
    const m = req.method;
    switch (r.kind) {
      case 'blob':
        checkDigest(r.digest);
        if (m === 'GET' || m === 'HEAD') return this.getBlob(req, res, repo, image, r.digest);
        if (m === 'DELETE') return this.deleteBlob(req, res, repo, image, r.digest);
        break;
      case 'manifest':
        checkReference(r.reference);
        if (m === 'GET' || m === 'HEAD') return this.getManifest(req, res, repo, image, r.reference);
        if (m === 'PUT') return this.putManifest(req, res, repo, image, r.reference);
        if (m === 'DELETE') return this.deleteManifest(req, res, repo, image, r.reference);
        break;
      case 'uploads':
        if (m === 'POST') return this.startUpload(req, res, repo, image, r.name);
        break;
      case 'upload':
        if (m === 'PATCH') return this.patchUpload(req, res, repo, image, r.name, r.id);
        if (m === 'PUT') return this.finishUpload(req, res, repo, image, r.name, r.id);
        if (m === 'GET') return this.uploadStatus(req, res, repo, image, r.name, r.id);
        if (m === 'DELETE') return this.cancelUpload(req, res, repo, image, r.id);
        break;
      case 'tags':
        if (m === 'GET') return this.tags(req, res, repo, image, r.name);
        break;
      case 'referrers':
        checkDigest(r.digest);
        if (m === 'GET') return this.referrers(req, res, repo, image, r.digest);
        break;
    }
    throw ociError('UNSUPPORTED', `${m} is not supported here`);
  }

  // ---- blobs ----

  private async getBlob(req: HttpRequest, res: HttpResponse, repo: Repository, image: string, digest: string): Promise<void> {
    const s = await this.d.content.open(repo, `${image}/blobs/${digest}`, req);
    if (!s) throw ociError('BLOB_UNKNOWN', `blob ${digest} is unknown to ${repo.name}/${image}`);
    s.contentType = 'application/octet-stream';
    s.headers = { ...s.headers, 'Docker-Content-Digest': digest };
    return sendServable(req, res, s);
  }

  private async deleteBlob(req: HttpRequest, res: HttpResponse, repo: Repository, image: string, digest: string): Promise<void> {
    this.requireWrite(req);
    const target = this.writable(repo);
    if (target.settings.allow_delete === false) throw ociError('UNSUPPORTED', `deletes are disabled on ${target.name}`);
    if (!(await deleteArtifact(this.d.db, target.id, `${image}/blobs/${digest}`))) throw ociError('BLOB_UNKNOWN', `blob ${digest} is unknown`);
    await this.d.rows.changed(target.id, `${image}/blobs/${digest}`);
    res.status(202).end();
  }

  /** Record that the image's repository holds the blob (what pulls and manifest checks look at). */
  private async link(repo: Repository, image: string, sha256: string, size: number): Promise<void> {
    await upsertArtifact(this.d.db, {
      repoId: repo.id,
      path: `${image}/blobs/sha256:${sha256}`,
      sha256,
      size,
      contentType: 'application/octet-stream',
      source: 'local',
      digests: {},
      etag: null,
      lastModified: null,
      metadata: {},
      fetchedAt: null,
      expiresAt: null,
    });
    await this.d.rows.changed(repo.id, `${image}/blobs/sha256:${sha256}`);
  }

  /** `timing`: where the request's time went (Server-Timing), for a push whose closing request was slow. */
  private blobCreated(res: HttpResponse, name: string, digest: string, timing?: Record<string, number>): void {
    if (timing) res.setHeader('Server-Timing', serverTiming(timing));
    res.status(201).setHeader('Location', `/v2/${name}/blobs/${digest}`).setHeader('Docker-Content-Digest', digest).setHeader('Content-Length', 0).end();
  }

  private uploadAccepted(res: HttpResponse, name: string, id: string, size: number, status = 202): void {
    res
      .status(status)
      .setHeader('Location', `/v2/${name}/blobs/uploads/${id}`)
      .setHeader('Docker-Upload-UUID', id)
      .setHeader('Range', `0-${Math.max(0, size - 1)}`)
      .setHeader('OCI-Chunk-Min-Length', 0)
      .end();
  }

  private maxUpload(repo: Repository): number {
    return Math.min(this.d.maxUploadBytes, repo.settings.max_upload_bytes ?? Infinity);
  }

  private async startUpload(req: HttpRequest, res: HttpResponse, repo: Repository, image: string, name: string): Promise<void> {
    this.requireWrite(req);
    const target = this.writable(repo);
    const mount = req.query.get('mount');
    if (mount) {
      checkDigest(mount);
      const from = req.query.get('from');
      const source = from ? this.tryRepo(req, from) : { repo: target, image };
      const row = source ? await getArtifact(this.d.db, source.repo.id, `${source.image}/blobs/${mount}`) : null;
      if (row) {
        await this.link(target, image, row.sha256, row.size);
        return this.blobCreated(res, name, mount);
      }
    }
    const digest = req.query.get('digest');
    if (digest) {
      checkDigest(digest);
      const hex = digest.slice('sha256:'.length);
      const blob = await this.d.blobs.ingest(req.body(), { expected: { sha256: hex }, maxBytes: this.maxUpload(target), expectedSize: req.contentLength, signal: req.signal });
      const row = await blob.commit();
      await this.link(target, image, row.sha256, row.size);
      return this.blobCreated(res, name, digest);
    }
    const s = await this.d.uploads.create(target.id, image);
    this.uploadAccepted(res, name, s.id, 0);
  }

  private tryRepo(req: HttpRequest, name: string): { repo: Repository; image: string } | null {
    try {
      return this.repoOf(req, name);
    } catch {
      return null;
    }
  }

  private async patchUpload(req: HttpRequest, res: HttpResponse, repo: Repository, image: string, name: string, id: string): Promise<void> {
    this.requireWrite(req);
    const target = this.writable(repo);
    let s = await this.d.uploads.get(id, target.id, image);
    const range = req.header('content-range');
    if (range !== undefined) {
      const m = /^(?:bytes )?(\d+)-(\d+)$/.exec(range.trim());
      if (!m) throw ociError('BLOB_UPLOAD_INVALID', `malformed Content-Range "${range.slice(0, 100)}"`, undefined, 400);
      const start = Number(m[1]);
      const end = Number(m[2]);
      if (start !== s.size || end < start || (req.contentLength !== undefined && req.contentLength !== end - start + 1)) {
        res.setHeader('Range', `0-${Math.max(0, s.size - 1)}`).setHeader('Location', `/v2/${name}/blobs/uploads/${id}`);
        throw ociError('BLOB_UPLOAD_INVALID', `chunk ${start}-${end} does not continue the upload at byte ${s.size}`, undefined, 416);
      }
    }
    s = await this.d.uploads.append(s, req.body(), this.maxUpload(target), req.signal);
    this.uploadAccepted(res, name, s.id, s.size);
  }

  private async uploadStatus(req: HttpRequest, res: HttpResponse, repo: Repository, image: string, name: string, id: string): Promise<void> {
    const target = this.writable(repo);
    const s = await this.d.uploads.get(id, target.id, image);
    this.uploadAccepted(res, name, s.id, s.size, 204);
  }

  private async finishUpload(req: HttpRequest, res: HttpResponse, repo: Repository, image: string, name: string, id: string): Promise<void> {
    this.requireWrite(req);
    const target = this.writable(repo);
    const digest = checkDigest(req.query.get('digest') ?? '');
    let s = await this.d.uploads.get(id, target.id, image);
    // The closing PUT must stay short whatever the blob's size: its parts are reported, so that a slow one says
    // whether the body, the commit (digest check, the store's writes and fsyncs, the blob row) or the link took it.
    const timing: Record<string, number> = {};
    let t0 = performance.now();
    if (req.contentLength !== 0 && !(req.contentLength === undefined && req.header('transfer-encoding') === undefined)) {
      s = await this.d.uploads.append(s, req.body(), this.maxUpload(target), req.signal);
      timing.body = since(t0);
      t0 = performance.now();
    }
    const hex = digest.slice('sha256:'.length);
    await this.d.uploads.complete(s, hex);
    timing.commit = since(t0);
    t0 = performance.now();
    await this.link(target, image, hex, s.size);
    timing.link = since(t0);
    this.blobCreated(res, name, digest, timing);
  }

  private async cancelUpload(req: HttpRequest, res: HttpResponse, repo: Repository, image: string, id: string): Promise<void> {
    this.requireWrite(req);
    const target = this.writable(repo);
    await this.d.uploads.cancel(await this.d.uploads.get(id, target.id, image));
    res.status(204).end();
  }

  // ---- manifests ----

  private async getManifest(req: HttpRequest, res: HttpResponse, repo: Repository, image: string, reference: string): Promise<void> {
    const s = await this.d.content.open(repo, `${image}/manifests/${reference}`, req);
    if (!s) throw ociError('MANIFEST_UNKNOWN', `manifest ${reference} is unknown to ${repo.name}/${image}`);
    let servable: Servable = s;
    let sha256 = s.sha256;
    if (!sha256) {
      // Still streaming from an upstream: manifests are small, read it to name its digest.
      const body = await readAll(await s.open(undefined, req.signal), MAX_MANIFEST_BYTES);
      sha256 = this.d.blobs.digest(body);
      servable = bufferServable(body, s.contentType, s.source);
    }
    const digest = `sha256:${sha256}`;
    if (DIGEST_RE.test(reference) && reference !== digest) throw ociError('MANIFEST_UNKNOWN', `stored manifest does not match ${reference}`);
    servable.headers = { ...servable.headers, 'Docker-Content-Digest': digest };
    servable.etag = `"${digest}"`;
    return sendServable(req, res, servable);
  }

  private async putManifest(req: HttpRequest, res: HttpResponse, repo: Repository, image: string, reference: string): Promise<void> {
    this.requireWrite(req);
    const target = this.writable(repo);
    if (req.contentLength !== undefined && req.contentLength > MAX_MANIFEST_BYTES) throw ociError('SIZE_INVALID', `manifest larger than ${MAX_MANIFEST_BYTES} bytes`, undefined, 413);
    const body = await readAll(req.body(), MAX_MANIFEST_BYTES);
    const parsed = parseManifest(body, req.header('content-type'));
    const sha256 = this.d.blobs.digest(body);
    const digest = `sha256:${sha256}`;
    if (DIGEST_RE.test(reference) && reference !== digest) throw ociError('DIGEST_INVALID', `manifest digest is ${digest}, not ${reference}`);
    const missing: string[] = [];
    // Refreshing (not just reading) the links keeps garbage collection of untagged content from removing them now.
    for (const b of parsed.blobs) if (!(await refreshArtifact(this.d.db, target.id, `${image}/blobs/${b}`))) missing.push(b);
    for (const mf of parsed.manifests) if (!(await refreshArtifact(this.d.db, target.id, `${image}/manifests/${mf}`))) missing.push(mf);
    if (missing.length > 0) throw ociError('MANIFEST_BLOB_UNKNOWN', `manifest references unknown content: ${missing.slice(0, 5).join(', ')}`, { missing });
    const size = body.length;
    // Read everything needed from `body` first: the hashing stage takes ownership of the buffer it is given.
    const blob = await this.d.blobs.ingest(Readable.from([body]), { expected: { sha256 } });
    await blob.commit();
    const metadata: Record<string, unknown> = { mediaType: parsed.mediaType };
    if (parsed.subject) metadata.subject = parsed.subject;
    if (parsed.artifactType) metadata.artifactType = parsed.artifactType;
    if (parsed.annotations) metadata.annotations = parsed.annotations;
    const row = {
      repoId: target.id,
      sha256,
      size,
      contentType: parsed.mediaType,
      source: 'local' as const,
      digests: {},
      etag: null,
      lastModified: null,
      metadata,
      fetchedAt: null,
      expiresAt: null,
    };
    await upsertArtifact(this.d.db, { ...row, path: `${image}/manifests/${digest}` });
    await this.d.rows.changed(target.id, `${image}/manifests/${digest}`);
    if (!DIGEST_RE.test(reference)) {
      await upsertArtifact(this.d.db, { ...row, path: `${image}/manifests/${reference}` });
      await this.d.rows.changed(target.id, `${image}/manifests/${reference}`);
    }
    if (parsed.subject) res.setHeader('OCI-Subject', parsed.subject);
    res.status(201).setHeader('Location', `/v2/${target.name}/${image}/manifests/${digest}`).setHeader('Docker-Content-Digest', digest).setHeader('Content-Length', 0).end();
  }

  private async deleteManifest(req: HttpRequest, res: HttpResponse, repo: Repository, image: string, reference: string): Promise<void> {
    this.requireWrite(req);
    const target = this.writable(repo);
    if (target.settings.allow_delete === false) throw ociError('UNSUPPORTED', `deletes are disabled on ${target.name}`);
    const row = await getArtifact(this.d.db, target.id, `${image}/manifests/${reference}`);
    if (!row) throw ociError('MANIFEST_UNKNOWN', `manifest ${reference} is unknown`);
    if (DIGEST_RE.test(reference)) {
      await deleteTagsOf(this.d.db, target.id, image, row.sha256);
      await this.d.rows.changedRepo(target.id);
    } else {
      await deleteArtifact(this.d.db, target.id, `${image}/manifests/${reference}`);
      await this.d.rows.changed(target.id, `${image}/manifests/${reference}`);
    }
    res.status(202).end();
  }

  // ---- listings ----

  private page(req: HttpRequest): { n: number; last: string | undefined } {
    const raw = req.query.get('n');
    if (raw !== null && !/^\d+$/.test(raw)) throw ociError('UNSUPPORTED', 'n must be a non-negative integer', undefined, 400);
    return { n: raw === null ? DEFAULT_PAGE : Math.min(Number(raw), MAX_PAGE), last: req.query.get('last') ?? undefined };
  }

  private async tags(req: HttpRequest, res: HttpResponse, repo: Repository, image: string, name: string): Promise<void> {
    const { n, last } = this.page(req);
    const members = repo.repoType === 'virtual' ? repo.members.map((m) => this.d.repos.get(m)).filter((x): x is Repository => !!x) : [repo];
    const all = new Set<string>();
    let known = false;
    for (const m of members) {
      if (m.repoType === 'remote') {
        // The upstream's list (cached as a mutable document, stale-if-error like any index).
        const s = await this.d.content.open(m, `${image}/tags/list`, req).catch(() => null);
        if (!s) continue;
        known = true;
        const doc = JSON.parse((await readAll(await s.open(undefined, req.signal), MAX_MANIFEST_BYTES)).toString('utf8')) as { tags?: unknown };
        for (const t of Array.isArray(doc.tags) ? doc.tags : []) if (typeof t === 'string' && (last === undefined || t > last)) all.add(t);
      } else {
        const local = await listTags(this.d.db, m.id, image, last, n + 1);
        if (local.length > 0 || (await this.hasImage(m, image))) known = true;
        for (const t of local) all.add(t);
      }
    }
    if (!known && !last) throw ociError('NAME_UNKNOWN', `${repo.name}/${image} is unknown`);
    let tags = n === 0 ? [] : [...all].sort().slice(0, n + 1);
    if (tags.length > n) {
      tags = tags.slice(0, n);
      res.setHeader('Link', `</v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(tags[tags.length - 1]!)}>; rel="next"`);
    }
    res.status(200).setHeader('Content-Type', 'application/json').end(JSON.stringify({ name, tags }));
  }

  private async hasImage(repo: Repository, image: string): Promise<boolean> {
    return (await listTags(this.d.db, repo.id, image, undefined, 1)).length > 0;
  }

  private async catalog(req: HttpRequest, res: HttpResponse): Promise<void> {
    const { n, last } = this.page(req);
    const admin = this.d.auth.isAdmin(req);
    const repos = this.d.repos.list().filter((r) => r.packageType === 'docker' && r.repoType !== 'virtual' && (admin || !r.settings.private));
    const names = n === 0 ? [] : await listCatalog(this.d.db, repos.map((r) => r.id), last, n + 1);
    const page = names.slice(0, n);
    if (names.length > n && n > 0) res.setHeader('Link', `</v2/_catalog?n=${n}&last=${encodeURIComponent(page[page.length - 1]!)}>; rel="next"`);
    res.status(200).setHeader('Content-Type', 'application/json').end(JSON.stringify({ repositories: page }));
  }

  private async referrers(req: HttpRequest, res: HttpResponse, repo: Repository, image: string, digest: string): Promise<void> {
    const filter = req.query.get('artifactType');
    const members = repo.repoType === 'virtual' ? repo.members.map((m) => this.d.repos.get(m)).filter((x): x is Repository => !!x) : [repo];
    const manifests: unknown[] = [];
    const seen = new Set<string>();
    for (const m of members) {
      for (const r of await listReferrers(this.d.db, m.id, image, digest)) {
        if (seen.has(r.sha256)) continue;
        seen.add(r.sha256);
        const artifactType = (r.metadata.artifactType as string | undefined) ?? undefined;
        if (filter && artifactType !== filter) continue;
        manifests.push({
          mediaType: r.contentType,
          digest: `sha256:${r.sha256}`,
          size: r.size,
          ...(artifactType ? { artifactType } : {}),
          ...(r.metadata.annotations ? { annotations: r.metadata.annotations } : {}),
        });
      }
    }
    if (filter) res.setHeader('OCI-Filters-Applied', 'artifactType');
    res
      .status(200)
      .setHeader('Content-Type', 'application/vnd.oci.image.index.v1+json')
      .end(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  }
}
