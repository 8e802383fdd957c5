import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { badRequest } from '../../errors.js';
import { memberName, stagedSource, tarEntries } from '../shared/archive.js';
import type { StagedBlob } from '../types.js';
import type { IndexRecord } from './apkindex.js';
import { gzipMemberAt } from './gzip-members.js';
import { parsePkgInfo, type PkgInfo } from './pkginfo.js';

/** Signature and control members are small; anything beyond this prefix is package data. */
const HEAD_BYTES = 8 * 1024 * 1024;
const MAX_CONTROL_BYTES = 16 * 1024 * 1024;
const MAX_PKGINFO = 1024 * 1024;

const invalid = (message: string) => badRequest('APK_INVALID', message);

export interface InspectedApk {
  pkginfo: PkgInfo;
  /** The APKINDEX record this package contributes (C: from its control member, S: its size). */
  record: IndexRecord;
  /** `.SIGN.RSA.{keyfile}` when the package carries a signature (not verified: the signer's key is not known here). */
  signedBy?: string;
}

async function tarNames(tar: Buffer, want: string): Promise<{ names: string[]; body?: Buffer }> {
  const names: string[] = [];
  let body: Buffer | undefined;
  for await (const e of tarEntries(Readable.from([tar]), { gzip: false, maxEntries: 1000 })) {
    const n = memberName(e.name);
    names.push(n);
    if (n === want && e.type === 'file') body = await e.read(MAX_PKGINFO);
  }
  return { names, body };
}

async function sha256Range(blob: StagedBlob, start: number): Promise<string> {
  const h = createHash('sha256');
  for await (const c of await blob.open({ start, end: blob.size - 1 })) h.update(c as Buffer);
  return h.digest('hex');
}

/**
 * An apk is gzip members: an optional signature tar, the control tar (`.PKGINFO`, install scripts), the data tar.
 * Reads the control member, computes the index checksum (SHA-1 of that member's compressed bytes) and checks the
 * data member against `.PKGINFO`'s datahash when abuild wrote one.
 */
export async function inspectApk(blob: StagedBlob): Promise<InspectedApk> {
  const head = await stagedSource(blob).read(0, Math.min(blob.size, HEAD_BYTES));
  const member = (at: number) => {
    try {
      return gzipMemberAt(head, at, MAX_CONTROL_BYTES);
    } catch (err) {
      if (head.length < blob.size) throw invalid(`signature and control segments must fit in the first ${HEAD_BYTES} bytes: ${(err as Error).message}`);
      throw err;
    }
  };
  let control = member(0);
  let scan = await tarNames(control.data, '.PKGINFO');
  let signedBy: string | undefined;
  if (scan.names.length > 0 && scan.names.every((n) => n.startsWith('.SIGN.'))) {
    signedBy = scan.names[0];
    if (control.end >= head.length) throw invalid('package has a signature but no control segment');
    control = member(control.end);
    scan = await tarNames(control.data, '.PKGINFO');
  }
  if (!scan.body) throw invalid('no .PKGINFO in the control segment');
  const info = parsePkgInfo(scan.body.toString('utf8'));
  if (control.end >= blob.size) throw invalid('package has no data segment');
  if (info.datahash) {
    const actual = await sha256Range(blob, control.end);
    if (actual !== info.datahash) throw invalid(`data segment SHA-256 ${actual} does not match .PKGINFO datahash ${info.datahash}`);
  }
  const checksum = `Q1${createHash('sha1').update(head.subarray(control.start, control.end)).digest('base64')}`;
  const record: IndexRecord = {
    C: checksum,
    P: info.pkgname,
    V: info.pkgver,
    A: info.arch,
    S: String(blob.size),
    I: info.size,
    T: info.pkgdesc,
    U: info.url,
    L: info.license,
    o: info.origin,
    m: info.maintainer,
    t: info.builddate,
    c: info.commit,
    k: info.provider_priority,
    D: info.depend.join(' ') || undefined,
    p: info.provides.join(' ') || undefined,
    i: info.install_if.join(' ') || undefined,
  };
  for (const k of Object.keys(record) as (keyof IndexRecord)[]) if (record[k] === undefined) delete record[k];
  return { pkginfo: info, record, signedBy };
}
