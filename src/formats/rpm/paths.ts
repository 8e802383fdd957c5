import { badRequest } from '../../errors.js';

/** Where things live in an RPM repository (the directory dnf's baseurl names). */
export type RpmPath =
  | { kind: 'repomd' }
  /** repomd.xml.asc (detached signature) and repomd.xml.key (the key that made it). */
  | { kind: 'repomd-extra'; file: string }
  /** A file repomd.xml lists (or once listed): `repodata/{checksum}-primary.xml.gz` and the like. */
  | { kind: 'repodata'; file: string }
  | { kind: 'package'; filename: string }
  | { kind: 'other' };

export const REPOMD = 'repodata/repomd.xml';
export const REPOMD_ASC = 'repodata/repomd.xml.asc';

export function parseRpmPath(path: string): RpmPath {
  if (path === REPOMD) return { kind: 'repomd' };
  if (path.startsWith('repodata/')) {
    const file = path.slice('repodata/'.length);
    if (file === '' || file.includes('/')) return { kind: 'other' };
    if (file === 'repomd.xml.asc' || file === 'repomd.xml.key') return { kind: 'repomd-extra', file };
    return { kind: 'repodata', file };
  }
  const filename = path.slice(path.lastIndexOf('/') + 1);
  if (filename.endsWith('.rpm') && filename.length > 4) return { kind: 'package', filename };
  return { kind: 'other' };
}

/**
 * primary.xml (any compression): on a remote its package checksums are read when it is fetched, which the engine
 * offers only for documents it rewrites (see remote.ts).
 */
export function isPrimaryFile(file: string): boolean {
  return /(^|-)primary\.xml(\.(gz|zst|xz|bz2))?$/.test(file);
}

/** Uploads: `{dir…}/{name}-{version}-{release}.{arch}.rpm`; repodata/ is generated, never uploaded. */
export function validateUploadPath(path: string): string {
  const p = parseRpmPath(path);
  if (path.startsWith('repodata/') || path === 'repodata') throw badRequest('PATH_INVALID', 'repodata/ is generated from the uploaded packages and cannot be uploaded');
  if (p.kind !== 'package') throw badRequest('PATH_INVALID', 'RPM uploads go to {dir}/{name}-{version}-{release}.{arch}.rpm');
  return path;
}

export function contentTypeFor(path: string): string {
  if (path.endsWith('.rpm')) return 'application/x-rpm';
  if (path.endsWith('.xml')) return 'text/xml';
  if (path.endsWith('.gz')) return 'application/gzip';
  if (path.endsWith('.asc')) return 'text/plain';
  if (path.endsWith('.key')) return 'application/pgp-keys';
  return 'application/octet-stream';
}
