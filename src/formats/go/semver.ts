/**
 * Semantic versions as the go command reads them (golang.org/x/mod/semver): a leading `v`, shorthands `v1` and
 * `v1.2` are valid but not canonical, build metadata is ignored in comparisons.
 */

export interface Semver {
  major: string;
  minor: string;
  patch: string;
  /** `-rc.1` (with the dash) or '' */
  prerelease: string;
  /** `+incompatible` (with the plus) or '' */
  build: string;
  /** The version was written as `v1` or `v1.2`. */
  short: boolean;
}

const NUM = /^(0|[1-9][0-9]*)/;
const IDENT = /^[0-9A-Za-z-]+$/;

function badNum(id: string): boolean {
  return /^[0-9]+$/.test(id) && id.length > 1 && id[0] === '0';
}

export function parseSemver(v: string): Semver | null {
  if (!v.startsWith('v')) return null;
  let rest = v.slice(1);
  const nums: string[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) {
      if (rest === '') break;
      if (rest[0] !== '.') return null;
      rest = rest.slice(1);
    }
    const m = NUM.exec(rest);
    if (!m) return null;
    nums.push(m[1]!);
    rest = rest.slice(m[1]!.length);
  }
  const short = nums.length < 3;
  if (short && rest !== '') return null;
  let prerelease = '';
  let build = '';
  if (rest.startsWith('-')) {
    const end = rest.indexOf('+') < 0 ? rest.length : rest.indexOf('+');
    prerelease = rest.slice(0, end);
    const ids = prerelease.slice(1).split('.');
    if (!ids.every((id) => IDENT.test(id) && !badNum(id))) return null;
    rest = rest.slice(end);
  }
  if (rest.startsWith('+')) {
    build = rest;
    if (!build.slice(1).split('.').every((id) => IDENT.test(id))) return null;
    rest = '';
  }
  if (rest !== '') return null;
  return { major: nums[0]!, minor: nums[1] ?? '0', patch: nums[2] ?? '0', prerelease, build, short };
}

/** module.CanonicalVersion: `vX.Y.Z[-pre]`, keeping only the `+incompatible` build suffix. */
export function canonicalVersion(v: string): string | null {
  const p = parseSemver(v);
  if (!p) return null;
  return `v${p.major}.${p.minor}.${p.patch}${p.prerelease}${p.build === '+incompatible' ? p.build : ''}`;
}

export function isCanonical(v: string): boolean {
  return canonicalVersion(v) === v;
}

function cmpInt(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpPrerelease(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '') return 1;
  if (b === '') return -1;
  const xs = a.slice(1).split('.');
  const ys = b.slice(1).split('.');
  for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
    const x = xs[i]!;
    const y = ys[i]!;
    if (x === y) continue;
    const xn = /^[0-9]+$/.test(x);
    const yn = /^[0-9]+$/.test(y);
    if (xn !== yn) return xn ? -1 : 1;
    if (xn) return cmpInt(x, y);
    return x < y ? -1 : 1;
  }
  return xs.length === ys.length ? 0 : xs.length < ys.length ? -1 : 1;
}

/** semver.Compare: invalid versions sort below every valid one (and equal each other). */
export function compareSemver(a: string, b: string): number {
  const x = parseSemver(a);
  const y = parseSemver(b);
  if (!x || !y) return !x && !y ? 0 : !x ? -1 : 1;
  return cmpInt(x.major, y.major) || cmpInt(x.minor, y.minor) || cmpInt(x.patch, y.patch) || cmpPrerelease(x.prerelease, y.prerelease);
}

/** module.IsPseudoVersion (same expression): `vX.Y.Z-[pre.]0.yyyymmddhhmmss-abcdefabcdef`, never listed in @v/list. */
const PSEUDO = /^v[0-9]+\.(0\.0-|\d+\.\d+-([^+]*\.)?0\.)\d{14}-[A-Za-z0-9]+(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;

export function isPseudoVersion(v: string): boolean {
  return (v.match(/-/g) ?? []).length >= 2 && parseSemver(v) !== null && PSEUDO.test(v);
}

/**
 * The version the go command's `latest` query picks from a list: the highest release, else the highest
 * pre-release (pseudo-versions are pre-releases). Null for an empty list.
 */
export function latestOf(versions: Iterable<string>): string | null {
  let bestRelease: string | null = null;
  let bestAny: string | null = null;
  for (const v of versions) {
    const p = parseSemver(v);
    if (!p) continue;
    if (bestAny === null || compareSemver(v, bestAny) > 0) bestAny = v;
    if (p.prerelease === '' && (bestRelease === null || compareSemver(v, bestRelease) > 0)) bestRelease = v;
  }
  return bestRelease ?? bestAny;
}

export function sortSemver(versions: string[]): string[] {
  return versions.sort((a, b) => compareSemver(a, b) || (a < b ? -1 : a > b ? 1 : 0));
}
