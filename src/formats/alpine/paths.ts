import { badRequest } from '../../errors.js';

/** Where things live inside an Alpine repository: `{branch}/{repository}/{arch}/…` and `keys/`. */
export type AlpinePath =
  | { kind: 'index'; dir: string; branch: string; repository: string; arch: string }
  | { kind: 'package'; dir: string; arch: string; filename: string }
  | { kind: 'keys' }
  | { kind: 'key'; filename: string }
  | { kind: 'other' };

export const INDEX_FILE = 'APKINDEX.tar.gz';
const SEGMENT = '[A-Za-z0-9][A-Za-z0-9._+-]*';
const DIR = new RegExp(`^(${SEGMENT})/(${SEGMENT})/([a-z0-9_]+)/([^/]+)$`);
const KEY = /^keys\/([A-Za-z0-9][A-Za-z0-9._@+-]*\.rsa\.pub)$/;

export function parseAlpinePath(path: string): AlpinePath {
  if (path === 'keys/' || path === 'keys') return { kind: 'keys' };
  const k = KEY.exec(path);
  if (k) return { kind: 'key', filename: k[1]! };
  const m = DIR.exec(path);
  if (!m) return { kind: 'other' };
  const [, branch, repository, arch, file] = m as unknown as [string, string, string, string, string];
  const dir = `${branch}/${repository}/${arch}/`;
  if (file === INDEX_FILE) return { kind: 'index', dir, branch, repository, arch };
  if (file.endsWith('.apk') && file.length > 4) return { kind: 'package', dir, arch, filename: file };
  return { kind: 'other' };
}

/** Uploads go to `{branch}/{repository}/{arch}/{name}-{version}.apk`; the name is checked against .PKGINFO later. */
export function validateUploadPath(path: string): string {
  const p = parseAlpinePath(path);
  if (p.kind !== 'package') throw badRequest('PATH_INVALID', 'apk uploads go to {branch}/{repository}/{arch}/{pkgname}-{pkgver}.apk');
  return path;
}
