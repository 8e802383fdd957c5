import { createHash, createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { SigningKey } from '../types.js';

/**
 * The OpenPGP subset the formats need (RFC 4880 / RFC 9580, v4 packets), on node:crypto: verifying a detached
 * signature against armored public keys (Terraform's SHA256SUMS), and making detached signatures and a public key
 * with a repository's RSA key (Terraform SHA256SUMS, RPM repomd.xml). Verification follows what Terraform does (ProtonMail go-crypto's
 * CheckDetachedSignature): the first signature packet, the key named by its issuer (a primary key, or a subkey with
 * a valid binding signature that allows signing), the hash over document and trailer. Key expiry and revocation are
 * not evaluated here; Terraform checks them itself.
 */
export class PgpError extends Error {}

const TAG_SIGNATURE = 2;
const TAG_PUBLIC_KEY = 6;
const TAG_USER_ID = 13;
const TAG_PUBLIC_SUBKEY = 14;

const ALG_RSA = 1;
const ALG_RSA_SIGN = 3;
const ALG_DSA = 17;
const ALG_ECDSA = 19;
const ALG_EDDSA_LEGACY = 22;
const ALG_ED25519 = 27;

const SIG_BINARY = 0x00;
const SIG_TEXT = 0x01;
const SIG_POSITIVE_CERT = 0x13;
const SIG_SUBKEY_BINDING = 0x18;

const SUB_CREATED = 2;
const SUB_ISSUER = 16;
const SUB_KEY_FLAGS = 27;
const SUB_ISSUER_FPR = 33;
const FLAG_CERTIFY = 0x01;
const FLAG_SIGN = 0x02;

/** SHA-1 and MD5 signatures are refused, as current OpenPGP implementations do. */
const HASHES: Readonly<Record<number, string>> = { 8: 'sha256', 9: 'sha384', 10: 'sha512', 11: 'sha224' };
const HASH_SHA256 = 8;

/** Named curves by OID (hex): node:crypto's JWK name and the byte length of one coordinate or scalar. */
const EC_CURVES: Readonly<Record<string, { crv: string; size: number }>> = {
  '2a8648ce3d030107': { crv: 'P-256', size: 32 },
  '2b81040022': { crv: 'P-384', size: 48 },
  '2b81040023': { crv: 'P-521', size: 66 },
};
const ED25519_OID = '2b06010401da470f01';

interface Packet {
  tag: number;
  body: Buffer;
}

/** Bounds-checked reads over one buffer; running past the end is a PgpError, never a RangeError. */
class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  get left(): number {
    return this.buf.length - this.pos;
  }

  bytes(n: number): Buffer {
    if (n < 0 || n > this.left) throw new PgpError('truncated OpenPGP data');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  u8(): number {
    return this.bytes(1)[0]!;
  }

  u16(): number {
    return this.bytes(2).readUInt16BE(0);
  }

  u32(): number {
    return this.bytes(4).readUInt32BE(0);
  }

  /** A multiprecision integer: bit count, then the big-endian magnitude. */
  mpi(): Buffer {
    return this.bytes(Math.ceil(this.u16() / 8));
  }
}

function readPackets(buf: Buffer): Packet[] {
  const r = new Reader(buf);
  const out: Packet[] = [];
  while (r.left > 0) {
    const h = r.u8();
    if ((h & 0x80) === 0) throw new PgpError('not OpenPGP packet data');
    let tag: number;
    let len: number;
    if (h & 0x40) {
      tag = h & 0x3f;
      const o1 = r.u8();
      if (o1 < 192) len = o1;
      else if (o1 < 224) len = ((o1 - 192) << 8) + r.u8() + 192;
      else if (o1 === 255) len = r.u32();
      // Partial lengths exist only for streamed data packets, never in keys or signatures.
      else throw new PgpError('partial-length packets are not valid here');
    } else {
      tag = (h >> 2) & 0x0f;
      const type = h & 0x03;
      len = type === 0 ? r.u8() : type === 1 ? r.u16() : type === 2 ? r.u32() : r.left;
    }
    out.push({ tag, body: r.bytes(len) });
  }
  return out;
}

function packet(tag: number, body: Buffer): Buffer {
  const n = body.length;
  let len: Buffer;
  if (n < 192) len = Buffer.from([n]);
  else if (n < 8384) len = Buffer.from([((n - 192) >> 8) + 192, (n - 192) & 0xff]);
  else {
    len = Buffer.alloc(5);
    len[0] = 255;
    len.writeUInt32BE(n, 1);
  }
  return Buffer.concat([Buffer.from([0xc0 | tag]), len, body]);
}

function mpi(value: Buffer): Buffer {
  let i = 0;
  while (i < value.length - 1 && value[i] === 0) i++;
  const v = value.subarray(i);
  const bits = v[0] === 0 ? 0 : (v.length - 1) * 8 + (32 - Math.clz32(v[0]!));
  const head = Buffer.alloc(2);
  head.writeUInt16BE(bits, 0);
  return Buffer.concat([head, v]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

function leftPad(v: Buffer, size: number): Buffer {
  if (v.length > size) throw new PgpError('signature value longer than the key allows');
  return v.length === size ? v : Buffer.concat([Buffer.alloc(size - v.length), v]);
}

const b64url = (b: Buffer) => b.toString('base64url');

// ---------------------------------------------------------------------------------------------------------------
// ASCII armor

const CRC24_INIT = 0xb704ce;
const CRC24_POLY = 0x1864cfb;

function crc24(data: Buffer): number {
  let crc = CRC24_INIT;
  for (const byte of data) {
    crc ^= byte << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= CRC24_POLY;
    }
  }
  return crc & 0xffffff;
}

export function armor(kind: 'PUBLIC KEY BLOCK' | 'SIGNATURE', data: Buffer): string {
  const b64 = data.toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  const sum = Buffer.alloc(3);
  sum.writeUIntBE(crc24(data), 0, 3);
  const crc = sum.toString('base64');
  return `-----BEGIN PGP ${kind}-----\n\n${lines.join('\n')}\n=${crc}\n-----END PGP ${kind}-----\n`;
}

/** The binary content of the first armored block in `text` (header lines skipped, checksum checked when present). */
export function dearmor(text: string): Buffer {
  const lines = text.replace(/\r/g, '').split('\n');
  const begin = lines.findIndex((l) => /^-----BEGIN PGP [A-Z ,0-9/]+-----\s*$/.test(l));
  if (begin < 0) throw new PgpError('no ASCII-armored OpenPGP block');
  let i = begin + 1;
  // Armor headers ("Version: …", "Comment: …") end at the first blank line.
  while (i < lines.length && /^[A-Za-z][A-Za-z0-9-]*: /.test(lines[i]!)) i++;
  let b64 = '';
  let checksum: string | undefined;
  for (; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (l.startsWith('-----END PGP ')) {
      const data = Buffer.from(b64, 'base64');
      if (data.length === 0 || data.toString('base64').replace(/=+$/, '') !== b64.replace(/=+$/, '')) throw new PgpError('invalid base64 in armored block');
      if (checksum !== undefined) {
        const want = Buffer.from(checksum, 'base64');
        if (want.length !== 3 || want.readUIntBE(0, 3) !== crc24(data)) throw new PgpError('armor checksum mismatch');
      }
      return data;
    }
    if (l === '') continue;
    if (/^=[A-Za-z0-9+/]{4}$/.test(l)) checksum = l.slice(1);
    else if (/^[A-Za-z0-9+/=]+$/.test(l)) b64 += l;
    else throw new PgpError('invalid line in armored block');
  }
  throw new PgpError('armored block has no END line');
}

// ---------------------------------------------------------------------------------------------------------------
// Keys

interface PublicKey {
  /** 16 upper-case hex digits: the low 64 bits of the v4 fingerprint. */
  keyId: string;
  fingerprint: Buffer;
  body: Buffer;
  algorithm: number;
  /** Undefined when the algorithm is not one node:crypto can verify. */
  key?: KeyObject;
  /** Byte length each signature value is padded to. */
  valueSize: number;
}

function keyHashPrefix(body: Buffer): Buffer {
  const head = Buffer.from([0x99, 0, 0]);
  head.writeUInt16BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** DER: a length, an INTEGER, a SEQUENCE (for the DSA SubjectPublicKeyInfo, which JWK cannot express). */
function derLen(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const der = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag]), derLen(body.length), body]);
const derInt = (v: Buffer) => der(0x02, v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
const DSA_OID = Buffer.from('06072a8648ce380401', 'hex');

function dsaKey(p: Buffer, q: Buffer, g: Buffer, y: Buffer): KeyObject {
  const params = der(0x30, Buffer.concat([derInt(p), derInt(q), derInt(g)]));
  const spki = der(0x30, Buffer.concat([der(0x30, Buffer.concat([DSA_OID, params])), der(0x03, Buffer.concat([Buffer.from([0]), derInt(y)]))]));
  return createPublicKey({ key: spki, format: 'der', type: 'spki' });
}

function parsePublicKey(body: Buffer): PublicKey | undefined {
  const r = new Reader(body);
  // v3 keys are obsolete and v6 keys use another fingerprint; neither is used by Terraform registries.
  if (r.u8() !== 4) return undefined;
  r.u32();
  const algorithm = r.u8();
  const fingerprint = createHash('sha1').update(keyHashPrefix(body)).digest();
  const keyId = fingerprint.subarray(12).toString('hex').toUpperCase();
  const base = { keyId, fingerprint, body, algorithm };
  try {
    switch (algorithm) {
      case ALG_RSA:
      case ALG_RSA_SIGN: {
        const n = r.mpi();
        const e = r.mpi();
        return { ...base, key: createPublicKey({ key: { kty: 'RSA', n: b64url(n), e: b64url(e) }, format: 'jwk' }), valueSize: n.length };
      }
      case ALG_DSA: {
        const [p, q, g, y] = [r.mpi(), r.mpi(), r.mpi(), r.mpi()];
        return { ...base, key: dsaKey(p, q, g, y), valueSize: q.length };
      }
      case ALG_ECDSA: {
        const curve = EC_CURVES[r.bytes(r.u8()).toString('hex')];
        const point = r.mpi();
        if (!curve) return { ...base, valueSize: 0 };
        if (point[0] !== 0x04 || point.length !== 1 + 2 * curve.size) throw new PgpError('ECDSA key is not an uncompressed point');
        const x = point.subarray(1, 1 + curve.size);
        const y = point.subarray(1 + curve.size);
        return { ...base, key: createPublicKey({ key: { kty: 'EC', crv: curve.crv, x: b64url(x), y: b64url(y) }, format: 'jwk' }), valueSize: curve.size };
      }
      case ALG_EDDSA_LEGACY: {
        const oid = r.bytes(r.u8()).toString('hex');
        const point = r.mpi();
        if (oid !== ED25519_OID) return { ...base, valueSize: 0 };
        if (point.length !== 33 || point[0] !== 0x40) throw new PgpError('EdDSA key is not a native Ed25519 point');
        return { ...base, key: ed25519Key(point.subarray(1)), valueSize: 32 };
      }
      case ALG_ED25519:
        return { ...base, key: ed25519Key(r.bytes(32)), valueSize: 32 };
      default:
        return { ...base, valueSize: 0 };
    }
  } catch (err) {
    if (err instanceof PgpError) throw err;
    throw new PgpError(`invalid public key ${keyId}: ${(err as Error).message}`);
  }
}

function ed25519Key(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(raw) }, format: 'jwk' });
}

