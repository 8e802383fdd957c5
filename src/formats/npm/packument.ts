import { badGateway } from '../../errors.js';

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
