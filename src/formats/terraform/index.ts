import { bufferServable } from '../../repos/servable.js';
import type { FormatProvider } from '../types.js';
import { JSON_TYPE, parseJsonObject, versionsJson, versionsOf } from './documents.js';
import { generate, inspect, validateUpload } from './local.js';
import { parseTerraformPath } from './paths.js';
import { locate, rewrite } from './remote.js';

/**
 * Terraform's provider network mirror protocol: `network_mirror { url = "http://HOST/{repo}/" }` in the CLI
 * configuration reads `{hostname}/{namespace}/{type}/index.json` and `{version}.json`, then downloads the zip archives
 * they name (beside them). Local repositories take `PUT` of provider zips and generate both documents with `h1:` and
 * `zh:` hashes; remotes proxy another mirror, verifying archives against its hashes; virtuals union the versions.
 */
export const terraform: FormatProvider = {
  type: 'terraform',

  classify(_repo, path) {
    return parseTerraformPath(path).kind === 'archive' ? 'immutable' : 'mutable';
  },

  contentType(path) {
    const k = parseTerraformPath(path).kind;
    return k === 'archive' ? 'application/zip' : k === 'other' ? 'application/octet-stream' : JSON_TYPE;
  },

  upstreamHeaders: () => ({ accept: JSON_TYPE }),
  locate,
  rewriteDocument: (ctx, path, body) => rewrite(ctx, path, body),
  validateUpload: (_ctx, path) => validateUpload(path),
  inspectUpload: (_ctx, path, blob) => inspect(path, blob),
  generate,

  /** Only the version list merges; a {version}.json comes whole from the first member that has the version. */
  mergeable: (path) => parseTerraformPath(path).kind === 'versions',

  async merge(_ctx, _path, docs) {
    const versions = docs.flatMap((d) => versionsOf(parseJsonObject(d.body)));
    return bufferServable(versionsJson(versions), JSON_TYPE, 'local');
  },
};
