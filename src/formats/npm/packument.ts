import { badGateway } from '../../errors.js';
import { tarballPath } from './paths.js';

/** A version's manifest as it appears in a packument (package.json plus `dist`, `deprecated`, …). */
export interface VersionManifest {
  name: string;
  version: string;
  dist: { tarball: string; integrity?: string; shasum?: string; [k: string]: unknown };
  deprecated?: string;
  [k: string]: unknown;
}

export interface Packument {
  name: string;
  'dist-tags': Record<string, string>;
  versions: Record<string, VersionManifest>;
  time?: Record<string, string>;
  modified?: string;
  _rev?: string;
  [k: string]: unknown;
}

export const JSON_TYPE = 'application/json';
export const ABBREVIATED_TYPE = 'application/vnd.npm.install-v1+json';

/** What `npm install` reads from the abbreviated form (npm's registry API: "corgi" documents). */
const ABBREVIATED_FIELDS = [
  'name', 'version', 'dependencies', 'optionalDependencies', 'devDependencies', 'bundleDependencies', 'bundledDependencies',
  'peerDependencies', 'peerDependenciesMeta', 'bin', 'directories', 'dist', 'engines', '_hasShrinkwrap', 'hasInstallScript',
  'cpu', 'os', 'deprecated', 'funding', 'license', 'libc',
];

export function parsePackument(body: Buffer, where: string): Packument {
  let doc: Packument;
  try {
    doc = JSON.parse(body.toString('utf8')) as Packument;
  } catch {
    throw badGateway(`${where} is not valid JSON`);
  }
  if (typeof doc !== 'object' || doc === null || typeof doc.versions !== 'object' || doc.versions === null) throw badGateway(`${where} is not a packument`);
  doc['dist-tags'] ??= {};
  return doc;
}

/** A dist-tags document (`{tag: version}`): only string values are kept. */
export function parseDistTags(body: Buffer, where: string): Record<string, string> {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw badGateway(`${where} is not valid JSON`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw badGateway(`${where} is not an object`);
  return Object.fromEntries(Object.entries(doc).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
}

/** The tarball file a manifest's `dist.tarball` URL names. */
export function fileOf(url: string): string {
  const last = url.split('?')[0]!.split('/').pop() ?? '';
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/** Stored packuments name tarballs by their path in the repository; `present` makes them absolute per client. */
export function relativeTarballs(p: Packument): void {
  for (const m of Object.values(p.versions)) if (m?.dist?.tarball) m.dist.tarball = tarballPath(p.name, fileOf(m.dist.tarball));
}

/** The document a client gets: tarball URLs through `repoUrl`, full or abbreviated. */
export function render(p: Packument, repoUrl: string, abbreviated: boolean): Buffer {
  const versions: Record<string, unknown> = {};
  for (const [v, m] of Object.entries(p.versions)) {
    const dist = { ...m.dist, tarball: /^https?:\/\//.test(m.dist.tarball) ? m.dist.tarball : `${repoUrl}/${m.dist.tarball}` };
    if (!abbreviated) {
      versions[v] = { ...m, dist };
      continue;
    }
    const a: Record<string, unknown> = {};
    for (const f of ABBREVIATED_FIELDS) if (m[f] !== undefined) a[f] = m[f];
    a.dist = dist;
    versions[v] = a;
  }
  if (abbreviated) return Buffer.from(JSON.stringify({ name: p.name, modified: p.modified ?? p.time?.modified, 'dist-tags': p['dist-tags'], versions }));
  return Buffer.from(JSON.stringify({ ...p, versions }));
}