// ---------------------------------------------------------------------------------------------------------------
// Signatures

interface Signature {
  type: number;
  algorithm: number;
  hash: number;
  /** Version, type, algorithms and hashed subpackets: what the trailer covers. */
  hashedPart: Buffer;
  issuer?: string;
  keyFlags?: number;
  left16: Buffer;
  values: Buffer[];
}

function subpackets(data: Buffer, onto: { issuer?: string; keyFlags?: number }, hashed: boolean): void {
  const r = new Reader(data);
  while (r.left > 0) {
    const o1 = r.u8();
    const len = o1 < 192 ? o1 : o1 < 255 ? ((o1 - 192) << 8) + r.u8() + 192 : r.u32();
    if (len < 1) throw new PgpError('empty signature subpacket');
    const body = r.bytes(len);
    const type = body[0]! & 0x7f;
    const value = body.subarray(1);
    if (type === SUB_ISSUER && value.length === 8) onto.issuer ??= value.toString('hex').toUpperCase();
    else if (type === SUB_ISSUER_FPR && value[0] === 4 && value.length === 21) onto.issuer = value.subarray(13).toString('hex').toUpperCase();
    // Only hashed (signed) flags count: unhashed subpackets can be altered by anyone.
    else if (type === SUB_KEY_FLAGS && hashed && value.length > 0) onto.keyFlags = value[0];
  }
}

