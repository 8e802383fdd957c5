import { ociError } from './oci-errors.js';
import { DIGEST_RE } from './names.js';

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export const MANIFEST_TYPES = new Set([
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
]);
const INDEX_TYPES = new Set(['application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.oci.image.index.v1+json']);

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** What a pushed manifest says about itself and what it points at. */
export interface ParsedManifest {
  mediaType: string;
  /** Blobs that must exist in the repository (config, layers). */
  blobs: string[];
  /** Manifests that must exist (children of an index). */
  manifests: string[];
  subject?: string;
  artifactType?: string;
  annotations?: Record<string, string>;
}

function descriptor(v: unknown, where: string): Descriptor {
  const d = v as Descriptor;
  if (typeof d !== 'object' || d === null || typeof d.digest !== 'string' || !DIGEST_RE.test(d.digest) || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw ociError('MANIFEST_INVALID', `${where}: not a valid descriptor (digest sha256:<hex>, size)`);
  }
  return d;
}

/** Validate a manifest's JSON and the Content-Type it was pushed with. */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw ociError('MANIFEST_INVALID', 'manifest is not valid JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw ociError('MANIFEST_INVALID', 'manifest must be a JSON object');
  if (doc.schemaVersion !== 2) throw ociError('MANIFEST_INVALID', 'schemaVersion must be 2 (schema 1 is not supported)');
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const type = (contentType?.split(';')[0]?.trim() || declared) ?? (Array.isArray(doc.manifests) ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json');
  if (!MANIFEST_TYPES.has(type)) throw ociError('MANIFEST_INVALID', `unsupported manifest media type "${type}"`);
  if (declared && declared !== type) throw ociError('MANIFEST_INVALID', `mediaType "${declared}" does not match Content-Type "${type}"`);
  const out: ParsedManifest = { mediaType: type, blobs: [], manifests: [] };
  if (INDEX_TYPES.has(type)) {
    if (!Array.isArray(doc.manifests)) throw ociError('MANIFEST_INVALID', 'an index needs a "manifests" list');
    doc.manifests.forEach((m, i) => out.manifests.push(descriptor(m, `manifests[${i}]`).digest));
  } else {
    out.blobs.push(descriptor(doc.config, 'config').digest);
    if (!Array.isArray(doc.layers)) throw ociError('MANIFEST_INVALID', 'an image manifest needs a "layers" list');
    doc.layers.forEach((l, i) => out.blobs.push(descriptor(l, `layers[${i}]`).digest));
    const cfgType = (doc.config as Descriptor).mediaType;
    if (typeof doc.artifactType === 'string') out.artifactType = doc.artifactType;
    else if (cfgType && cfgType !== 'application/vnd.oci.image.config.v1+json' && cfgType !== 'application/vnd.docker.container.image.v1+json') out.artifactType = cfgType;
  }
  if (doc.subject !== undefined) out.subject = descriptor(doc.subject, 'subject').digest;
  if (typeof doc.artifactType === 'string') out.artifactType = doc.artifactType;
  if (doc.annotations && typeof doc.annotations === 'object') out.annotations = doc.annotations as Record<string, string>;
  return out;
}
