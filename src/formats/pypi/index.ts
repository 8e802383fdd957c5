import { badRequest } from '../../errors.js';
import { bufferServable, type Servable } from '../../repos/servable.js';
import { RenderedCache } from '../shared/rendered-cache.js';
import type { FormatProvider } from '../types.js';
import { contentTypeFor, deleteProjectFiles, generate, inspect, upload, validateUpload } from './local.js';
import { normalizeName, validProjectName } from './names.js';
import { negotiate } from './negotiate.js';
import { parsePypiPath } from './paths.js';
import { locate, rewrite } from './remote.js';
import { JSON_TYPE, projectList, projectPage, renderListHtml, renderPageHtml, toJson, type ProjectList, type ProjectPage, type SimpleFile } from './simple-model.js';
import { readBounded } from '../../util/read-bounded.js';

const MAX_PAGE = 256 * 1024 * 1024;
const rendered = new RenderedCache();

async function readAll(s: Servable, signal?: AbortSignal): Promise<Buffer> {
  return readBounded(await s.open(undefined, signal), MAX_PAGE, () => badRequest('DOCUMENT_TOO_LARGE', 'index page too large'));
}

function parseCanonical<T>(body: Buffer): T | undefined {
  try {
    return JSON.parse(body.toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

/**
 * PyPI repositories: the simple index (`/{repo}/simple/`, PEP 503 HTML and PEP 691 JSON by Accept), files under
 * `/{repo}/packages/{project}/{file}` with PEP 658 `.metadata`, and the legacy upload API twine uses
 * (`POST /{repo}/`). Pages are stored as PEP 691 JSON whatever the source and rendered per client.
 */
export const pypi: FormatProvider = {
  type: 'pypi',

  classify(_repo, path) {
    const k = parsePypiPath(path).kind;
    return k === 'list' || k === 'page' || k === 'other' ? 'mutable' : 'immutable';
  },

  contentType(path) {
    const k = parsePypiPath(path).kind;
    return k === 'list' || k === 'page' ? JSON_TYPE : contentTypeFor(path);
  },

  /** Prefer JSON from the upstream (one parse, no HTML guessing); any PEP 503 index still answers HTML. */
  upstreamHeaders(path): Record<string, string> {
    const k = parsePypiPath(path).kind;
    return k === 'list' || k === 'page' ? { accept: `${JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1` } : {};
  },

  locate,
  rewriteDocument: rewrite,
  validateUpload: (_ctx, path) => validateUpload(path),
  inspectUpload: (_ctx, path, blob) => inspect(path, blob),
  generate,

  async present(_ctx, path, found, req) {
    const k = parsePypiPath(path).kind;
    if ((k !== 'list' && k !== 'page') || !found.contentType.startsWith(JSON_TYPE)) return found;
    const rep = negotiate(req.header('accept'));
    const headers = { ...found.headers, Vary: 'Accept' };
    if (rep.kind === 'json') return { ...found, headers };
    // A HEAD that missed the cache has only the upstream's headers: no body to render.
    if (req.method === 'HEAD' && found.source === 'remote') return { ...found, contentType: `${rep.contentType}; charset=utf-8`, size: undefined, headers };
    const render = async () => {
      const doc = parseCanonical<ProjectPage & ProjectList>(await readAll(found, req.signal));
      if (!doc) throw badRequest('DOCUMENT_INVALID', 'stored index page is not JSON');
      return Buffer.from(k === 'list' ? renderListHtml(doc, normalizeName) : renderPageHtml(doc));
    };
    const body = found.sha256 ? await rendered.get(`${found.sha256}:html`, render) : await render();
    return bufferServable(body, `${rep.contentType}; charset=utf-8`, found.source, { headers, stale: found.stale, sha256: undefined });
  },

  async route(ctx, path, req, res) {
    if (req.method === 'POST' && (path === '' || path === '/')) {
      await upload(ctx, req, res);
      return true;
    }
    // PEP 503: a client asking for a non-normalised name (or without the slash) is redirected.
    const m = /^simple\/([^/]+)\/?$/.exec(path);
    if (m && (req.method === 'GET' || req.method === 'HEAD')) {
      if (!validProjectName(m[1]!)) throw badRequest('NAME_INVALID', `${m[1]} is not a valid project name`);
      const norm = normalizeName(m[1]!);
      if (norm !== m[1] || !path.endsWith('/')) {
        res.status(301).setHeader('Location', `${ctx.repoUrl}/simple/${norm}/`).end();
        return true;
      }
    }
    const del = /^packages\/([^/]+)\/?$/.exec(path);
    if (req.method === 'DELETE' && del && (path.endsWith('/') || req.query.has('version'))) {
      await deleteProjectFiles(ctx, normalizeName(del[1]!), req, res);
      return true;
    }
    return false;
  },

  mergeable(path) {
    const k = parsePypiPath(path).kind;
    return k === 'list' || k === 'page';
  },

  /** Union of the members' pages; on a file name (or project) present in several, the first member wins. */
  async merge(_ctx, path, docs) {
    const p = parsePypiPath(path);
    const parsed = docs.filter((d) => d.contentType?.startsWith(JSON_TYPE)).map((d) => parseCanonical<ProjectPage & ProjectList>(d.body));
    if (p.kind === 'list') {
      const names = new Map<string, string>();
      for (const d of parsed) for (const pr of d?.projects ?? []) if (!names.has(normalizeName(pr.name))) names.set(normalizeName(pr.name), pr.name);
      return bufferServable(toJson(projectList(names.values())), JSON_TYPE, 'local');
    }
    const files = new Map<string, SimpleFile>();
    let name = p.kind === 'page' ? p.project : '';
    for (const d of parsed) {
      if (!d?.files) continue;
      if (files.size === 0 && d.name) name = d.name;
      for (const f of d.files) if (!files.has(f.filename)) files.set(f.filename, f);
    }
    return bufferServable(toJson(projectPage(name, [...files.values()])), JSON_TYPE, 'local');
  },
};