function parseSignature(body: Buffer): Signature {
  const r = new Reader(body);
  if (r.u8() !== 4) throw new PgpError('only version 4 signatures are supported');
  const type = r.u8();
  const algorithm = r.u8();
  const hash = r.u8();
  const meta: { issuer?: string; keyFlags?: number } = {};
  subpackets(r.bytes(r.u16()), meta, true);
  const hashedPart = body.subarray(0, r.pos);
  subpackets(r.bytes(r.u16()), meta, false);
  const left16 = r.bytes(2);
  let values: Buffer[];
  if (algorithm === ALG_RSA || algorithm === ALG_RSA_SIGN) values = [r.mpi()];
  else if (algorithm === ALG_DSA || algorithm === ALG_ECDSA || algorithm === ALG_EDDSA_LEGACY) values = [r.mpi(), r.mpi()];
  else if (algorithm === ALG_ED25519) values = [r.bytes(64)];
  else values = [];
  return { type, algorithm, hash, hashedPart, issuer: meta.issuer, keyFlags: meta.keyFlags, left16, values };
}

function trailer(sig: Pick<Signature, 'hashedPart'>): Buffer {
  return Buffer.concat([sig.hashedPart, Buffer.from([0x04, 0xff]), u32(sig.hashedPart.length)]);
}

