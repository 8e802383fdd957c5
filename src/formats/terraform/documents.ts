import { VERSION } from './paths.js';

/** The two JSON documents of the network mirror protocol. */
export interface VersionsDoc {
  versions: Record<string, Record<string, never>>;
}

export interface ArchiveInfo {
  url: string;
  hashes?: string[];
}

export interface ArchivesDoc {
  archives: Record<string, ArchiveInfo>;
}

export const JSON_TYPE = 'application/json';

function numeric(v: string): number[] {
  const [core] = v.split('-', 1);
  return core!.split('.').map(Number);
}

/** Semantic version order (pre-releases before their release). */
export function compareVersions(a: string, b: string): number {
  const x = numeric(a);
  const y = numeric(b);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  const pa = a.includes('-');
  const pb = b.includes('-');
  if (pa !== pb) return pa ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function versionsJson(versions: Iterable<string>): Buffer {
  const doc: VersionsDoc = { versions: {} };
  for (const v of [...new Set(versions)].sort(compareVersions)) doc.versions[v] = {};
  return Buffer.from(JSON.stringify(doc));
}

export function archivesJson(archives: Map<string, ArchiveInfo>): Buffer {
  const doc: ArchivesDoc = { archives: {} };
  for (const k of [...archives.keys()].sort()) doc.archives[k] = archives.get(k)!;
  return Buffer.from(JSON.stringify(doc));
}

/** Hash strings as the protocol carries them: `h1:` base64 and `zh:` hex; others are dropped. */
export function cleanHashes(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  return v
    .filter((h): h is string => typeof h === 'string')
    .map((h) => (h.startsWith('zh:') ? h.toLowerCase() : h))
    .filter((h) => /^h1:[A-Za-z0-9+/]{43}=$/.test(h) || /^zh:[0-9a-f]{64}$/.test(h));
}

export function parseJsonObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The version names of an index.json (only valid versions). */
export function versionsOf(doc: Record<string, unknown> | undefined): string[] {
  const v = doc?.versions;
  if (!v || typeof v !== 'object' || Array.isArray(v)) return [];
  return Object.keys(v).filter((k) => VERSION.test(k));
}
