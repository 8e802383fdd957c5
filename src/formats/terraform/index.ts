import { notFound } from '../../errors.js';
import { collectBody } from '../../http/request-base.js';
import { sendServable } from '../../repos/send.js';
import { bufferServable } from '../../repos/servable.js';
import type { FormatProvider } from '../types.js';
import { JSON_TYPE, parseJsonObject, versionsJson, versionsOf } from './documents.js';
import { generate, inspect, validateUpload } from './local.js';
import { parseTerraformPath } from './paths.js';
import { absoluteDownloadUrls, mergeRegistryVersions, parseRegistryVersions, registryVersionsJson } from './registry.js';
import { locate, registryFor, rewrite } from './remote.js';

/** Download documents are a few KB (signing keys included); a stored one bigger than this is not one of ours. */
const MAX_DOWNLOAD_DOC = 1024 * 1024;

/**
 * Terraform providers, by both of Terraform's protocols:
 * - the provider network mirror protocol (`network_mirror { url = "http://HOST/{repo}/" }`): `{hostname}/{namespace}/{type}/index.json`
 *   and `{version}.json`, and the zip archives beside them;
 * - the provider registry protocol (`host` blocks, or a `providers.v1` service): `.well-known/terraform.json`,
 *   `v1/providers/{namespace}/{type}/versions`, `…/{version}/download/{os}/{arch}` with SHA256SUMS and its signature.
 * Local repositories take `PUT` of provider zips and generate both (`h1:`/`zh:` hashes; SHA256SUMS signed with the
 * repository's OpenPGP key); remotes proxy a registry or a mirror (see remote.ts); virtuals merge version lists.
 */
export const terraform: FormatProvider = {
  type: 'terraform',

  classify(_repo, path) {
    return parseTerraformPath(path).kind === 'archive' ? 'immutable' : 'mutable';
  },

  contentType(path) {
    const k = parseTerraformPath(path).kind;
    if (k === 'archive') return 'application/zip';
    if (k === 'shasums') return 'text/plain; charset=utf-8';
    return k === 'other' || k === 'shasums-sig' ? 'application/octet-stream' : JSON_TYPE;
  },

  /** JSON documents are asked for as JSON; archives and checksum files (release hosts, object storage) as they are. */
  upstreamHeaders(path): Record<string, string> {
    const k = parseTerraformPath(path).kind;
    return k === 'archive' || k === 'shasums' || k === 'shasums-sig' ? {} : { accept: JSON_TYPE };
  },

  locate,
  rewriteDocument: (ctx, path, body) => rewrite(ctx, path, body),
  validateUpload: (_ctx, path) => validateUpload(path),
  inspectUpload: (_ctx, path, blob) => inspect(path, blob),
  generate,

  /**
   * Service discovery, answered by every repository for itself: `providers.v1` is this repository's registry API (of
   * its default host, or of `{hostname}` for `{hostname}/.well-known/terraform.json`). A remote answers only when its
   * upstream is a provider registry for that host.
   */
  async route(ctx, path, req, res) {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const p = parseTerraformPath(path);
    if (p.kind !== 'discovery') return false;
    if (ctx.repo.repoType === 'remote' && !(await registryFor(ctx, p.hostname, true))) {
      throw notFound(`the upstream of ${ctx.repo.name} is not a provider registry${p.hostname ? ` for ${p.hostname}` : ''}`, 'ARTIFACT_NOT_FOUND');
    }
    const base = p.hostname === undefined ? ctx.repoUrl : `${ctx.repoUrl}/${p.hostname}`;
    const body = Buffer.from(JSON.stringify({ 'providers.v1': `${base}/v1/providers/` }));
    await sendServable(req, res, bufferServable(body, JSON_TYPE, ctx.repo.repoType === 'remote' ? 'cache' : 'local'));
    return true;
  },

  /** Download documents are stored with URLs relative to themselves; clients get them absolute, through the repository they asked. */
  async present(ctx, path, found, req) {
    if (parseTerraformPath(path).kind !== 'download') return found;
    if (req.method === 'HEAD' && found.source === 'remote') return { ...found, size: undefined, etag: undefined };
    const stored = found.inMemory?.() ?? (await collectBody(await found.open(undefined, req.signal), MAX_DOWNLOAD_DOC));
    return bufferServable(absoluteDownloadUrls(stored, `${ctx.repoUrl}/${path}`), JSON_TYPE, found.source, { stale: found.stale, lastModified: found.lastModified });
  },

  /**
   * Version lists merge (mirror index.json, registry versions); everything else comes whole from the first member
   * that has it: a mirror {version}.json with all its archives, a registry download document with the SHA256SUMS and
   * signature beside it.
   */
  mergeable(path) {
    const k = parseTerraformPath(path).kind;
    return k === 'versions' || k === 'registry-versions';
  },

  async merge(_ctx, path, docs) {
    if (parseTerraformPath(path).kind === 'registry-versions') {
      const merged = mergeRegistryVersions(docs.map((d) => parseRegistryVersions(d.body, `member ${d.member}'s ${path}`)));
      return bufferServable(registryVersionsJson(merged.versions, merged.warnings), JSON_TYPE, 'local');
    }
    const versions = docs.flatMap((d) => versionsOf(parseJsonObject(d.body)));
    return bufferServable(versionsJson(versions), JSON_TYPE, 'local');
  },
};
