import { HttpError, notFound, tooLarge } from '../../errors.js';
import { bufferServable } from '../../repos/servable.js';
import { stagedSource } from '../shared/archive.js';
import type { FormatProvider, PathClass } from '../types.js';
import { INFO_TYPE, infoJson, LIST_TYPE, listBody, localVersions, mergeLatest, mergeLists, zipMetadata, type ZipMetadata } from './documents.js';
import { parseGoPath, type GoPath } from './paths.js';
import { latestOf } from './semver.js';
import { checkModuleZip, MAX_ZIP_FILE } from './zip-check.js';

function tryParse(path: string): GoPath | null {
  try {
    return parseGoPath(path);
  } catch {
    return null;
  }
}

/**
 * Remote caching policy.
 * - `@v/list`, `@latest` and `.info` of a query (branch, `v1.2`, wrong-major version) change: mutable.
 * - `.info`, `.mod`, `.zip` of a canonical version never change (the checksum database pins them): immutable.
 * - sumdb `supported` and `latest` (the signed tree head, which grows) are mutable.
 * - sumdb `lookup/{m}@{v}` is immutable: the record of a version never changes, and the signed tree note that
 *   comes with it stays verifiable forever (the client proves an older tree is a prefix of its newer one).
 * - sumdb tiles are immutable, partial ones (`.p/W`) included: a tile URL always names the same hashes. Once a
 *   tile is complete the server may drop the partial one (404), and the client then falls back to the full
 *   tile by itself (golang.org/x/mod/sumdb client.go), so a cached partial tile is never wrong.
 */
function classifyGo(p: GoPath | null): PathClass {
  if (!p) return 'mutable';
  switch (p.kind) {
    case 'list':
    case 'latest':
      return 'mutable';
    case 'info':
      return p.canonical ? 'immutable' : 'mutable';
    case 'mod':
    case 'zip':
      return 'immutable';
    case 'sumdb':
      return p.op === 'lookup' || p.op === 'tile' ? 'immutable' : 'mutable';
  }
}

function contentTypeOf(p: GoPath | null): string {
  switch (p?.kind) {
    case 'info':
    case 'latest':
      return INFO_TYPE;
    case 'list':
    case 'mod':
      return LIST_TYPE;
    case 'zip':
      return 'application/zip';
    case 'sumdb':
      return p.op === 'tile' ? 'application/octet-stream' : LIST_TYPE;
    default:
      return 'application/octet-stream';
  }
}

/**
 * Go modules: `GOPROXY=http://host/{repo}` (the GOPROXY protocol, `go help goproxy`), with the checksum database
 * proxied under `{repo}/sumdb/{name}/` so `GOSUMDB` keeps working through the proxy.
 * Remote: the upstream is another GOPROXY (proxy.golang.org, or a static tree such as a GOMODCACHE's
 * cache/download); its sumdb is `{upstream}/sumdb/{name}/…`, exactly how proxy.golang.org serves it.
 * Local: `PUT {repo}/{module}/@v/{version}.zip` (module and version case-encoded), checked like the go command
 * checks a module zip; `.mod`, `.info`, `@v/list` and `@latest` are derived from the stored zips.
 * Virtual: `@v/list` is the union of the members', `@latest` the highest of theirs; the first member that has a
 * version's .info/.mod/.zip serves it.
 */
export const go: FormatProvider = {
  type: 'go',

  classify(_repo, path) {
    return classifyGo(tryParse(path));
  },

  contentType(path) {
    return contentTypeOf(tryParse(path));
  },

  async locate(ctx, path) {
    // Every path reaching here was parsed: case-encoded module paths and versions, digits in tile paths; none
    // of their characters needs URL-escaping, so the upstream sees the path exactly as the go command sent it.
    return tryParse(path) ? { url: `${ctx.repo.upstream!.url}/${path}` } : null;
  },

  upstreamHeaders() {
    return {};
  },

  /** Every request: malformed module paths and versions are a 400, paths outside the protocol a 404. */
  async route(_ctx, path, req) {
    const p = parseGoPath(path);
    if (req.method === 'DELETE' && p.kind !== 'zip') {
      throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'only a version (its .zip) can be deleted; .mod, .info, @v/list and @latest are derived from it', undefined, {
        Allow: 'GET, HEAD',
      });
    }
    return false;
  },

  validateUpload(_ctx, path, req) {
    const p = parseGoPath(path);
    if (p.kind !== 'zip') {
      throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'publish a module with PUT {module}/@v/{version}.zip; .mod, .info, @v/list and @latest are derived from it', undefined, {
        Allow: 'GET, HEAD',
      });
    }
    if (req.contentLength !== undefined && req.contentLength > MAX_ZIP_FILE) {
      throw tooLarge(`module zip is ${req.contentLength} bytes; the go command refuses more than ${MAX_ZIP_FILE}`, 'GO_MODULE_TOO_LARGE');
    }
    return path;
  },

  async inspectUpload(_ctx, path, blob) {
    const p = parseGoPath(path);
    if (p.kind !== 'zip') throw notFound('not a module zip path');
    const { goMod } = await checkModuleZip(stagedSource(blob), p.module, p.version);
    const meta: ZipMetadata = { module: p.module, version: p.version, time: new Date().toISOString(), goMod };
    return { ...meta };
  },

  async generate(ctx, path) {
    const p = tryParse(path);
    if (!p || p.kind === 'zip' || p.kind === 'sumdb') return null;
    if (p.kind === 'list' || p.kind === 'latest') {
      const versions = await localVersions(ctx.artifacts, p.escaped);
      if (versions.length === 0) return null;
      if (p.kind === 'list') return bufferServable(listBody(versions.map((v) => v.version)), LIST_TYPE, 'local');
      const best = latestOf(versions.map((v) => v.version))!;
      return bufferServable(infoJson(best, versions.find((v) => v.version === best)!.time), INFO_TYPE, 'local');
    }
    // Local repositories hold exact versions only; queries (branches) cannot resolve here.
    if ((p.kind !== 'info' && p.kind !== 'mod') || !p.canonical) return null;
    const zip = await ctx.artifacts.get(path.replace(/\.(info|mod)$/, '.zip'));
    const meta = zip && zipMetadata(zip);
    if (!meta) return null;
    if (p.kind === 'info') return bufferServable(infoJson(meta.version, meta.time), INFO_TYPE, 'local');
    return bufferServable(Buffer.from(meta.goMod, 'utf8'), LIST_TYPE, 'local');
  },

  mergeable(path) {
    const kind = tryParse(path)?.kind;
    return kind === 'list' || kind === 'latest';
  },

  async merge(_ctx, path, docs) {
    if (tryParse(path)?.kind === 'list') return bufferServable(mergeLists(docs), LIST_TYPE, 'local');
    const best = mergeLatest(docs);
    if (!best) throw notFound(`no member has a latest version of ${path.slice(0, -'/@latest'.length)}`, 'ARTIFACT_NOT_FOUND');
    return bufferServable(best, INFO_TYPE, 'local');
  },
};
