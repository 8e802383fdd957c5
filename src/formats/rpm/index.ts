import type { FormatProvider } from '../types.js';
import { generate, inspect } from './local.js';
import { contentTypeFor, isPrimaryFile, parseRpmPath, validateUploadPath } from './paths.js';
import { locate, rewrite } from './remote.js';

/**
 * RPM (yum/dnf) repositories: `baseurl=http://HOST/{repo}/`, packages anywhere below it
 * (`PUT /{repo}/{dir}/{name}-{version}-{release}.{arch}.rpm`), createrepo-style `repodata/` at the root.
 * Remote: repomd.xml is revalidated, the files it lists and the packages primary.xml lists are fetched only when
 * listed and verified against their checksums. Local: repodata generated from the packages' stored header data.
 * Virtual: members in order for every path, repodata included (see the README section for why it is not merged).
 */
export const rpm: FormatProvider = {
  type: 'rpm',

  /**
   * repomd.xml (and its .asc/.key) changes in place. Checksum-named repodata files and packages never change;
   * primary.xml is the exception in name only: the engine hands a document to rewriteDocument only for mutable
   * paths, and that is where its package checksums are read (revalidation is a conditional GET).
   */
  classify(_repo, path) {
    const p = parseRpmPath(path);
    if (p.kind === 'package') return 'immutable';
    if (p.kind === 'repodata') return isPrimaryFile(p.file) ? 'mutable' : 'immutable';
    return 'mutable';
  },

  contentType: contentTypeFor,
  locate,
  rewriteDocument: rewrite,
  validateUpload: (_ctx, path) => validateUploadPath(path),
  inspectUpload: (_ctx, path, blob) => inspect(path, blob),
  generate,
};
