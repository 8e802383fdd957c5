import { createHash } from 'node:crypto';
import { badRequest } from '../../errors.js';
import { memberName, readZipEntry, stagedSource, tarEntries, zipEntries } from '../shared/archive.js';
import type { StagedBlob } from '../types.js';
import type { DistFile } from './names.js';

/** Largest METADATA / PKG-INFO read (long descriptions live there). */
const MAX_METADATA = 4 * 1024 * 1024;

export interface CoreMetadata {
  name: string;
  version: string;
  requiresPython?: string;
  summary?: string;
  /** The METADATA file itself (wheels only: PEP 658 serves it). */
  text: string;
  sha256: string;
}

/** RFC 822-style headers of METADATA / PKG-INFO, first value of each field. */
export function parseHeaders(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let last: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line === '') break;
    if (/^[ \t]/.test(line) && last) {
      out.set(last, `${out.get(last)}\n${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    last = key;
    if (!out.has(key)) out.set(key, line.slice(colon + 1).trim());
  }
  return out;
}

function fromText(text: Buffer, where: string): CoreMetadata {
  const s = text.toString('utf8');
  const h = parseHeaders(s);
  const name = h.get('name');
  const version = h.get('version');
  if (!name || !version) throw badRequest('METADATA_INVALID', `${where} has no Name or Version`);
  return { name, version, requiresPython: h.get('requires-python'), summary: h.get('summary'), text: s, sha256: createHash('sha256').update(text).digest('hex') };
}

/** The core metadata inside a distribution: `*.dist-info/METADATA` of a wheel, top-level `PKG-INFO` of an sdist. */
export async function readCoreMetadata(dist: DistFile, blob: StagedBlob): Promise<CoreMetadata> {
  const missing = (what: string) => badRequest('METADATA_MISSING', `${dist.filename} has no ${what}`);
  if (dist.filename.endsWith('.whl') || dist.filename.endsWith('.zip')) {
    const src = stagedSource(blob);
    const entries = await zipEntries(src);
    const want = dist.kind === 'bdist_wheel' ? /^[^/]+\.dist-info\/METADATA$/ : /^[^/]+\/PKG-INFO$/;
    const found = entries.filter((e) => want.test(memberName(e.name)));
    if (found.length !== 1) throw missing(dist.kind === 'bdist_wheel' ? 'single *.dist-info/METADATA' : 'top-level PKG-INFO');
    return fromText(await readZipEntry(src, found[0]!, MAX_METADATA), found[0]!.name);
  }
  for await (const e of tarEntries(await blob.open(), { gzip: true, maxEntries: 100_000 })) {
    const name = memberName(e.name);
    if (e.type === 'file' && /^[^/]+\/PKG-INFO$/.test(name)) return fromText(await e.read(MAX_METADATA), name);
  }
  throw missing('top-level PKG-INFO');
}