/** Whether `sig` over `data` verifies with `key` (false also for a mismatched algorithm). */
function verifies(sig: Signature, key: PublicKey, data: Buffer): boolean {
  const hashName = HASHES[sig.hash];
  if (!hashName) throw new PgpError(`signature hash algorithm ${sig.hash} is not accepted (SHA-2 only)`);
  if (!key.key) throw new PgpError(`key ${key.keyId} uses public-key algorithm ${key.algorithm}, which is not supported`);
  const sameFamily = sig.algorithm === key.algorithm || (sig.algorithm === ALG_RSA && key.algorithm === ALG_RSA_SIGN) || (sig.algorithm === ALG_RSA_SIGN && key.algorithm === ALG_RSA);
  if (!sameFamily) return false;
  const input = Buffer.concat([data, trailer(sig)]);
  const digest = createHash(hashName).update(input).digest();
  if (!digest.subarray(0, 2).equals(sig.left16)) return false;
  try {
    switch (key.algorithm) {
      case ALG_RSA:
      case ALG_RSA_SIGN:
        return cryptoVerify(hashName, input, key.key, leftPad(sig.values[0]!, key.valueSize));
      case ALG_DSA:
      case ALG_ECDSA:
        return cryptoVerify(hashName, input, { key: key.key, dsaEncoding: 'ieee-p1363' }, Buffer.concat(sig.values.map((v) => leftPad(v, key.valueSize))));
      case ALG_EDDSA_LEGACY:
        // EdDSA in OpenPGP signs the digest, not the data.
        return cryptoVerify(null, digest, key.key, Buffer.concat(sig.values.map((v) => leftPad(v, 32))));
      case ALG_ED25519:
        return cryptoVerify(null, digest, key.key, sig.values[0]!);
      default:
        return false;
    }
  } catch (err) {
    if (err instanceof PgpError) throw err;
    return false;
  }
}

