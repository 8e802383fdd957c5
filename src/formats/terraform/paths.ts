/**
 * Paths of a terraform repository, relative to `http://HOST/{repo}/`.
 *
 * Network mirror protocol: `{hostname}/{namespace}/{type}/index.json`, `{hostname}/{namespace}/{type}/{version}.json`,
 * and the archives `{hostname}/{namespace}/{type}/terraform-provider-{type}_{version}_{os}_{arch}.zip` beside them
 * (the one place archives live, whichever protocol named them).
 *
 * Provider registry protocol, under `[{hostname}/]`: `.well-known/terraform.json`, `v1/providers/{namespace}/{type}/versions`,
 * `v1/providers/{namespace}/{type}/{version}/download/{os}/{arch}`, and beside that document its `SHA256SUMS` and
 * `SHA256SUMS.sig`. Without the hostname prefix they stand for the repository's default registry host (see
 * `defaultHostname`). The checksum files sit under the download document so that a virtual repository, which
 * answers each path from its first member that has it, takes them from the member whose document it served.
 */
export interface ProviderAddress {
  hostname: string;
  namespace: string;
  type: string;
}

/** A provider as the registry protocol names it: the hostname is undefined for the repository's default host. */
export interface RegistryAddress {
  hostname: string | undefined;
  namespace: string;
  type: string;
}

export interface PackageCoordinates {
  version: string;
  os: string;
  arch: string;
}

export type RegistryFile = 'download' | 'shasums' | 'shasums-sig';

export type TerraformPath =
  | ({ kind: 'versions' } & ProviderAddress)
  | ({ kind: 'version'; version: string } & ProviderAddress)
  | ({ kind: 'archive'; filename: string } & PackageCoordinates & ProviderAddress)
  | { kind: 'discovery'; hostname: string | undefined }
  | ({ kind: 'registry-versions' } & RegistryAddress)
  | ({ kind: RegistryFile } & PackageCoordinates & RegistryAddress)
  | { kind: 'other' };

/** The registry host of provider addresses without one (`hashicorp/aws`), where Terraform looks them up. */
export const DEFAULT_HOSTNAME = 'registry.terraform.io';
export const DISCOVERY_PATH = '.well-known/terraform.json';

/** A registry host name (optionally with a port), lower case as Terraform normalises it. */
const HOSTNAME = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)*(?::[0-9]{1,5})?$/;
const NAMESPACE = /^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$/;
/** Provider types have no underscore: it separates the parts of an archive name. */
const TYPE = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
/** Provider versions are semantic versions (no build metadata, no leading v). */
export const VERSION = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;
const PLATFORM = /^[a-z0-9]{1,32}$/;

export const platformKey = (os: string, arch: string) => `${os}_${arch}`;
export const archiveName = (type: string, version: string, os: string, arch: string) => `terraform-provider-${type}_${version}_${os}_${arch}.zip`;
export const providerDir = (a: ProviderAddress) => `${a.hostname}/${a.namespace}/${a.type}/`;
export const archivePath = (a: ProviderAddress, c: PackageCoordinates) => `${providerDir(a)}${archiveName(a.type, c.version, c.os, c.arch)}`;

export function validHostname(h: string): boolean {
  return HOSTNAME.test(h);
}

export function validPlatform(os: string, arch: string): boolean {
  return PLATFORM.test(os) && PLATFORM.test(arch);
}

/** `[{hostname}/]v1/providers/{namespace}/{type}/` */
export const registryProviderDir = (a: RegistryAddress) => `${a.hostname === undefined ? '' : `${a.hostname}/`}v1/providers/${a.namespace}/${a.type}/`;
export const registryVersionsPath = (a: RegistryAddress) => `${registryProviderDir(a)}versions`;

export function registryFilePath(file: RegistryFile, a: RegistryAddress, c: PackageCoordinates): string {
  const doc = `${registryProviderDir(a)}${c.version}/download/${c.os}/${c.arch}`;
  return file === 'download' ? doc : `${doc}/${file === 'shasums' ? 'SHA256SUMS' : 'SHA256SUMS.sig'}`;
}

/**
 * `target` as a URL relative to the document at `from` (both repository paths). Both come from this parser, whose
 * segments hold only characters that need no percent-encoding.
 */
export function relativeUrl(from: string, target: string): string {
  return '../'.repeat(from.split('/').length - 1) + target;
}

function parseRegistry(hostname: string | undefined, rest: string[]): TerraformPath {
  const [namespace, type, ...tail] = rest;
  if (!namespace || !type || !NAMESPACE.test(namespace) || !TYPE.test(type)) return { kind: 'other' };
  const a = { hostname, namespace, type };
  if (tail.length === 1 && tail[0] === 'versions') return { kind: 'registry-versions', ...a };
  const [version, download, os, arch, file, ...more] = tail;
  if (more.length || download !== 'download' || !version || !os || !arch || !VERSION.test(version) || !validPlatform(os, arch)) return { kind: 'other' };
  const c = { version, os, arch };
  if (file === undefined) return { kind: 'download', ...c, ...a };
  if (file === 'SHA256SUMS') return { kind: 'shasums', ...c, ...a };
  if (file === 'SHA256SUMS.sig') return { kind: 'shasums-sig', ...c, ...a };
  return { kind: 'other' };
}

function parseMirror(parts: string[]): TerraformPath {
  if (parts.length !== 4) return { kind: 'other' };
  const [hostname, namespace, type, file] = parts as [string, string, string, string];
  if (!HOSTNAME.test(hostname) || !NAMESPACE.test(namespace) || !TYPE.test(type)) return { kind: 'other' };
  const a = { hostname, namespace, type };
  if (file === 'index.json') return { kind: 'versions', ...a };
  if (file.endsWith('.json')) {
    const version = file.slice(0, -5);
    return VERSION.test(version) ? { kind: 'version', version, ...a } : { kind: 'other' };
  }
  const prefix = `terraform-provider-${type}_`;
  if (!file.startsWith(prefix) || !file.endsWith('.zip')) return { kind: 'other' };
  const rest = file.slice(prefix.length, -4).split('_');
  if (rest.length !== 3) return { kind: 'other' };
  const [version, os, arch] = rest as [string, string, string];
  if (!VERSION.test(version) || !validPlatform(os, arch)) return { kind: 'other' };
  return { kind: 'archive', version, os, arch, filename: file, ...a };
}

export function parseTerraformPath(path: string): TerraformPath {
  const parts = path.split('/');
  if (path === DISCOVERY_PATH) return { kind: 'discovery', hostname: undefined };
  if (parts.length === 3 && `${parts[1]}/${parts[2]}` === DISCOVERY_PATH && HOSTNAME.test(parts[0]!)) return { kind: 'discovery', hostname: parts[0] };
  if (parts[0] === 'v1' && parts[1] === 'providers') {
    const r = parseRegistry(undefined, parts.slice(2));
    if (r.kind !== 'other') return r;
  }
  if (parts[1] === 'v1' && parts[2] === 'providers' && HOSTNAME.test(parts[0]!)) {
    const r = parseRegistry(parts[0], parts.slice(3));
    if (r.kind !== 'other') return r;
  }
  return parseMirror(parts);
}
