import { badRequest } from '../../errors.js';

/** Forge identifiers: owner (alphanumeric), module name (lower-case word), semantic version. */
const OWNER = '[A-Za-z0-9]+';
const NAME = '[a-z][a-z0-9_]*';
const VERSION = '(?:0|[1-9][0-9]*)\\.(?:0|[1-9][0-9]*)\\.(?:0|[1-9][0-9]*)(?:-[0-9A-Za-z.-]+)?(?:\\+[0-9A-Za-z.-]+)?';

const MODULE_RE = new RegExp(`^(${OWNER})[-/](${NAME})$`);
const RELEASE_RE = new RegExp(`^(${OWNER})-(${NAME})-(${VERSION})$`);
const VERSION_RE = new RegExp(`^${VERSION}$`);

export interface ModuleName {
  owner: string;
  name: string;
  /** `owner-name` */
  slug: string;
}

export interface ReleaseName extends ModuleName {
  version: string;
  /** `owner-name-version` */
  release: string;
}

export function parseModule(s: string): ModuleName | null {
  const m = MODULE_RE.exec(s);
  return m ? { owner: m[1]!, name: m[2]!, slug: `${m[1]}-${m[2]}` } : null;
}

export function requireModule(s: string): ModuleName {
  const m = parseModule(s);
  if (!m) throw badRequest('NAME_INVALID', `${s} is not a module name (owner-name)`);
  return m;
}

export function parseRelease(s: string): ReleaseName | null {
  const m = RELEASE_RE.exec(s);
  return m ? { owner: m[1]!, name: m[2]!, slug: `${m[1]}-${m[2]}`, version: m[3]!, release: s } : null;
}

export const validVersion = (v: string) => VERSION_RE.test(v);

export const releaseFile = (release: string) => `${release}.tar.gz`;
export const releaseFilePath = (release: string) => `v3/files/${releaseFile(release)}`;

/** Semantic version order (pre-releases before their release; build metadata ignored). */
export function compareVersions(a: string, b: string): number {
  const split = (v: string) => {
    const [core, pre] = v.split('+')[0]!.split(/-(.*)/s) as [string, string | undefined];
    return { nums: core.split('.').map(Number), pre: pre === undefined ? undefined : pre.split('.') };
  };
  const x = split(a);
  const y = split(b);
  for (let i = 0; i < 3; i++) if (x.nums[i] !== y.nums[i]) return (x.nums[i] ?? 0) - (y.nums[i] ?? 0);
  if (!x.pre || !y.pre) return x.pre ? -1 : y.pre ? 1 : 0;
  for (let i = 0; i < Math.max(x.pre.length, y.pre.length); i++) {
    const p = x.pre[i];
    const q = y.pre[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    if (p === q) continue;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn) return Number(p) - Number(q);
    if (pn !== qn) return pn ? -1 : 1;
    return p < q ? -1 : 1;
  }
  return 0;
}
