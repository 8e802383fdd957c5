import { badRequest, HttpError } from '../../errors.js';
import { bufferServable } from '../../repos/servable.js';
import { sendServable } from '../../repos/send.js';
import type { FormatProvider, MemberDocument } from '../types.js';
import { generate, inspect, listLocal, upload, validateUpload } from './local.js';
import { byVersionDesc, JSON_TYPE, pagination, toJson, type Listing, type Release } from './model.js';
import { compareVersions, requireModule } from './names.js';
import { listingHref, listingPath, PAGE, parsePuppetPath } from './paths.js';
import { locate, rewrite } from './remote.js';

function parsed<T>(docs: MemberDocument[]): T[] {
  const out: T[] = [];
  for (const d of docs) {
    try {
      const v = JSON.parse(d.body.toString('utf8')) as T;
      if (v && typeof v === 'object') out.push(v);
    } catch {
      // A member that answered something else than JSON contributes nothing.
    }
  }
  return out;
}

type ModuleDoc = Record<string, unknown> & { current_release?: Release; releases?: Array<{ slug: string; version: string }> };

/**
 * Puppet Forge API v3 under `/{repo}/` (`puppet module install --module_repository http://HOST/{repo}`): release
 * listings, module and release documents, tarballs at `v3/files/`, and the publish API (`POST v3/releases`).
 * Local repositories answer listing queries directly; remote and virtual ones redirect them to a path-addressed
 * page (`v3/releases/~{owner}-{name}/{offset}`) because the remote cache and virtual merges key by path.
 */
export const puppet: FormatProvider = {
  type: 'puppet',

  classify(_repo, path) {
    return parsePuppetPath(path).kind === 'file' ? 'immutable' : 'mutable';
  },

  contentType(path) {
    return parsePuppetPath(path).kind === 'file' ? 'application/gzip' : JSON_TYPE;
  },

  upstreamHeaders(path): Record<string, string> {
    return parsePuppetPath(path).kind === 'file' ? {} : { accept: JSON_TYPE };
  },

  locate,
  rewriteDocument: (ctx, path, body) => rewrite(ctx, path, body),
  validateUpload: (_ctx, path) => validateUpload(path),
  inspectUpload: (_ctx, path, blob) => inspect(path, blob),
  generate,

  async route(ctx, path, req, res) {
    if (parsePuppetPath(path).kind !== 'releases') return false;
    if (req.method === 'POST') {
      await upload(ctx, req, res);
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (ctx.repo.repoType === 'local') {
      await sendServable(req, res, await listLocal(ctx, req.query));
      return true;
    }
    const module = req.query.get('module');
    if (!module) throw badRequest('QUERY_INVALID', `${ctx.repo.repoType} repositories list releases per module: add module={owner}-{name}`);
    const m = requireModule(module);
    const offset = req.query.get('offset') ?? '0';
    if (!/^(0|[1-9][0-9]{0,6})$/.test(offset)) throw badRequest('QUERY_INVALID', 'offset must be a non-negative integer');
    res.status(302).setHeader('Location', `${ctx.repoUrl}/${listingPath(m.slug, Number(offset))}`).setHeader('Cache-Control', 'no-store').end();
    return true;
  },

  mergeable(path) {
    const k = parsePuppetPath(path).kind;
    return k === 'listing' || k === 'module';
  },

  /** Release lists are unions (first member wins on the same release); a module's current release is the newest. */
  async merge(_ctx, path, docs) {
    const p = parsePuppetPath(path);
    if (p.kind === 'listing') {
      const pages = parsed<Listing>(docs);
      const seen = new Map<string, Release>();
      for (const page of pages) for (const r of Array.isArray(page.results) ? page.results : []) if (r?.slug && !seen.has(r.slug)) seen.set(r.slug, r);
      const results = [...seen.values()].sort(byVersionDesc);
      const more = pages.some((pg) => pg.pagination?.next);
      const total = pages.reduce((n, pg) => n + (typeof pg.pagination?.total === 'number' ? pg.pagination.total : 0), 0);
      const listing: Listing = {
        pagination: pagination(p.offset, PAGE, (o, l) => listingHref(p.module.slug, o, l), more ? p.offset + PAGE : null, total),
        results,
      };
      return bufferServable(toJson(listing), JSON_TYPE, 'local');
    }
    if (p.kind === 'module') {
      const mods = parsed<ModuleDoc>(docs);
      if (mods.length === 0) throw new HttpError(502, 'UPSTREAM_ERROR', `no member answered ${path} with JSON`);
      const releases = new Map<string, { slug: string; version: string }>();
      let current: Release | undefined;
      for (const m of mods) {
        for (const r of Array.isArray(m.releases) ? m.releases : []) if (r?.slug && !releases.has(r.slug)) releases.set(r.slug, r);
        const c = m.current_release;
        if (c?.version && (!current || compareVersions(c.version, current.version) > 0)) current = c;
      }
      const merged = { ...mods[0]!, current_release: current ?? null, releases: [...releases.values()].sort(byVersionDesc) };
      return bufferServable(toJson(merged), JSON_TYPE, 'local');
    }
    throw new HttpError(500, 'INTERNAL', `not a mergeable path: ${path}`);
  },
};
