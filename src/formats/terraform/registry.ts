import { badGateway } from '../../errors.js';
import { compareVersions, parseJsonObject } from './documents.js';
import { platformKey, validPlatform, VERSION } from './paths.js';

/** The provider registry protocol's documents (`versions` and the per-platform download document). */
export interface RegistryPlatform {
  os: string;
  arch: string;
}

export interface RegistryVersion {
  version: string;
  /** Plugin protocol versions ("5.0"); empty when unknown (Terraform then skips its compatibility check). */
  protocols: string[];
  platforms: RegistryPlatform[];
}

export interface GpgPublicKey {
  key_id: string;
  ascii_armor: string;
  trust_signature: string;
  source: string;
  source_url: string | null;
}

/** A download document without its three URLs: those depend on where it is served. */
export interface DownloadBase {
  protocols: string[];
  os: string;
  arch: string;
  filename: string;
  shasum: string;
  signing_keys: { gpg_public_keys: GpgPublicKey[] };
}

export interface DownloadUrls {
  download_url: string;
  shasums_url: string;
  shasums_signature_url: string;
}

const PROTOCOL = /^[0-9]{1,4}(?:\.[0-9]{1,4}){0,2}$/;
/** A file name as SHA256SUMS lists it: no path, no whitespace. */
const FILENAME = /^[A-Za-z0-9._+-]{1,255}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const MAX_SHASUMS_LINES = 10_000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function protocolsOf(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((p): p is string => typeof p === 'string' && PROTOCOL.test(p)) : [];
}

export interface RegistryVersions {
  versions: RegistryVersion[];
  /** Messages the registry wants users to see (deprecations); Terraform prints them. */
  warnings: string[];
}

/** The valid entries of an upstream `versions` document; a body that is not one is a 502. */
export function parseRegistryVersions(body: Buffer, where: string): RegistryVersions {
  const doc = parseJsonObject(body);
  if (!doc || !Array.isArray(doc.versions)) throw badGateway(`${where} is not a provider versions document`);
  const out: RegistryVersion[] = [];
  for (const v of doc.versions as unknown[]) {
    if (!isObject(v) || typeof v.version !== 'string' || !VERSION.test(v.version)) continue;
    const platforms = Array.isArray(v.platforms)
      ? (v.platforms as unknown[]).filter((p): p is RegistryPlatform => isObject(p) && typeof p.os === 'string' && typeof p.arch === 'string' && validPlatform(p.os, p.arch))
      : [];
    out.push({ version: v.version, protocols: protocolsOf(v.protocols), platforms: platforms.map(({ os, arch }) => ({ os, arch })) });
  }
  const warnings = Array.isArray(doc.warnings) ? doc.warnings.filter((w): w is string => typeof w === 'string') : [];
  return { versions: out, warnings };
}

/**
 * Several lists of versions as one (a virtual repository's members, in order): the first list that has a version
 * gives its protocols; platforms are the union, since each platform's download comes from the first member that has it.
 */
export function mergeRegistryVersions(lists: RegistryVersions[]): RegistryVersions {
  const byVersion = new Map<string, RegistryVersion>();
  for (const list of lists) {
    for (const v of list.versions) {
      const have = byVersion.get(v.version);
      if (!have) byVersion.set(v.version, { ...v, platforms: [...v.platforms] });
      else for (const p of v.platforms) if (!have.platforms.some((q) => q.os === p.os && q.arch === p.arch)) have.platforms.push(p);
    }
  }
  return { versions: [...byVersion.values()], warnings: [...new Set(lists.flatMap((l) => l.warnings))] };
}

export function registryVersionsJson(versions: RegistryVersion[], warnings: string[] = []): Buffer {
  const sorted = [...versions].sort((a, b) => compareVersions(a.version, b.version));
  const doc = {
    versions: sorted.map((v) => ({
      version: v.version,
      protocols: [...v.protocols].sort(),
      platforms: [...v.platforms].sort((a, b) => (platformKey(a.os, a.arch) < platformKey(b.os, b.arch) ? -1 : 1)),
    })),
    ...(warnings.length ? { warnings } : {}),
  };
  return Buffer.from(JSON.stringify(doc));
}

/** An http(s) URL from a document, resolved against the document's own URL as Terraform does; undefined if invalid. */
export function resolveHttpUrl(raw: unknown, base: string): string | undefined {
  if (typeof raw !== 'string' || raw === '') return undefined;
  try {
    const u = new URL(raw, base);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : undefined;
  } catch {
    return undefined;
  }
}

