import { parseModule, parseRelease, type ModuleName, type ReleaseName } from './names.js';

/**
 * Paths of a Puppet repository (Forge API v3 under `/{repo}/`). Release listings are queries upstream
 * (`/v3/releases?module=…`); the remote engine and virtual merges key documents by path, so a listing page is
 * addressed internally as `v3/releases/~{owner}-{name}/{offset}` (`~` never starts a release slug).
 */
export type PuppetPath =
  | { kind: 'file'; release: ReleaseName; filename: string }
  | { kind: 'release'; release: ReleaseName }
  | { kind: 'module'; module: ModuleName }
  | { kind: 'listing'; module: ModuleName; offset: number }
  | { kind: 'releases' }
  | { kind: 'other' };

export const PAGE = 100;
const MAX_OFFSET = 1_000_000;

export function parsePuppetPath(path: string): PuppetPath {
  if (path === 'v3/releases' || path === 'v3/releases/') return { kind: 'releases' };
  let m = /^v3\/files\/([^/]+)\.tar\.gz$/.exec(path);
  if (m) {
    const release = parseRelease(m[1]!);
    return release ? { kind: 'file', release, filename: `${m[1]}.tar.gz` } : { kind: 'other' };
  }
  m = /^v3\/releases\/~([^/]+)\/(0|[1-9][0-9]{0,6})$/.exec(path);
  if (m) {
    const module = parseModule(m[1]!);
    const offset = Number(m[2]);
    return module && module.slug === m[1] && offset <= MAX_OFFSET ? { kind: 'listing', module, offset } : { kind: 'other' };
  }
  m = /^v3\/releases\/([^/~]+)$/.exec(path);
  if (m) {
    const release = parseRelease(m[1]!);
    return release ? { kind: 'release', release } : { kind: 'other' };
  }
  m = /^v3\/modules\/([^/]+)$/.exec(path);
  if (m) {
    const module = parseModule(m[1]!);
    return module && module.slug === m[1] ? { kind: 'module', module } : { kind: 'other' };
  }
  return { kind: 'other' };
}

export const listingPath = (slug: string, offset: number) => `v3/releases/~${slug}/${offset}`;
export const releasePath = (release: string) => `v3/releases/${release}`;
/** What clients follow for the next page: relative to the repository base, as the Forge API writes it. */
export const listingHref = (slug: string, offset: number, limit = PAGE) => `/v3/releases?module=${slug}&limit=${limit}&offset=${offset}`;
export const fileUri = (filename: string) => `/v3/files/${filename}`;
