import type { ArtifactEntry } from '../types.js';

export interface ListingEntry {
  name: string;
  type: 'file' | 'directory';
  size?: number;
  sha256?: string;
  updated_at?: string;
}

export interface Listing {
  path: string;
  children: ListingEntry[];
  truncated: boolean;
}

/** The immediate children of `dir` (ends with '/' or is '') among artifacts listed under it. */
export function listChildren(dir: string, artifacts: ArtifactEntry[], truncated: boolean): Listing {
  const children = new Map<string, ListingEntry>();
  for (const a of artifacts) {
    const rest = a.path.slice(dir.length);
    const slash = rest.indexOf('/');
    if (slash >= 0) {
      const name = rest.slice(0, slash);
      if (!children.has(name)) children.set(name, { name, type: 'directory' });
    } else {
      children.set(rest, { name: rest, type: 'file', size: a.size, sha256: a.sha256, updated_at: a.updatedAt.toISOString() });
    }
  }
  return { path: '/' + dir, children: [...children.values()].sort((x, y) => x.name.localeCompare(y.name)), truncated };
}

/** Union of several members' listings; the first member wins for a name present in several. */
export function mergeListings(path: string, listings: Listing[]): Listing {
  const out = new Map<string, ListingEntry>();
  for (const l of listings) for (const c of l.children) if (!out.has(c.name)) out.set(c.name, c);
  return { path, children: [...out.values()].sort((x, y) => x.name.localeCompare(y.name)), truncated: listings.some((l) => l.truncated) };
}
