import { createHash } from 'node:crypto';
import { HttpError } from '../errors.js';
import type { Digests, HashAlgorithm, HashResult } from './types.js';

const HEX_LEN: Record<HashAlgorithm, number> = { sha256: 64, sha512: 128, sha1: 40, md5: 32 };

export const HASH_ALGORITHMS = Object.keys(HEX_LEN) as readonly HashAlgorithm[];

export const isHashAlgorithm = (a: unknown): a is HashAlgorithm => typeof a === 'string' && Object.hasOwn(HEX_LEN, a);

/** A digest string a client sent that is not well-formed (400, code DIGEST_INVALID). */
export class InvalidDigestError extends HttpError {
  constructor(message: string) {
    super(400, 'DIGEST_INVALID', message);
    this.name = 'InvalidDigestError';
  }
}

export interface ParsedDigest {
  algorithm: HashAlgorithm;
  hex: string;
}

const quote = (s: unknown) => JSON.stringify(String(s).slice(0, 150));

/** True when `hex` is the lower-case hex form of an `algorithm` digest. */
export const isDigestHex = (algorithm: HashAlgorithm, hex: string): boolean =>
  hex.length === HEX_LEN[algorithm] && /^[0-9a-f]+$/.test(hex);

/**
 * Parse `<algorithm>:<lower-case hex>` (OCI style). Only the `allowed` algorithms are accepted (OCI registers
 * sha256 and sha512). Anything malformed throws InvalidDigestError, never a crash further on.
 */
export function parseDigest(s: string, allowed: readonly HashAlgorithm[] = ['sha256', 'sha512']): ParsedDigest {
  if (typeof s !== 'string') throw new InvalidDigestError(`digest must be a string, got ${typeof s}`);
  const colon = s.indexOf(':');
  const algorithm = s.slice(0, colon);
  if (colon < 0 || !isHashAlgorithm(algorithm) || !allowed.includes(algorithm)) {
    throw new InvalidDigestError(`unsupported or malformed digest ${quote(s)} (expected ${allowed.join('|')}:<hex>)`);
  }
  const hex = s.slice(colon + 1);
  if (!isDigestHex(algorithm, hex)) {
    throw new InvalidDigestError(`malformed ${algorithm} digest ${quote(s)}: expected ${HEX_LEN[algorithm]} lower-case hex characters`);
  }
  return { algorithm, hex };
}

export const formatDigest = (algorithm: HashAlgorithm, hex: string): string => `${algorithm}:${hex}`;

const SRI_RE = /^(sha512|sha256|sha1)-([A-Za-z0-9+/]+={0,2})(?:\?[\x21-\x7e]*)?$/;

/** One Subresource Integrity entry as npm writes it (`sha512-<base64>`) to hex, or null when malformed. */
export function sriToHex(sri: string): ParsedDigest | null {
  const m = SRI_RE.exec(sri.trim());
  if (!m) return null;
  const algorithm = m[1] as HashAlgorithm;
  const hex = Buffer.from(m[2]!, 'base64').toString('hex');
  return hex.length === HEX_LEN[algorithm] ? { algorithm, hex } : null;
}

export const hexToSri = (algorithm: HashAlgorithm, hex: string): string => `${algorithm}-${Buffer.from(hex, 'hex').toString('base64')}`;

/**
 * A whole npm `integrity` value (space-separated entries, possibly several algorithms) as Digests. Entries
 * with algorithms we do not compute are skipped; a malformed entry throws InvalidDigestError.
 */
export function integrityToDigests(integrity: string): Digests {
  const out: Digests = {};
  for (const entry of integrity.split(/\s+/).filter(Boolean)) {
    if (!/^[a-z0-9]+-/.test(entry)) throw new InvalidDigestError(`malformed integrity entry ${quote(entry)}`);
    if (!/^(sha512|sha256|sha1)-/.test(entry)) continue;
    const parsed = sriToHex(entry);
    if (!parsed) throw new InvalidDigestError(`malformed integrity entry ${quote(entry)}`);
    out[parsed.algorithm] ??= parsed.hex;
  }
  return out;
}

/** The first algorithm whose computed digest differs from (or lacks) the expected one, or null when all match. */
export function verifyDigests(result: Pick<HashResult, 'digests'>, expected: Digests): HashAlgorithm | null {
  for (const [alg, want] of Object.entries(expected) as [HashAlgorithm, string | undefined][]) {
    if (want === undefined) continue;
    if (result.digests[alg]?.toLowerCase() !== want.toLowerCase()) return alg;
  }
  return null;
}

/** Digests of a small in-memory document, synchronously on the calling thread. */
export function digestBuffer(buf: Uint8Array, algorithms: readonly HashAlgorithm[]): Digests {
  const out: Digests = {};
  for (const a of algorithms) {
    if (!isHashAlgorithm(a)) throw new TypeError(`unknown hash algorithm "${String(a)}"`);
    out[a] = createHash(a).update(buf).digest('hex');
  }
  return out;
}
