import { HttpError } from '../../errors.js';
import { MANIFEST_TYPES } from '../../registry/manifest.js';
import { encodePath } from '../../util/paths.js';
import type { FormatProvider } from '../types.js';

const DIGEST_PATH = /\/(?:manifests|blobs)\/sha256:([a-f0-9]{64})$/;

/** Docker Hub keeps official images under `library/`; clients say `alpine`, the registry wants `library/alpine`. */
function upstreamImage(upstreamUrl: string, image: string): string {
  const host = new URL(upstreamUrl).hostname;
  const hub = host === 'registry-1.docker.io' || host === 'index.docker.io' || host === 'docker.io';
  return hub && !image.includes('/') ? `library/${image}` : image;
}

/**
 * Docker/OCI repositories. Clients speak the distribution API under /v2 (src/registry/); inside a repository an
 * image's content lives at `{image}/blobs/{digest}` and `{image}/manifests/{reference}`. Remote caching: blobs and
 * manifests by digest are immutable (and verified against their digest), manifests by tag are mutable.
 */
export const docker: FormatProvider = {
  type: 'docker',

  classify(_repo, path) {
    return DIGEST_PATH.test(path) ? 'immutable' : 'mutable';
  },

  contentType(path) {
    if (path.endsWith('/tags/list')) return 'application/json';
    return path.includes('/manifests/') ? 'application/vnd.oci.image.manifest.v1+json' : 'application/octet-stream';
  },

  async locate(ctx, path) {
    const base = ctx.repo.upstream!.url;
    const tags = /^(.+)\/tags\/list$/.exec(path);
    if (tags) return { url: `${base}/v2/${encodePath(upstreamImage(base, tags[1]!))}/tags/list` };
    const m = /^(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
    if (!m) throw new HttpError(404, 'NOT_FOUND', 'not a registry path');
    // References were validated by the registry API (tags and digests need no escaping).
    const url = `${base}/v2/${encodePath(upstreamImage(base, m[1]!))}/${m[2]}/${m[3]}`;
    const digest = DIGEST_PATH.exec(path);
    return { url, digests: digest ? { sha256: digest[1]! } : undefined };
  },

  /** Registries only return OCI manifests to clients that accept them: always offer every manifest type. */
  upstreamHeaders(path, client): Record<string, string> {
    if (!path.includes('/manifests/')) return {};
    const offered = [...MANIFEST_TYPES].join(', ');
    return { accept: client.accept ? `${client.accept}, ${offered}` : offered };
  },

  revalidationDigest(path, headers) {
    if (!path.includes('/manifests/')) return undefined;
    const m = /^sha256:([a-f0-9]{64})$/.exec(headers['docker-content-digest'] ?? '');
    return m?.[1];
  },

  async route(ctx, path, req) {
    // Docker repositories are reached through /v2/{repo}/{image}/...; plain paths would bypass manifest checks.
    void ctx;
    void path;
    throw new HttpError(404, 'NOT_FOUND', `docker repositories are served under /v2/ (e.g. ${req.method === 'GET' ? 'docker pull' : 'docker push'} host/${ctx.repo.name}/image:tag)`);
  },
};
