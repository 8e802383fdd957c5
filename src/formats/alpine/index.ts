import { HttpError, notFound } from '../../errors.js';
import { bufferServable } from '../../repos/servable.js';
import { sendServable } from '../../repos/send.js';
import type { FormatContext, FormatProvider } from '../types.js';
import { recordKey, type IndexRecord } from './apkindex.js';
import { keyFileName, parseIndexArchive } from './index-archive.js';
import { generate, INDEX_TYPE, inspect, KEY_NAME, signedIndex } from './local.js';
import { parseAlpinePath, validateUploadPath } from './paths.js';
import { locate, rewrite } from './remote.js';

async function publicKey(ctx: FormatContext): Promise<{ file: string; pem: string }> {
  const key = await ctx.signingKey(KEY_NAME);
  return { file: keyFileName(ctx.repo.name, key), pem: key.publicKeyPem };
}

/**
 * Alpine apk repositories: `http://HOST/{repo}/{branch}/{repository}` in /etc/apk/repositories, packages at
 * `{branch}/{repository}/{arch}/{name}-{version}.apk`, a signed APKINDEX.tar.gz per directory, the public key at
 * `keys/{repo}-{fingerprint}.rsa.pub` (listed at `keys/`). Remote indexes pass through untouched (signed by the
 * upstream); local and virtual indexes are generated and signed with the repository's own key.
 */
export const alpine: FormatProvider = {
  type: 'alpine',

  classify(_repo, path) {
    return parseAlpinePath(path).kind === 'package' ? 'immutable' : 'mutable';
  },

  contentType(path) {
    const k = parseAlpinePath(path).kind;
    if (k === 'index') return INDEX_TYPE;
    if (k === 'key') return 'application/x-pem-file';
    return 'application/octet-stream';
  },

  locate,
  rewriteDocument: rewrite,
  validateUpload: (_ctx, path) => validateUploadPath(path),
  inspectUpload: (_ctx, path, blob) => inspect(path, blob),
  generate,

  /** The repository's own public key (local and virtual; a remote proxies the upstream's keys/ directory). */
  async route(ctx, path, req, res) {
    if (ctx.repo.repoType === 'remote' || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    const p = parseAlpinePath(path);
    if (p.kind === 'keys') {
      const { file } = await publicKey(ctx);
      await sendServable(req, res, bufferServable(Buffer.from(`${file}\n`), 'text/plain; charset=utf-8', 'local'));
      return true;
    }
    if (p.kind !== 'key') return false;
    const { file, pem } = await publicKey(ctx);
    if (p.filename !== file) throw notFound(`no key ${p.filename} in ${ctx.repo.name}; its key is keys/${file}`, 'ARTIFACT_NOT_FOUND');
    await sendServable(req, res, bufferServable(Buffer.from(pem), 'application/x-pem-file', 'local'));
    return true;
  },

  mergeable: (path) => parseAlpinePath(path).kind === 'index',

  /** The members' records (first member wins on the same name-version), signed with the virtual's own key. */
  async merge(ctx, path, docs) {
    const p = parseAlpinePath(path);
    if (p.kind !== 'index') throw new HttpError(500, 'INTERNAL', `not a mergeable path: ${path}`);
    const records = new Map<string, IndexRecord>();
    for (const d of docs) {
      let parsed;
      try {
        parsed = await parseIndexArchive(d.body);
      } catch (err) {
        if (err instanceof HttpError) throw new HttpError(502, 'UPSTREAM_ERROR', `member ${d.member} has an invalid ${path}: ${err.message}`);
        throw err;
      }
      for (const r of parsed.records) if (!records.has(recordKey(r))) records.set(recordKey(r), r);
    }
    const all = [...records.values()];
    const mtime = all.reduce((m, r) => Math.max(m, Number(r.t ?? 0) || 0), 0);
    const body = await signedIndex(ctx, all, `${ctx.repo.name} ${p.branch}/${p.repository}`, mtime);
    return bufferServable(body, INDEX_TYPE, 'local');
  },
};