/**
 * The keys of armored key blocks that may sign data: each primary key, and each subkey whose binding signature by
 * its primary verifies and (when it says) allows signing.
 */
function signingKeys(armored: readonly string[]): PublicKey[] {
  const out: PublicKey[] = [];
  for (const text of armored) {
    let primary: PublicKey | undefined;
    let subkey: PublicKey | undefined;
    let subkeyBound = false;
    const flush = () => {
      if (subkey && subkeyBound) out.push(subkey);
      subkey = undefined;
      subkeyBound = false;
    };
    for (const p of readPackets(dearmor(text))) {
      if (p.tag === TAG_PUBLIC_KEY) {
        flush();
        primary = parsePublicKey(p.body);
        if (primary) out.push(primary);
      } else if (p.tag === TAG_PUBLIC_SUBKEY) {
        flush();
        subkey = primary ? parsePublicKey(p.body) : undefined;
      } else if (p.tag === TAG_SIGNATURE && subkey && !subkeyBound && primary?.key) {
        const sig = parseSignature(p.body);
        if (sig.type !== SIG_SUBKEY_BINDING || (sig.issuer !== undefined && sig.issuer !== primary.keyId) || !HASHES[sig.hash]) continue;
        if (sig.keyFlags !== undefined && (sig.keyFlags & FLAG_SIGN) === 0) continue;
        subkeyBound = verifies(sig, primary, Buffer.concat([keyHashPrefix(primary.body), keyHashPrefix(subkey.body)]));
      } else if (p.tag === TAG_USER_ID || p.tag === TAG_SIGNATURE) {
        flush();
      }
    }
    flush();
  }
  return out;
}

/** The key IDs (16 hex digits) of the primary keys in an armored block. */
export function primaryKeyIds(armored: string): string[] {
  return readPackets(dearmor(armored))
    .filter((p) => p.tag === TAG_PUBLIC_KEY)
    .map((p) => parsePublicKey(p.body)?.keyId)
    .filter((k): k is string => k !== undefined);
}

/** Check that `signature` parses as a binary detached signature; returns its issuer key ID. */
export function signatureIssuer(signature: Buffer): string {
  const first = readPackets(signature).find((p) => p.tag === TAG_SIGNATURE);
  if (!first) throw new PgpError('no signature packet');
  const sig = parseSignature(first.body);
  if (!sig.issuer) throw new PgpError('signature names no issuer key');
  return sig.issuer;
}

/**
 * Verify a binary detached signature of `document` against armored public keys. Returns the ID of the key that
 * signed; throws a PgpError when the signature is malformed, made by none of the keys, or does not verify.
 */
export function verifyDetached(document: Buffer, signature: Buffer, armoredKeys: readonly string[]): string {
  const first = readPackets(signature).find((p) => p.tag === TAG_SIGNATURE);
  if (!first) throw new PgpError('no signature packet');
  const sig = parseSignature(first.body);
  if (sig.type !== SIG_BINARY && sig.type !== SIG_TEXT) throw new PgpError(`signature type 0x${sig.type.toString(16)} is not a document signature`);
  if (!sig.issuer) throw new PgpError('signature names no issuer key');
  const candidates = signingKeys(armoredKeys).filter((k) => k.keyId === sig.issuer);
  if (candidates.length === 0) throw new PgpError(`signed by key ${sig.issuer}, which is not among the registry's signing keys`);
  const data = sig.type === SIG_TEXT ? Buffer.from(document.toString('utf8').replace(/\r?\n/g, '\r\n')) : document;
  if (!candidates.some((k) => verifies(sig, k, data))) throw new PgpError(`signature by key ${sig.issuer} does not verify`);
  return sig.issuer;
}

