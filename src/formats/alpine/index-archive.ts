import { createHash, sign } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { badRequest } from '../../errors.js';
import { memberName, tarEntries } from '../shared/archive.js';
import type { SigningKey } from '../types.js';
import { parseIndex, renderIndex, type IndexRecord } from './apkindex.js';
import { gzipMemberAt } from './gzip-members.js';
import { writeTar } from './tar-writer.js';

const MAX_INDEX_BYTES = 256 * 1024 * 1024;
const MAX_SIGNATURE_BYTES = 64 * 1024;

/** The file name users store the public key under in /etc/apk/keys (apk finds it by the signature's name). */
export function keyFileName(repoName: string, key: SigningKey): string {
  const der = Buffer.from(key.publicKeyPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  return `${repoName}-${createHash('sha256').update(der).digest('hex').slice(0, 8)}.rsa.pub`;
}

/**
 * APKINDEX.tar.gz as abuild-sign leaves it: a gzip member holding a tar entry `.SIGN.RSA.{keyfile}` (no
 * end-of-archive blocks, so apk reads on into the next member) with the RSA PKCS#1 v1.5 SHA-1 signature over the
 * exact bytes of the second gzip member, which holds DESCRIPTION and APKINDEX.
 */
export function buildSignedIndex(opts: { records: IndexRecord[]; description: string; mtime: number; key: SigningKey; keyFile: string }): Buffer {
  const content = gzipSync(
    writeTar(
      [
        { name: 'DESCRIPTION', body: Buffer.from(opts.description, 'utf8'), mtime: opts.mtime },
        { name: 'APKINDEX', body: renderIndex(opts.records), mtime: opts.mtime },
      ],
      true,
    ),
    { level: 9 },
  );
  const signature = sign('sha1', content, opts.key.privateKeyPem);
  const sigTar = writeTar([{ name: `.SIGN.RSA.${opts.keyFile}`, body: signature, mtime: opts.mtime }], false);
  return Buffer.concat([gzipSync(sigTar, { level: 9 }), content]);
}

export interface ParsedIndexArchive {
  records: IndexRecord[];
  description?: string;
  /** The signature entry's name (`.SIGN.RSA.{keyfile}`), when signed. */
  signedBy?: string;
}

async function tarFiles(tar: Buffer, max: number): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for await (const e of tarEntries(Readable.from([tar]), { gzip: false, maxEntries: 100 })) {
    if (e.type === 'file') out.set(memberName(e.name), await e.read(max));
  }
  return out;
}

/** Read an APKINDEX.tar.gz (signed or not): its records, description and signer. */
export async function parseIndexArchive(buf: Buffer): Promise<ParsedIndexArchive> {
  const first = gzipMemberAt(buf, 0, MAX_INDEX_BYTES);
  let signedBy: string | undefined;
  let content = first.data;
  const firstFiles = await tarFiles(first.data, MAX_INDEX_BYTES);
  const sig = [...firstFiles.keys()].find((n) => n.startsWith('.SIGN.'));
  let files = firstFiles;
  if (sig) {
    if (firstFiles.get(sig)!.length > MAX_SIGNATURE_BYTES) throw badRequest('INDEX_INVALID', 'APKINDEX signature too large');
    signedBy = sig;
    try {
      content = gunzipSync(buf.subarray(first.end), { maxOutputLength: MAX_INDEX_BYTES });
    } catch (err) {
      throw badRequest('INDEX_INVALID', `APKINDEX content does not inflate: ${(err as Error).message}`);
    }
    files = await tarFiles(content, MAX_INDEX_BYTES);
  }
  const index = files.get('APKINDEX');
  if (!index) throw badRequest('INDEX_INVALID', 'APKINDEX.tar.gz has no APKINDEX entry');
  return { records: parseIndex(index.toString('utf8')), description: files.get('DESCRIPTION')?.toString('utf8'), signedBy };
}
