import { badRequest } from '../../errors.js';
import { bufferServable } from '../../repos/servable.js';
import { contentTypeFor } from '../../util/content-type.js';
import { GlobSet } from '../../util/glob.js';
import type { FormatProvider } from '../types.js';
import { listChildren, mergeListings, type Listing } from './listing.js';

const LISTING_TYPE = 'application/json';
/** A directory listing shows at most this many descendants' worth of children. */
const LISTING_SCAN = 10_000;

const mutableSets = new WeakMap<object, GlobSet>();

/**
 * Generic repositories: any file tree. Remote: everything immutable except directory paths and
 * the repo's `mutable_paths` globs. Local: PUT/GET/DELETE of files and a JSON listing of
 * directories (`GET /{repo}/{dir}/`). Virtual: first member with the file; listings merged.
 */
export const generic: FormatProvider = {
  type: 'generic',

  classify(repo, path) {
    if (path === '' || path.endsWith('/')) return 'mutable';
    let g = mutableSets.get(repo.settings);
    if (!g) mutableSets.set(repo.settings, (g = new GlobSet(repo.settings.mutable_paths)));
    return g.matches(path) ? 'mutable' : 'immutable';
  },

  contentType: contentTypeFor,

  validateUpload(_ctx, path) {
    if (path.length > 1024) throw badRequest('PATH_INVALID', 'path longer than 1024 characters');
    return path;
  },

  async generate(ctx, path) {
    if (path !== '' && !path.endsWith('/')) return null;
    const dir = path === '/' ? '' : path;
    const entries = await ctx.artifacts.list(dir, { limit: LISTING_SCAN + 1 });
    if (entries.length === 0 && dir !== '') return null;
    const listing = listChildren(dir, entries.slice(0, LISTING_SCAN), entries.length > LISTING_SCAN);
    return bufferServable(Buffer.from(JSON.stringify(listing)), LISTING_TYPE, 'local');
  },

  mergeable(path) {
    return path === '' || path.endsWith('/');
  },

  async merge(_ctx, path, docs) {
    const listings: Listing[] = [];
    for (const d of docs) {
      // Remote members answer directory paths with their upstream's own page (HTML); only JSON listings merge.
      if (!d.contentType?.startsWith(LISTING_TYPE)) continue;
      try {
        listings.push(JSON.parse(d.body.toString('utf8')) as Listing);
      } catch {
        /* not a listing */
      }
    }
    const merged = mergeListings('/' + (path === '/' ? '' : path), listings);
    return bufferServable(Buffer.from(JSON.stringify(merged)), LISTING_TYPE, 'local');
  },
};
