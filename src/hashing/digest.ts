import { badRequest } from '../errors.js';
import type { Digests, HashAlgorithm, HashResult } from './types.js';

const HEX_LEN: Record<HashAlgorithm, number> = { sha256: 64, sha512: 128, sha1: 40, md5: 32 };

export const isHashAlgorithm = (a: string): a is HashAlgorithm => a in HEX_LEN;

export interface ParsedDigest {
  algorithm: HashAlgorithm;
  hex: string;
}

/** Parse `sha256:<hex>` (OCI style). Malformed input is a 400 DIGEST_INVALID, never a crash. */
export function parseDigest(s: string, allowed: readonly HashAlgorithm[] = ['sha256', 'sha512']): ParsedDigest {
  const colon = s.indexOf(':');
  const algorithm = s.slice(0, colon);
  const hex = s.slice(colon + 1);
  if (colon < 0 || !isHashAlgorithm(algorithm) || !allowed.includes(algorithm)) {
    throw badRequest('DIGEST_INVALID', `unsupported or malformed digest "${s.slice(0, 150)}"`);
  }
  if (hex.length !== HEX_LEN[algorithm] || !/^[0-9a-f]+$/.test(hex)) {
    throw badRequest('DIGEST_INVALID', `malformed ${algorithm} digest "${s.slice(0, 150)}"`);
  }
  return { algorithm, hex };
}

export const formatDigest = (algorithm: HashAlgorithm, hex: string) => `${algorithm}:${hex}`;

/** npm's Subresource Integrity strings: `sha512-<base64>`. */
export function sriToHex(sri: string): { algorithm: HashAlgorithm; hex: string } | null {
  const m = /^(sha512|sha256|sha1)-([A-Za-z0-9+/]+={0,2})$/.exec(sri.trim());
  if (!m) return null;
  const hex = Buffer.from(m[2]!, 'base64').toString('hex');
  const algorithm = m[1] as HashAlgorithm;
  return hex.length === HEX_LEN[algorithm] ? { algorithm, hex } : null;
}

export const hexToSri = (algorithm: HashAlgorithm, hex: string) => `${algorithm}-${Buffer.from(hex, 'hex').toString('base64')}`;

/** The first algorithm whose computed digest differs from the expected one, or null when all match. */
export function verifyDigests(result: Pick<HashResult, 'digests'>, expected: Digests): HashAlgorithm | null {
  for (const [alg, want] of Object.entries(expected) as [HashAlgorithm, string | undefined][]) {
    if (want === undefined) continue;
    if (result.digests[alg]?.toLowerCase() !== want.toLowerCase()) return alg;
  }
  return null;
}
