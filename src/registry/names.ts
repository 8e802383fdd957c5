import { ociError } from './oci-errors.js';

/** One path component of a repository name (OCI distribution spec). */
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
export const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
export const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export type RegistryRoute =
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'tags'; name: string }
  | { kind: 'referrers'; name: string; digest: string };

/** `{repo}/{image...}`: the first component picks the artifactapi repository, the rest is the image. */
export function splitName(name: string): { repo: string; image: string } {
  const slash = name.indexOf('/');
  if (slash < 0) throw ociError('NAME_INVALID', `"${name}" has no image part: use {repository}/{image}`);
  return { repo: name.slice(0, slash), image: name.slice(slash + 1) };
}

/** Parse the path below `/v2/`. Returns null for paths that are not registry endpoints. */
export function parseRegistryPath(rest: string): RegistryRoute | null {
  const parts = rest.split('/');
  const n = parts.length;
  const checkName = (k: number) => {
    const comps = parts.slice(0, k);
    if (comps.length < 2 || comps.join('/').length > 255 || !comps.every((c) => COMPONENT.test(c))) {
      throw ociError('NAME_INVALID', `invalid repository name "${comps.join('/').slice(0, 300)}"`);
    }
    return comps.join('/');
  };
  if (n >= 4 && parts[n - 3] === 'blobs' && parts[n - 2] === 'uploads' && parts[n - 1] === '') return { kind: 'uploads', name: checkName(n - 3) };
  if (n >= 4 && parts[n - 2] === 'blobs' && parts[n - 1] === 'uploads') return { kind: 'uploads', name: checkName(n - 2) };
  if (n >= 4 && parts[n - 3] === 'blobs' && parts[n - 2] === 'uploads') return { kind: 'upload', name: checkName(n - 3), id: parts[n - 1]! };
  if (n >= 3 && parts[n - 2] === 'blobs') return { kind: 'blob', name: checkName(n - 2), digest: decodeURIComponent(parts[n - 1]!) };
  if (n >= 3 && parts[n - 2] === 'manifests') return { kind: 'manifest', name: checkName(n - 2), reference: decodeURIComponent(parts[n - 1]!) };
  if (n >= 3 && parts[n - 2] === 'tags' && parts[n - 1] === 'list') return { kind: 'tags', name: checkName(n - 2) };
  if (n >= 3 && parts[n - 2] === 'referrers') return { kind: 'referrers', name: checkName(n - 2), digest: decodeURIComponent(parts[n - 1]!) };
  return null;
}

export function checkDigest(d: string): string {
  if (!DIGEST_RE.test(d)) throw ociError('DIGEST_INVALID', `invalid digest "${d.slice(0, 200)}" (sha256:<64 hex> expected)`);
  return d;
}

export function checkReference(ref: string): string {
  if (DIGEST_RE.test(ref) || TAG_RE.test(ref)) return ref;
  if (ref.includes(':')) throw ociError('DIGEST_INVALID', `invalid digest "${ref.slice(0, 200)}"`);
  throw ociError('MANIFEST_INVALID', `invalid tag "${ref.slice(0, 200)}"`, undefined, 400);
}
