import { badRequest } from '../../errors.js';

/** `.PKGINFO` of an apk (abuild writes `key = value` lines; depend/provides/install_if repeat). */
export interface PkgInfo {
  pkgname: string;
  pkgver: string;
  arch: string;
  /** Installed size in bytes. */
  size?: string;
  pkgdesc?: string;
  url?: string;
  license?: string;
  origin?: string;
  maintainer?: string;
  builddate?: string;
  commit?: string;
  provider_priority?: string;
  /** SHA-256 (hex) of the data gzip member. */
  datahash?: string;
  depend: string[];
  provides: string[];
  install_if: string[];
}

const LISTS = new Set(['depend', 'provides', 'install_if']);
const SINGLE = new Set(['pkgname', 'pkgver', 'arch', 'size', 'pkgdesc', 'url', 'license', 'origin', 'maintainer', 'builddate', 'commit', 'provider_priority', 'datahash']);
const NAME = /^[A-Za-z0-9_][A-Za-z0-9._+-]*$/;
// apk version: digits with dots, an optional letter, suffixes (_alpha1, _p2…), and -rN.
const VERSION = /^[0-9]+(\.[0-9]+)*[a-z]?(_[a-z]+[0-9]*)*(~[0-9a-f]+)?(-r[0-9]+)?$/;

const invalid = (message: string) => badRequest('PKGINFO_INVALID', message);

export function parsePkgInfo(text: string): PkgInfo {
  const single: Record<string, string> = {};
  const lists: Record<string, string[]> = { depend: [], provides: [], install_if: [] };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf(' = ');
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 3).trim();
    if (LISTS.has(key)) {
      if (value) lists[key]!.push(...value.split(/\s+/));
    } else if (SINGLE.has(key)) single[key] = value;
  }
  for (const k of ['pkgname', 'pkgver', 'arch']) if (!single[k]) throw invalid(`.PKGINFO has no ${k}`);
  if (!NAME.test(single.pkgname!)) throw invalid(`invalid pkgname ${single.pkgname}`);
  if (!VERSION.test(single.pkgver!)) throw invalid(`invalid pkgver ${single.pkgver}`);
  if (!/^[a-z0-9_]+$/.test(single.arch!)) throw invalid(`invalid arch ${single.arch}`);
  for (const k of ['size', 'builddate', 'provider_priority']) if (single[k] !== undefined && !/^\d+$/.test(single[k]!)) throw invalid(`${k} is not a number`);
  if (single.datahash !== undefined && !/^[0-9a-f]{64}$/.test(single.datahash)) throw invalid('datahash is not a hex SHA-256');
  return { ...(single as Omit<PkgInfo, 'depend' | 'provides' | 'install_if'>), depend: lists.depend!, provides: lists.provides!, install_if: lists.install_if! };
}
