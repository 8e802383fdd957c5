import { badRequest } from '../../errors.js';

/** npm package names: optional `@scope/`, URL-safe characters, at most 214 characters (npm's validate-npm-package-name). */
const NAME_RE = /^(?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/i;

export function validName(name: string): boolean {
  return name.length <= 214 && NAME_RE.test(name) && !name.startsWith('.') && !name.startsWith('_');
}

export function requireName(name: string): string {
  if (!validName(name)) throw badRequest('NAME_INVALID', `${name} is not a valid npm package name`);
  return name;
}

/** `@scope/pkg` → `pkg`: the tarball file of a scoped package carries only the bare name. */
export const bareName = (name: string) => name.slice(name.lastIndexOf('/') + 1);

export const tarballFile = (name: string, version: string) => `${bareName(name)}-${version}.tgz`;

/** How registries spell a scoped name in a URL path: `@scope%2fpkg`. */
export const escapedName = (name: string) => name.replace('/', '%2f');

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

export function validVersion(v: string): boolean {
  return v.length <= 256 && SEMVER.test(v);
}

/** SemVer 2.0 precedence (build metadata ignored). */
export function compareVersions(a: string, b: string): number {
  const pa = SEMVER.exec(a);
  const pb = SEMVER.exec(b);
  if (!pa || !pb) return a < b ? -1 : a > b ? 1 : 0;
  for (let i = 1; i <= 3; i++) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d !== 0) return d;
  }
  const ra = pa[4];
  const rb = pb[4];
  if (ra === undefined || rb === undefined) return ra === rb ? 0 : ra === undefined ? 1 : -1;
  const xa = ra.split('.');
  const xb = rb.split('.');
  for (let i = 0; i < Math.max(xa.length, xb.length); i++) {
    if (xa[i] === undefined) return -1;
    if (xb[i] === undefined) return 1;
    const na = /^\d+$/.test(xa[i]!);
    const nb = /^\d+$/.test(xb[i]!);
    if (na && nb) {
      const d = Number(xa[i]) - Number(xb[i]);
      if (d !== 0) return d;
    } else if (na !== nb) return na ? -1 : 1;
    else if (xa[i] !== xb[i]) return xa[i]! < xb[i]! ? -1 : 1;
  }
  return 0;
}

/** The highest release version (pre-releases only when there is no release), what `latest` defaults to. */
export function highest(versions: string[]): string | undefined {
  const releases = versions.filter((v) => !v.includes('-'));
  const pool = releases.length ? releases : versions;
  return pool.sort(compareVersions).at(-1);
}
