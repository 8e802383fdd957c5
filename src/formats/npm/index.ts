import { badRequest, HttpError } from '../../errors.js';
import type { HttpRequest, HttpResponse } from '../../http/types.js';
import { bufferServable } from '../../repos/servable.js';
import type { FormatContext, FormatProvider } from '../types.js';
import { endpoint } from './endpoints.js';
import { generate } from './local.js';
import { ABBREVIATED_TYPE, JSON_TYPE, parseDistTags } from './packument.js';
import { mergePackuments } from './packument-stream.js';
import { parseNpmPath } from './paths.js';
import { locate, rewrite } from './remote.js';
import { renderedPackument } from './rendered.js';

/**
 * npm registries: `npm --registry http://HOST/{repo}/`. Packuments (`/{name}`, `/@scope%2fname`) are stored once,
 * full, with tarballs named by repository path, and rendered per client (absolute URLs through this repository;
 * abbreviated for `Accept: application/vnd.npm.install-v1+json`). Tarballs live at `/{name}/-/{file}.tgz`.
 * Local repositories take `npm publish`, `dist-tag`, `deprecate`, `unpublish`; virtual ones merge packuments.
 */
export const npm: FormatProvider = {
  type: 'npm',

  classify(_repo, path) {
    return parseNpmPath(path).kind === 'tarball' ? 'immutable' : 'mutable';
  },

  contentType(path) {
    return parseNpmPath(path).kind === 'tarball' ? 'application/octet-stream' : JSON_TYPE;
  },

  /** The full document from upstream: abbreviating is done here, per client, from the one stored copy. */
  upstreamHeaders(path): Record<string, string> {
    return parseNpmPath(path).kind === 'tarball' ? {} : { accept: JSON_TYPE };
  },

  /** `@scope%2fname` (how npm sends scoped names) is `@scope/name`; no other encoded slash is accepted. */
  rawPath(raw) {
    return raw.replace(/^(-\/package\/)?(@[A-Za-z0-9-~][A-Za-z0-9-._~]*)%2[fF]/, '$1$2/');
  },

  locate,
  rewriteDocument: (ctx, path, body) => rewrite(ctx, path, body),

  validateUpload(_ctx, path) {
    throw badRequest('PATH_INVALID', `npm repositories take uploads from npm publish (PUT /{name}), not PUT /${path}`);
  },

  async generate(ctx, path) {
    return generate(ctx, parseNpmPath(path));
  },

  async present(ctx, path, found, req) {
    if (parseNpmPath(path).kind !== 'packument' || !found.contentType.startsWith(JSON_TYPE)) return found;
    const abbreviated = (req.header('accept') ?? '').includes(ABBREVIATED_TYPE);
    const contentType = abbreviated ? ABBREVIATED_TYPE : JSON_TYPE;
    const headers = { ...found.headers, Vary: 'Accept' };
    if (req.method === 'HEAD' && found.source === 'remote') return { ...found, contentType, size: undefined, headers };
    const body = await renderedPackument(found, ctx.repoUrl, abbreviated, `packument ${path}`, req.signal);
    return bufferServable(body, contentType, found.source, { headers, stale: found.stale });
  },

  /** npm's own endpoints (publish, dist-tag, unpublish, whoami, login), answered with npm's `{error}` bodies. */
  async route(ctx: FormatContext, path: string, req: HttpRequest, res: HttpResponse) {
    const handle = endpoint(path, req.method);
    if (!handle) return false;
    try {
      await handle(ctx, req, res);
    } catch (err) {
      if (!(err instanceof HttpError) || res.headersSent) throw err;
      // npm prints `body.error` as a string ("409 Conflict - PUT … - <error>"); the code rides along.
      for (const [k, v] of Object.entries(err.headers ?? {})) res.setHeader(k, v);
      res.status(err.status).setHeader('content-type', 'application/json').end(JSON.stringify({ error: err.message, code: err.code }));
    }
    return true;
  },

  mergeable(path) {
    const k = parseNpmPath(path).kind;
    return k === 'packument' || k === 'dist-tags';
  },

  /** Versions union (first member wins a version); each dist-tag from the first member that has it. */
  async merge(_ctx, path, docs) {
    const p = parseNpmPath(path) as { kind: 'packument' | 'dist-tags'; name: string };
    const json = docs.filter((d) => d.contentType?.startsWith(JSON_TYPE));
    if (p.kind === 'dist-tags') {
      const tags: Record<string, string> = {};
      for (const d of json) for (const [t, v] of Object.entries(parseDistTags(d.body, `dist-tags of ${p.name} from ${d.member}`))) tags[t] ??= v;
      return bufferServable(Buffer.from(JSON.stringify(tags)), JSON_TYPE, 'local');
    }
    const merged = mergePackuments(p.name, json.map((d) => ({ body: d.body, where: `packument of ${p.name} from ${d.member}` })));
    return bufferServable(merged, JSON_TYPE, 'local');
  },
};
