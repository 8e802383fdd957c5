/**
 * Paths of the provider network mirror protocol, relative to the mirror base URL `http://HOST/{repo}/`:
 * `{hostname}/{namespace}/{type}/index.json`, `{hostname}/{namespace}/{type}/{version}.json`, and the archives
 * `{hostname}/{namespace}/{type}/terraform-provider-{type}_{version}_{os}_{arch}.zip` beside them.
 */
export interface ProviderAddress {
  hostname: string;
  namespace: string;
  type: string;
}

export type TerraformPath =
  | ({ kind: 'versions' } & ProviderAddress)
  | ({ kind: 'version'; version: string } & ProviderAddress)
  | ({ kind: 'archive'; version: string; os: string; arch: string; filename: string } & ProviderAddress)
  | { kind: 'other' };

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

export function validPlatform(os: string, arch: string): boolean {
  return PLATFORM.test(os) && PLATFORM.test(arch);
}

export function parseTerraformPath(path: string): TerraformPath {
  const parts = path.split('/');
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