// ---------------------------------------------------------------------------------------------------------------
// Signing with a repository's RSA key

export interface PgpSigner {
  /** 16 upper-case hex digits, as the registry protocol's `key_id`. */
  keyId: string;
  armoredPublicKey: string;
  /** A binary detached signature of `document`, made at `created` (seconds since the epoch). */
  sign(document: Buffer, created: number): Buffer;
}

function subpacket(type: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([value.length + 1, type]), value]);
}

/**
 * An OpenPGP v4 identity for a repository's RSA signing key: the public key (created when the key was), one user ID
 * with a positive self-certification (certify and sign), and RSA/SHA-256 signatures. Everything is derived from the
 * stored key and given timestamps, so every replica produces the same bytes.
 */
export function rsaSigner(key: SigningKey, userId: string): PgpSigner {
  const jwk = createPublicKey(key.publicKeyPem).export({ format: 'jwk' });
  if (jwk.kty !== 'RSA' || !jwk.n || !jwk.e) throw new Error('signing key is not an RSA key');
  const created = Math.floor(Date.parse(key.createdAt) / 1000);
  const keyBody = Buffer.concat([Buffer.from([4]), u32(created), Buffer.from([ALG_RSA]), mpi(Buffer.from(jwk.n, 'base64url')), mpi(Buffer.from(jwk.e, 'base64url'))]);
  const fingerprint = createHash('sha1').update(keyHashPrefix(keyBody)).digest();
  const keyIdBytes = fingerprint.subarray(12);
  const privateKey = createPrivateKey(key.privateKeyPem);

  const signature = (type: number, hashedSubs: Buffer[], data: Buffer): Buffer => {
    const hashed = Buffer.concat(hashedSubs);
    const hashedLen = Buffer.alloc(2);
    hashedLen.writeUInt16BE(hashed.length, 0);
    const hashedPart = Buffer.concat([Buffer.from([4, type, ALG_RSA, HASH_SHA256]), hashedLen, hashed]);
    const input = Buffer.concat([data, trailer({ hashedPart })]);
    const unhashed = subpacket(SUB_ISSUER, keyIdBytes);
    const unhashedLen = Buffer.alloc(2);
    unhashedLen.writeUInt16BE(unhashed.length, 0);
    const left16 = createHash('sha256').update(input).digest().subarray(0, 2);
    const value = cryptoSign('sha256', input, privateKey);
    return packet(TAG_SIGNATURE, Buffer.concat([hashedPart, unhashedLen, unhashed, left16, mpi(value)]));
  };
  const issuerFpr = subpacket(SUB_ISSUER_FPR, Buffer.concat([Buffer.from([4]), fingerprint]));

  const uid = Buffer.from(userId, 'utf8');
  const uidPrefix = Buffer.concat([Buffer.from([0xb4]), u32(uid.length), uid]);
  const selfSig = signature(
    SIG_POSITIVE_CERT,
    [subpacket(SUB_CREATED, u32(created)), subpacket(SUB_KEY_FLAGS, Buffer.from([FLAG_CERTIFY | FLAG_SIGN])), issuerFpr],
    Buffer.concat([keyHashPrefix(keyBody), uidPrefix]),
  );
  const publicKey = Buffer.concat([packet(TAG_PUBLIC_KEY, keyBody), packet(TAG_USER_ID, uid), selfSig]);

  return {
    keyId: keyIdBytes.toString('hex').toUpperCase(),
    armoredPublicKey: armor('PUBLIC KEY BLOCK', publicKey),
    // A signature made before its key would be refused by go-crypto: never earlier than the key.
    sign: (document, at) => signature(SIG_BINARY, [subpacket(SUB_CREATED, u32(Math.max(at, created))), issuerFpr], document),
  };
}
