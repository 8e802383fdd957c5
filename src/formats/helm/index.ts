import { HttpError } from '../../errors.js';
import type { FormatProvider } from '../types.js';
import { INDEX_TYPE, JSON_TYPE } from './index-model.js';
import { deleteVersion, generate, inspect, PROV_TYPE, upload, validateUpload } from './local.js';
import { merge, mergeable } from './merge.js';
import { parseHelmPath } from './paths.js';
import { locate, rewrite } from './remote.js';

/**
 * Helm chart repositories: `helm repo add NAME http://HOST/{repo}` reads `index.yaml`, charts live at
 * `charts/{name}-{version}.tgz` (with `.prov` provenance files). Uploads: `PUT charts/{file}` or ChartMuseum's API
 * (`POST api/charts`, `POST api/prov`, `DELETE api/charts/{name}/{version}`, `GET api/charts[/{name}[/{version}]]`).
 * Remote indexes are rewritten so chart URLs come back through this repository; charts are verified against the
 * index digest. Local indexes are generated; virtual ones merged across members.
 */
export const helm: FormatProvider = {
  type: 'helm',

  classify(_repo, path) {
    const k = parseHelmPath(path).kind;
    return k === 'chart' || k === 'prov' ? 'immutable' : 'mutable';
  },

  contentType(path) {
    switch (parseHelmPath(path).kind) {
      case 'index':
        return INDEX_TYPE;
      case 'chart':
        return 'application/gzip';
      case 'prov':
        return PROV_TYPE;
      case 'other':
        return 'application/octet-stream';
      default:
        return JSON_TYPE;
    }
  },

  /** index.yaml is YAML whatever the client's Accept says. */
  upstreamHeaders: () => ({}),

  locate,
  rewriteDocument: (ctx, path, body) => rewrite(ctx, path, body),
  validateUpload: (_ctx, path) => validateUpload(path),
  inspectUpload: (_ctx, path, blob) => inspect(path, blob),
  generate,

  async route(ctx, path, req, res) {
    const p = parseHelmPath(path);
    if (req.method === 'POST' && (path === 'api/charts' || path === 'api/prov')) {
      await upload(ctx, req, res, path === 'api/prov');
      return true;
    }
    if (req.method === 'DELETE' && p.kind === 'api-version') {
      await deleteVersion(ctx, p.name, p.version, req, res);
      return true;
    }
    if (path.startsWith('api/') && req.method !== 'GET' && req.method !== 'HEAD') {
      throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not supported on ${path}`, undefined, { Allow: 'GET, HEAD, POST, DELETE' });
    }
    return false;
  },

  mergeable,
  merge: (_ctx, path, docs) => merge(path, docs),
};
