import type { ArtifactEntry } from '../types.js';
import { compareVersions } from './names.js';
import { fileUri, listingHref, PAGE } from './paths.js';

/** What a stored release tarball keeps in its metadata (read from the tarball at upload). */
export interface ReleaseMetadata {
  owner: string;
  name: string;
  version: string;
  /** The module's metadata.json. */
  metadata: Record<string, unknown>;
  md5: string;
}

/** A Forge v3 release object (the fields `puppet module install`, r10k and the Forge UI read). */
export type Release = Record<string, unknown> & { slug: string; version: string; file_uri: string; metadata: Record<string, unknown> };

export interface Listing {
  pagination: { limit: number; offset: number; first: string; previous: string | null; current: string; next: string | null; total: number };
  results: Release[];
}

const stamp = (d: Date) => d.toISOString();

export function ownerObject(owner: string) {
  return { uri: `/v3/users/${owner}`, slug: owner, username: owner, gravatar_id: null };
}

export function releaseObject(e: ArtifactEntry): Release {
  const m = e.metadata as unknown as ReleaseMetadata;
  const slug = `${m.owner}-${m.name}`;
  const release = `${slug}-${m.version}`;
  return {
    uri: `/v3/releases/${release}`,
    slug: release,
    module: { uri: `/v3/modules/${slug}`, slug, name: m.name, deprecated_at: null, owner: ownerObject(m.owner) },
    version: m.version,
    metadata: m.metadata,
    tags: Array.isArray(m.metadata.tags) ? m.metadata.tags : [],
    supported: false,
    pdk: false,
    validation_score: null,
    file_uri: fileUri(`${release}.tar.gz`),
    file_size: e.size,
    file_md5: m.md5,
    file_sha256: e.sha256,
    downloads: 0,
    readme: null,
    changelog: null,
    license: null,
    reference: null,
    pe_compatibility: null,
    tasks: [],
    plans: [],
    created_at: stamp(e.updatedAt),
    updated_at: stamp(e.updatedAt),
    deleted_at: null,
    deleted_for: null,
  };
}

export const byVersionDesc = (a: { version: string }, b: { version: string }) => compareVersions(b.version, a.version);

/** `/v3/modules/{slug}`: the module with its newest release and the list of all. */
export function moduleObject(owner: string, name: string, releases: Release[]): Record<string, unknown> {
  const sorted = [...releases].sort(byVersionDesc);
  const current = sorted[0]!;
  const times = sorted.map((r) => String(r.created_at ?? '')).filter(Boolean).sort();
  const meta = current.metadata;
  return {
    uri: `/v3/modules/${owner}-${name}`,
    slug: `${owner}-${name}`,
    name,
    downloads: 0,
    created_at: times[0] ?? null,
    updated_at: times[times.length - 1] ?? null,
    deprecated_at: null,
    deprecated_for: null,
    superseded_by: null,
    supported: false,
    endorsement: null,
    module_group: 'base',
    owner: ownerObject(owner),
    premium: false,
    current_release: current,
    releases: sorted.map((r) => ({ uri: r.uri, slug: r.slug, version: r.version, supported: false, created_at: r.created_at ?? null, deleted_at: null, file_uri: r.file_uri, file_size: r.file_size ?? null })),
    feedback_score: null,
    homepage_url: typeof meta.project_page === 'string' ? meta.project_page : null,
    issues_url: typeof meta.issues_url === 'string' ? meta.issues_url : null,
  };
}

/** One page of a release listing; `href(offset, limit)` names pages the way the client will request them. */
export function listingPage(all: Release[], offset: number, limit: number, href: (offset: number, limit: number) => string): Listing {
  return { pagination: pagination(offset, limit, href, offset + limit < all.length ? offset + limit : null, all.length), results: all.slice(offset, offset + limit) };
}

/** The pagination block of a listing page; `nextOffset` null on the last page. */
export function pagination(offset: number, limit: number, href: (offset: number, limit: number) => string, nextOffset: number | null, total: number): Listing['pagination'] {
  return {
    limit,
    offset,
    first: href(0, limit),
    previous: offset > 0 ? href(Math.max(0, offset - limit), limit) : null,
    current: href(offset, limit),
    next: nextOffset === null ? null : href(nextOffset, limit),
    total,
  };
}

/** The page of a module's listing stored at `v3/releases/~{slug}/{offset}` (fixed page size). */
export const modulePage = (slug: string, all: Release[], offset: number) => listingPage(all, offset, PAGE, (o, l) => listingHref(slug, o, l));

export const toJson = (doc: unknown) => Buffer.from(JSON.stringify(doc));
export const JSON_TYPE = 'application/json';