function gpgKeys(v: unknown): GpgPublicKey[] {
  const list = isObject(v) && Array.isArray(v.gpg_public_keys) ? (v.gpg_public_keys as unknown[]) : [];
  return list.filter(isObject).flatMap((k) =>
    typeof k.ascii_armor === 'string' && k.ascii_armor.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')
      ? [
          {
            key_id: typeof k.key_id === 'string' ? k.key_id : '',
            ascii_armor: k.ascii_armor,
            trust_signature: typeof k.trust_signature === 'string' ? k.trust_signature : '',
            source: typeof k.source === 'string' ? k.source : '',
            source_url: typeof k.source_url === 'string' ? k.source_url : null,
          },
        ]
      : [],
  );
}

/** An upstream download document, checked as Terraform checks it, with its URLs made absolute. */
export interface UpstreamDownload {
  base: DownloadBase;
  urls: DownloadUrls;
}

export function parseUpstreamDownload(body: Buffer, docUrl: string, want: RegistryPlatform): UpstreamDownload {
  const doc = parseJsonObject(body);
  const bad = (why: string) => badGateway(`upstream download document ${docUrl} ${why}`);
  if (!doc) throw bad('is not a JSON object');
  if (doc.os !== want.os || doc.arch !== want.arch) throw bad(`is for ${String(doc.os)}_${String(doc.arch)}, not ${want.os}_${want.arch}`);
  if (typeof doc.filename !== 'string' || !FILENAME.test(doc.filename)) throw bad('has no valid filename');
  const shasum = typeof doc.shasum === 'string' ? doc.shasum.toLowerCase() : '';
  if (!SHA256.test(shasum)) throw bad('has no valid shasum');
  const download_url = resolveHttpUrl(doc.download_url, docUrl);
  const shasums_url = resolveHttpUrl(doc.shasums_url, docUrl);
  const shasums_signature_url = resolveHttpUrl(doc.shasums_signature_url, docUrl);
  if (!download_url || !shasums_url || !shasums_signature_url) throw bad('lacks an http(s) download_url, shasums_url or shasums_signature_url');
  return {
    base: { protocols: protocolsOf(doc.protocols), os: want.os, arch: want.arch, filename: doc.filename, shasum, signing_keys: { gpg_public_keys: gpgKeys(doc.signing_keys) } },
    urls: { download_url, shasums_url, shasums_signature_url },
  };
}

/** A download document in the registry's field order. */
export function downloadJson(base: DownloadBase, urls: DownloadUrls): Buffer {
  const { protocols, os, arch, filename, shasum, signing_keys } = base;
  return Buffer.from(JSON.stringify({ protocols, os, arch, filename, ...urls, shasum, signing_keys }));
}

/** A stored download document with its URLs resolved against the URL it is served at. */
export function absoluteDownloadUrls(body: Buffer, docUrl: string): Buffer {
  const doc = parseJsonObject(body);
  if (!doc) throw badGateway('stored download document is not JSON');
  for (const k of ['download_url', 'shasums_url', 'shasums_signature_url'] as const) {
    const abs = resolveHttpUrl(doc[k], docUrl);
    if (abs) doc[k] = abs;
  }
  return Buffer.from(JSON.stringify(doc));
}

/** `{sha256}  {filename}` lines (sha256sum output, as HashiCorp publishes them); anything else is refused. */
export function parseShasums(body: Buffer): Map<string, string> {
  const text = body.toString('utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0 || lines.length > MAX_SHASUMS_LINES) throw badGateway('SHA256SUMS is empty or too long');
  const out = new Map<string, string>();
  for (const line of lines) {
    // Fields split on whitespace as Terraform reads them; sha256sum marks binary mode with '*' before the name.
    const m = /^([0-9a-fA-F]{64})\s+\*?(\S+)\s*$/.exec(line);
    if (!m) throw badGateway(`SHA256SUMS has an invalid line: ${JSON.stringify(line.slice(0, 120))}`);
    out.set(m[2]!, m[1]!.toLowerCase());
  }
  return out;
}

export function shasumsText(entries: ReadonlyMap<string, string>): Buffer {
  return Buffer.from([...entries.keys()].sort().map((f) => `${entries.get(f)}  ${f}\n`).join(''));
}
