/**
 * Chart versions as Helm reads them (Masterminds semver, strict mode off): SemVer 2 with an optional leading `v`
 * and optional minor/patch (`1.2` is 1.2.0). Used to validate uploads and to order index entries newest first.
 */
export interface ChartSemver {
  major: bigint;
  minor: bigint;
  patch: bigint;
  pre: string[];
}

const SEMVER = /^v?(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?(?:\.(0|[1-9][0-9]*))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;

export function parseChartVersion(v: string): ChartSemver | null {
  if (v.length > 128) return null;
  const m = SEMVER.exec(v);
  if (!m) return null;
  const pre = m[4] ? m[4].split('.') : [];
  // SemVer: numeric pre-release identifiers have no leading zeros.
  if (pre.some((p) => /^0[0-9]+$/.test(p))) return null;
  return { major: BigInt(m[1]!), minor: BigInt(m[2] ?? 0), patch: BigInt(m[3] ?? 0), pre };
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function comparePre(a: string[], b: string[]): number {
  if (a.length === 0 || b.length === 0) return a.length === b.length ? 0 : a.length === 0 ? 1 : -1;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const xn = /^[0-9]+$/.test(x);
    const yn = /^[0-9]+$/.test(y);
    if (xn && yn) {
      const c = cmpBig(BigInt(x), BigInt(y));
      if (c) return c;
    } else if (xn !== yn) return xn ? -1 : 1;
    else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Precedence of two version strings; unparseable versions sort below every valid one (as in Helm's index sort). */
export function compareChartVersions(a: string, b: string): number {
  const x = parseChartVersion(a);
  const y = parseChartVersion(b);
  if (!x || !y) return x ? 1 : y ? -1 : a < b ? -1 : a > b ? 1 : 0;
  return cmpBig(x.major, y.major) || cmpBig(x.minor, y.minor) || cmpBig(x.patch, y.patch) || comparePre(x.pre, y.pre) || (a < b ? -1 : a > b ? 1 : 0);
}
